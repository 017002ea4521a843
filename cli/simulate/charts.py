"""report.html: a run's charts as PNG files beside one self-contained HTML page (matplotlib's Agg backend, no
JavaScript). Every chart is drawn from summary.json, outbox.jsonl, base.jsonl and the strategy alone."""

from __future__ import annotations

import html
import shutil
import subprocess
import textwrap
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from chalicelib.domain.commmap import _graph, to_dot
from chalicelib.domain.durations import format_duration
from chalicelib.domain.model import Strategy

WEEK = timedelta(days=7)
CHARTS = ("messages_per_week", "deferrals_and_skips", "chain_funnels", "sends_by_local_hour", "segments",
          "cost", "communication_map")
TITLES = {
    "messages_per_week": "Messages per contact per week, against the caps",
    "deferrals_and_skips": "Deferrals and skips by reason",
    "chain_funnels": "Each chain's funnel, step by step",
    "sends_by_local_hour": "Sends per hour of the recipient's local time, per channel",
    "segments": "Lifecycle segments over time",
    "cost": "Cost per chain and per channel",
    "communication_map": "The communication map",
}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _empty(ax: Axes, text: str = "nothing to show in this run") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def messages_per_week(summary: dict[str, Any], outbox: list[dict[str, Any]], base: list[dict[str, Any]],
                      strategy: Strategy) -> Figure:
    start = min((_at(m["at"]) for m in outbox), default=None)
    weeks: Counter[tuple[str, int]] = Counter()
    for message in outbox:
        if message["category"] != "doi" and message["contact_id"] and start is not None:
            weeks[(message["contact_id"], (_at(message["at"]) - start) // WEEK)] += 1
    spread = Counter(weeks.values())
    fig, ax = plt.subplots(figsize=(8, 4))
    if not spread:
        _empty(ax)
        return fig
    counts = sorted(spread)
    ax.bar(counts, [spread[c] for c in counts], color="#4c72b0")
    styles = ("--", ":", "-.")
    for i, cap in enumerate(strategy.caps):
        ax.axvline(cap.max * WEEK / cap.per, linestyle=styles[i % len(styles)], color=f"C{i + 1}",
                   label=f"{cap.id}: {cap.max} per {format_duration(cap.per)} ({', '.join(sorted(cap.channels))})")
    if strategy.caps:
        ax.legend(title="caps, as messages a week", fontsize=7, title_fontsize=8)
    ax.set_xlabel("messages to one contact in one week (DOI excluded)")
    ax.set_ylabel("contact-weeks")
    return fig


def deferrals_and_skips(summary: dict[str, Any], *_: Any) -> Figure:
    rows = [(f"{decision}: {reason}", n) for decision in ("defer", "skip")
            for reason, n in summary.get("decisions", {}).get(decision, {}).items()]
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.35 * len(rows) + 1)))
    if not rows:
        _empty(ax, "no deferral and no skip in this run")
        return fig
    rows.sort(key=lambda r: r[1])
    ax.barh([r[0] for r in rows], [r[1] for r in rows],
            color=["#dd8452" if r[0].startswith("defer") else "#8172b3" for r in rows])
    ax.set_xlabel("touches")
    return fig


def chain_funnels(summary: dict[str, Any], *_: Any) -> Figure:
    funnels = {c: steps for c, steps in summary.get("chain_funnels", {}).items() if steps}
    fig, axes = plt.subplots(max(1, len(funnels)), 1, figsize=(8, 2.6 * max(1, len(funnels))), squeeze=False)
    if not funnels:
        _empty(axes[0][0])
        return fig
    stages = ("sent", "delivered", "opened", "clicked")
    for ax, (chain, steps) in zip(axes[:, 0], sorted(funnels.items()), strict=True):
        names = sorted(steps, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
        width = 0.8 / len(stages)
        for i, stage in enumerate(stages):
            ax.bar([x + i * width for x in range(len(names))], [steps[n].get(stage, 0) for n in names], width,
                   label=stage)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(names))], [f"step {n}" for n in names])
        ax.set_title(chain, fontsize=10)
        ax.set_ylabel("touches")
    axes[0][0].legend(fontsize=8)
    return fig


