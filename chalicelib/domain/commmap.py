"""The communication map: every chain drawn as a flow of steps, waits, branches, channels and exits."""

from dataclasses import dataclass

from chalicelib.domain.durations import format_duration
from chalicelib.domain.model import BranchStep, Chain, ExitStep, HookStep, SendStep, Strategy, WaitStep


@dataclass(frozen=True)
class _Node:
    id: str
    label: str
    shape: str  # start, step, wait, branch, end


@dataclass(frozen=True)
class _Edge:
    source: str
    target: str
    label: str = ""


def _graph(chain: Chain, strategy: Strategy) -> tuple[list[_Node], list[_Edge]]:
    prefix = chain.id.replace("-", "_")
    end = f"{prefix}_end"

    def node_id(index: int) -> str:
        return end if index >= len(chain.steps) else f"{prefix}_{index}"

    starts = " / ".join(_trigger_label(t.event, [f"{w.property} {w.op} {w.value}" for w in t.when])
                        for t in chain.start)
    nodes = [_Node(f"{prefix}_start", f"{chain.title}\\nstarts on {starts}", "start")]
    edges = [_Edge(f"{prefix}_start", node_id(0))]
    for index, step in enumerate(chain.steps):
        here, following = node_id(index), node_id(index + 1)
        if isinstance(step, WaitStep):
            nodes.append(_Node(here, f"wait {format_duration(step.wait)}", "wait"))
            edges.append(_Edge(here, following))
        elif isinstance(step, SendStep):
            occasion = strategy.occasions[step.occasion]
            variants = occasion.variants("email")
            ab = f"\\nA/B: {', '.join(variants)}" if variants else ""
            sms = _SMS_NOTE[step.sms]
            nodes.append(_Node(here, f"send {occasion.id}\\n{' > '.join(step.channels)}{sms}{ab}", "step"))
            edges.append(_Edge(here, following))
        elif isinstance(step, BranchStep):
            within = f" within {format_duration(step.within)}" if step.within else ""
            nodes.append(_Node(here, f"{step.condition.describe()}?{within}", "branch"))
            edges.append(_Edge(here, node_id(step.then), "yes"))
            edges.append(_Edge(here, node_id(step.otherwise), "no"))
        elif isinstance(step, ExitStep):
            label = f"exit if {step.condition.describe()}" if step.condition else "exit"
            nodes.append(_Node(here, label, "branch" if step.condition else "end"))
            if step.condition:
                edges.append(_Edge(here, end, "yes"))
                edges.append(_Edge(here, following, "no"))
        elif isinstance(step, HookStep):
            span = f" for {format_duration(step.duration)}" if step.duration else ""
            nodes.append(_Node(here, f"hook {step.hook}{span}", "step"))
            edges.append(_Edge(here, following))
    goals = f"\\nexits on {', '.join(sorted(chain.exit_on))}" if chain.exit_on else ""
    nodes.append(_Node(end, f"end{goals}", "end"))
    return nodes, edges


def _trigger_label(event: str, tests: list[str]) -> str:
    return f"{event} ({', '.join(tests)})" if tests else event


_SMS_NOTE = {"never": "", "allowed": "\\nSMS allowed", "on_no_reaction": "\\nSMS if no reaction"}
_MERMAID_SHAPES = {"start": '(["{}"])', "step": '["{}"]', "wait": '[/"{}"/]', "branch": '{{"{}"}}',
                   "end": '(("{}"))'}


def to_mermaid(strategy: Strategy) -> str:
    lines = ["flowchart TD"]
    for chain in strategy.chains.values():
        nodes, edges = _graph(chain, strategy)
        lines.append(f'  subgraph {chain.id.replace("-", "_")}_chain["{_mermaid_text(chain.id)}"]')
        for node in nodes:
            lines.append(f"    {node.id}" + _MERMAID_SHAPES[node.shape].format(_mermaid_text(node.label)))
        for edge in edges:
            arrow = f" -->|{edge.label}| " if edge.label else " --> "
            lines.append(f"    {edge.source}{arrow}{edge.target}")
        lines.append("  end")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("\\n", "<br/>")


_DOT_SHAPES = {"start": "oval", "step": "box", "wait": "parallelogram", "branch": "diamond",
               "end": "doublecircle"}


def to_dot(strategy: Strategy) -> str:
    lines = ["digraph strategy {", "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=10];']
    for chain in strategy.chains.values():
        nodes, edges = _graph(chain, strategy)
        lines.append(f'  subgraph "cluster_{chain.id}" {{')
        lines.append(f'    label="{_dot_text(chain.id)}";')
        for node in nodes:
            lines.append(f'    {node.id} [shape={_DOT_SHAPES[node.shape]}, label="{_dot_text(node.label)}"];')
        for edge in edges:
            label = f' [label="{_dot_text(edge.label)}"]' if edge.label else ""
            lines.append(f"    {edge.source} -> {edge.target}{label};")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\n", "\n").replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
