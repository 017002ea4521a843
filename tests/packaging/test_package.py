"""Builds the real deployment package with `chalice package` and imports every handler from it.

The import runs in a fresh interpreter whose path holds only the unzipped package (no repo root, no dev
virtualenv): a handler outside app.py/chalicelib/vendor, or a runtime dependency missing from
requirements.txt, fails here instead of in Lambda.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHPLAN_")}
    chalice = Path(sys.executable).parent / "chalice"
    result = subprocess.run(
        [str(chalice), "package", "--stage", "dev", str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def handler_modules(sam: dict) -> set[str]:
    handlers = {
        resource["Properties"]["Handler"]
        for resource in sam["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    return {handler.rpartition(".")[0] for handler in handlers}


def test_every_handler_imports_from_the_unzipped_package_alone(package: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(package / "deployment.zip") as archive:
        archive.extractall(tmp_path / "lambda")
    sam = json.loads((package / "sam.json").read_text())
    shipped = {f"functions.{p.stem}" for p in (tmp_path / "lambda" / "functions").glob("*.py") if p.stem != "__init__"}
    expected = {f"functions.{p.stem}" for p in (ROOT / "functions").glob("*.py") if p.stem != "__init__"}
    assert shipped == expected, "functions/ must reach the zip through the vendor/functions link"
    assert handler_modules(sam) <= shipped | {"app"}
    modules = sorted(shipped | {"app"})
    # Besides every handler module, the data files the Lambda reads must be in the zip: the shipped strategy
    # (YAML) and the HTML page templates.
    probe = (
        "import importlib, sys; sys.path[:0] = [sys.argv[1]]; "
        "[importlib.import_module(m) for m in sys.argv[2:]]; "
        "from chalicelib.strategy.loader import load_strategy; assert load_strategy().chains; "
        "from chalicelib.web.pages import message_page; assert 'html' in message_page('confirmed', 'en'); "
        "import app; print(sorted(app.app.routes))"
    )
    env = {"PATH": os.environ["PATH"], "TOUCHPLAN_STAGE": "dev", "AWS_DEFAULT_REGION": "eu-west-1"}
    # -I: no PYTHONPATH, no user site; -S: no site-packages, so only the stdlib and the package are there.
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(tmp_path / "lambda"), *modules],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "/v1/health" in result.stdout


def test_the_generated_sam_template_passes_cfn_lint(package: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cfnlint", "--format", "parseable", str(package / "sam.json")],
        capture_output=True, text=True, timeout=300,
    )
    errors = [line for line in result.stdout.splitlines() if ":E" in line]
    assert not errors, result.stdout
