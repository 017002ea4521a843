"""What `touchplan simulate` adds to its outbox: the AWS requests it counted, checked against the stage's IAM
policy, the cost in summary.json, and report.html with every chart. Small runs on the memory store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from cli.simulate.charts import CHARTS
from cli.simulate.policy import policy_for

SIZE = ["--contacts", "10", "--days", "3", "--step-minutes", "60", "--seed", "5", "--store", "memory"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert main(["simulate", *SIZE, "--out", str(out)]) == 0  # the shipped prod policy covers the run
    return out


def test_the_summary_prices_the_counted_requests_per_chain_channel_and_thousand_messages(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    cost, aws = summary["cost"], summary["aws"]

    assert aws["requests"]["dynamodb"]["Query"] > 0 and aws["requests"]["ses"]["SendEmail"]
    assert "Scan" not in aws["requests"]["dynamodb"]
    assert {"on_step", "tick", "api_handler"} <= set(aws["lambda"]) and aws["lambda"]["on_step"]["memory_mb"] == 512
    assert cost["messages"] == summary["messages"]["total"] and cost["currency"] == "RUB"
    assert cost["usage"]["dynamodb_write_units"] > 0 and cost["usage"]["lambda_gb_seconds"] > 0
    assert set(cost["by_channel"]) == set(summary["messages"]["by_channel"])
    assert set(cost["by_chain"]) == set(summary["messages"]["by_chain"])
    assert sum(c["messages"] for c in cost["by_chain"].values()) == cost["messages"]
    assert cost["by_channel"]["email"]["per_1000_messages"]["channel_fees"] == pytest.approx(100.0)
    assert 0 < cost["per_1000_messages"]["aws_usd_without_ses"] < cost["per_1000_messages"]["aws_usd"]
    assert len(summary["segments"]) == 3 and cost["prices_as_of"]


def test_report_html_shows_every_chart_beside_it(run_dir: Path) -> None:
    page = (run_dir / "report.html").read_text()

    for name in CHARTS:
        png = run_dir / "charts" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="charts/{name}.png"' in page
    assert "<script" not in page and "prices as of" in page


def test_strategy_cost_prints_the_runs_estimate(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["strategy", "cost", "--summary", str(run_dir)]) == 0
    assert "welcome" in capsys.readouterr().out


def test_a_call_the_policy_does_not_allow_fails_the_run_naming_action_and_resource(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = json.loads(policy_for("prod")[0].read_text())
    for statement in policy["Statement"]:
        if statement["Sid"] == "Tables":
            statement["Action"].remove("dynamodb:Query")
    narrow = tmp_path / "policy-narrow.json"
    narrow.write_text(json.dumps(policy))

    assert main(["simulate", *SIZE, "--policy", str(narrow), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "policy-narrow.json does not allow dynamodb:Query on arn:aws:dynamodb:" in err
    assert "table/prod-enrollments/index/due-index" in err