def sends_by_local_hour(summary: dict[str, Any], outbox: list[dict[str, Any]], base: list[dict[str, Any]],
                        *_: Any) -> Figure:
    zones = {row["contact_id"]: row["timezone"] for row in base}
    hours: dict[str, Counter[int]] = defaultdict(Counter)
    for message in outbox:
        zone = zones.get(message["contact_id"])
        if zone:
            hours[message["channel"]][_at(message["at"]).astimezone(ZoneInfo(zone)).hour] += 1
    fig, ax = plt.subplots(figsize=(8, 3.5))
    if not hours:
        _empty(ax)
        return fig
    for channel, counts in sorted(hours.items()):
        ax.plot(range(24), [counts[h] for h in range(24)], marker="o", label=channel)
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlabel("local hour")
    ax.set_ylabel("messages")
    ax.legend(fontsize=8)
    return fig


def segments(summary: dict[str, Any], *_: Any) -> Figure:
    days = summary.get("segments", [])
    fig, ax = plt.subplots(figsize=(8, 3.5))
    names = sorted({k for day in days for k in day if k != "day"})
    if not days or not names:
        _empty(ax)
        return fig
    ax.stackplot(range(len(days)), *[[day.get(n, 0) for day in days] for n in names], labels=names)
    step = max(1, len(days) // 10)
    ax.set_xticks(range(0, len(days), step), [days[i]["day"][5:] for i in range(0, len(days), step)])
    ax.set_ylabel("contacts")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def cost(summary: dict[str, Any], *_: Any) -> Figure:
    found = summary.get("cost") or {}
    fig, axes = plt.subplots(2, 2, figsize=(10, 6), squeeze=False)
    for row, key in enumerate(("by_chain", "by_channel")):
        groups = found.get(key, {})
        names = sorted(groups)
        for col, (field, unit) in enumerate((("channel_fees", found.get("currency", "")), ("aws_usd", "USD"))):
            ax = axes[row][col]
            if not names:
                _empty(ax)
                continue
            ax.bar(names, [groups[n][field] for n in names], color="#55a868" if col else "#4c72b0")
            ax.set_title(f"{'channel fees' if col == 0 else 'AWS'} {key.replace('_', ' ')} ({unit})", fontsize=9)
            ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    return fig


def communication_map(summary: dict[str, Any], outbox: Any, base: Any, strategy: Strategy) -> Figure:
    """The chains as `touchplan strategy map` draws them, laid out by matplotlib (one column per chain)."""
    chains = sorted(strategy.chains.values(), key=lambda c: c.id)
    graphs = [_graph(chain, strategy) for chain in chains]
    tallest = max((len(nodes) for nodes, _ in graphs), default=1)
    fig, ax = plt.subplots(figsize=(max(6, 2.6 * len(chains)), max(3, 0.9 * tallest)))
    ax.set_axis_off()
    if not chains:
        _empty(ax, "the strategy has no chain")
        return fig
    colours = {"start": "#dbe9f6", "step": "#e3f1df", "wait": "#f6f0d8", "branch": "#f6e0d8", "end": "#e6e6e6"}
    for column, (nodes, edges) in enumerate(graphs):
        place = {node.id: (column, -row) for row, node in enumerate(nodes)}
        for node in nodes:
            x, y = place[node.id]
            label = "\n".join(textwrap.fill(line, 26) for line in node.label.split("\\n"))
            ax.text(x, y, label, ha="center", va="center", fontsize=6.5,
                    bbox={"boxstyle": "round", "facecolor": colours.get(node.shape, "white"), "edgecolor": "grey"})
        for edge in edges:
            if edge.source in place and edge.target in place:
                (x1, y1), (x2, y2) = place[edge.source], place[edge.target]
                bend = 0.0 if y1 - y2 == 1 else 0.35
                ax.annotate("", (x2, y2 + 0.25), (x1, y1 - 0.25),
                            arrowprops={"arrowstyle": "->", "color": "grey",
                                        "connectionstyle": f"arc3,rad={bend}"})
                if edge.label:
                    ax.text((x1 + x2) / 2 + 0.08, (y1 + y2) / 2, edge.label, fontsize=6, color="#c44e52")
    ax.set_xlim(-0.7, len(chains) - 0.3)
    ax.set_ylim(-tallest, 0.7)
    return fig


DRAW: dict[str, Callable[..., Figure]] = {
    "messages_per_week": messages_per_week, "deferrals_and_skips": deferrals_and_skips,
    "chain_funnels": chain_funnels, "sends_by_local_hour": sends_by_local_hour, "segments": segments,
    "cost": cost, "communication_map": communication_map,
}


def _map_with_graphviz(path: Path, strategy: Strategy) -> bool:
    """The map as `touchplan strategy map --format png` draws it, where Graphviz is installed."""
    dot = shutil.which("dot")
    if dot is None:
        return False
    done = subprocess.run([dot, "-Tpng", "-o", str(path)], input=to_dot(strategy).encode(), capture_output=True,
                          check=False)
    return done.returncode == 0


def write_report(out: Path, summary: dict[str, Any], outbox: list[dict[str, Any]], base: list[dict[str, Any]],
                 strategy: Strategy) -> Path:
    """Writes DIR/charts/*.png and DIR/report.html; returns the page's path."""
    charts = out / "charts"
    charts.mkdir(parents=True, exist_ok=True)
    for name in CHARTS:
        path = charts / f"{name}.png"
        if name == "communication_map" and _map_with_graphviz(path, strategy):
            continue
        figure = DRAW[name](summary, outbox, base, strategy)
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)
    page = out / "report.html"
    page.write_text(_page(summary), encoding="utf-8")
    return page


