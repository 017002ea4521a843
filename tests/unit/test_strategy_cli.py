"""`touchplan strategy check|map`: exit codes, every error on stderr, no tracebacks."""

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
