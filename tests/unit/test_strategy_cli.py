"""`touchplan strategy check|map`: exit codes, every error on stderr, no tracebacks."""

import json
from pathlib import Path

import pytest
import yaml

from chalicelib.strategy.loader import DEFAULT_PATH
from cli import strategy as strategy_cli
from cli.main import build_parser


def run(*argv: str) -> int:
    args = build_parser().parse_args(["strategy", *argv])
    code: int = args.func(args)
    return code


def broken_copy(tmp_path: Path) -> Path:
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    data["chains"]["welcome"]["steps"][1]["wait"] = "two days"
    data["channels"]["sms"]["cost"] = "cheap"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_check_of_the_shipped_strategy_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("check") == 0
    assert "valid (13 chains" in capsys.readouterr().out


def test_check_lists_every_error_one_per_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("check", "--strategy", str(broken_copy(tmp_path))) == 1
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith('chains.welcome.steps[1].wait: expected a duration like "2d"') for line in err)
    assert any(line.startswith("channels.sms.cost: expected a number") for line in err)
    assert "Traceback" not in "\n".join(err)


@pytest.mark.parametrize("content", [b"version: [1\n", b"\xff\xfe\x00bad", b"- just\n- a list\n", b""])
def test_check_never_shows_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    assert run("check", "--strategy", str(path)) == 1
    err = capsys.readouterr().err
    assert err and "Traceback" not in err


def test_check_of_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("check", "--strategy", str(tmp_path / "nope.yaml")) == 1
    assert "cannot read the file" in capsys.readouterr().err


def test_map_prints_mermaid_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("map") == 0
    assert capsys.readouterr().out.startswith("flowchart TD")


def test_map_writes_dot_by_suffix(tmp_path: Path) -> None:
    out = tmp_path / "map.dot"
    assert run("map", "--out", str(out)) == 0
    assert out.read_text(encoding="utf-8").startswith("digraph strategy {")


def test_map_png_without_graphviz_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(strategy_cli.shutil, "which", lambda name: None)
    assert run("map", "--out", str(tmp_path / "map.png")) == 2
    assert "Graphviz" in capsys.readouterr().err


def test_map_of_a_broken_strategy_fails_with_its_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("map", "--strategy", str(broken_copy(tmp_path))) == 1
    assert "chains.welcome.steps[1].wait" in capsys.readouterr().err


def test_cost_prints_the_summarys_estimate_per_chain_and_channel_with_the_price_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.cost import PRICES_AS_OF, Usage, estimate

    cost = estimate(Usage(lambda_requests=100, dynamodb_write_units=500, ses_emails=2),
                    [("welcome", "email"), ("doi", "email"), ("welcome", "sms")], {"email": 0.1, "sms": 3.5}, "RUB")
    (tmp_path / "summary.json").write_text(json.dumps({"cost": cost}))

    assert run("cost", "--summary", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert f"as of {PRICES_AS_OF.isoformat()}" in out and "fees RUB" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert lines["welcome"][:3] == ["welcome", "2", "3.60"] and lines["sms"][:3] == ["sms", "1", "3.50"]
    assert lines["total"][1:3] == ["3", "3.70"]
    assert run("cost", "--summary", str(tmp_path / "summary.json")) == 0


def test_cost_of_a_summary_without_an_estimate_or_no_file_says_so(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"messages": {}}))

    assert run("cost", "--summary", str(tmp_path)) == 1
    assert "no cost estimate" in capsys.readouterr().err
    assert run("cost", "--summary", str(tmp_path / "nothing")) == 1
    assert "cannot read" in capsys.readouterr().err