def _cost_table(found: dict[str, Any]) -> str:
    if not found:
        return ""
    currency = html.escape(found.get("currency", ""))
    rows = "".join(
        f"<tr><td>{html.escape(kind)}</td><td>{html.escape(name)}</td><td>{g['messages']}</td>"
        f"<td>{g['channel_fees']:.2f}</td><td>{g['aws_usd']:.6f}</td>"
        f"<td>{g['per_1000_messages']['channel_fees']:.2f}</td><td>{g['per_1000_messages']['aws_usd']:.4f}</td></tr>"
        for kind in ("chain", "channel") for name, g in found.get(f"by_{kind}", {}).items()
    )
    return (f"<table><tr><th></th><th></th><th>messages</th><th>channel fees ({currency})</th><th>AWS (USD)</th>"
            f"<th>fees per 1,000</th><th>AWS per 1,000</th></tr>{rows}</table>"
            f"<p>AWS list prices as of {html.escape(found['prices_as_of'])} ({html.escape(found['price_region'])});"
            f" {html.escape(found['allocation'])}.</p>")


def _page(summary: dict[str, Any]) -> str:
    funnel = summary.get("funnel", {})
    facts = (f"{summary.get('contacts')} contacts, {summary.get('days')} days, seed {summary.get('seed')}, "
             f"store {summary.get('store')}: {summary.get('messages', {}).get('total', 0)} messages, "
             f"{funnel.get('confirmed', 0)} of {funnel.get('signed_up', 0)} confirmed")
    sections = "".join(
        f'<section><h2>{html.escape(TITLES[name])}</h2><img src="charts/{name}.png" alt="{html.escape(TITLES[name])}">'
        f"{_cost_table(summary.get('cost') or {}) if name == 'cost' else ''}</section>"
        for name in CHARTS
    )
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>touchplan simulation</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
            "img{max-width:100%}table{border-collapse:collapse;font-size:90%}"
            "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style></head><body>"
            f"<h1>touchplan simulation</h1><p>{html.escape(facts)}</p>{sections}</body></html>\n")
