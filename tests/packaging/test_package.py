"""Builds the real deployment package with `touchplan package` (`chalice package`, then the bytecode and the
parsed strategy) and imports every handler from it.

The import runs in a fresh interpreter whose path holds only the unzipped package (no repo root, no dev
virtualenv): a handler outside app.py/chalicelib/vendor, or a runtime dependency missing from
requirements.txt, fails here instead of in Lambda. Lambda cannot write bytecode into the package, so every
module must arrive compiled for the runtime's Python, and what it imports must be that bytecode.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cli import package as packaging

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package")
    packaging.build("dev", out)
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


def test_every_module_ships_bytecode_for_the_runtime_that_never_checks_the_source(package: Path) -> None:
    with zipfile.ZipFile(package / "deployment.zip") as archive:
        names = set(archive.namelist())
        sources = [n for n in names if n.endswith(".py")]
        assert len(sources) > 1000  # the dependencies' too, not only the project's
        for source in sources:
            compiled = importlib.util.cache_from_source(source)
            assert compiled in names, source
        for compiled in (importlib.util.cache_from_source(s) for s in ("app.py", "chalicelib/services/steps.py")):
            header = archive.read(compiled)[:8]
            # PEP 552: this Python's magic number, then flags 0b01 (hash-based, source not checked)
            assert header[:4] == importlib.util.MAGIC_NUMBER
            assert int.from_bytes(header[4:8], "little") == 0b01
        assert "chalicelib/strategy/parsed.pickle" in names
        assert "chalicelib/delivery/endpoints.json" in names
        assert "chalicelib/dataclass_code.marshal" in names
        assert "chalicelib/delivery/templates.marshal" in names
        # The models of the services the app calls, plain and without documentation; the others as botocore ships.
        model = "botocore/data/dynamodb/2012-08-10/service-2.json"
        assert model in names and f"{model}.gz" not in names
        assert '"documentation"' not in archive.read(model).decode()
        assert "botocore/data/s3/2006-03-01/service-2.json.gz" in names


def test_a_step_handler_loads_the_bytecode_and_the_parsed_strategy_not_the_sources(
    package: Path, tmp_path: Path,
) -> None:
    with zipfile.ZipFile(package / "deployment.zip") as archive:
        archive.extractall(tmp_path / "lambda")
    # Sources emptied: a module Python compiled from its .py instead of loading the .pyc would be empty now.
    for source in (tmp_path / "lambda").rglob("*.py"):
        source.write_text("")
    probe = (
        "import sys; sys.path[:0] = [sys.argv[1]]; "
        "from functions.queues import on_step; "
        "from chalicelib import wiring; from chalicelib.strategy import loader; "
        "assert wiring.strategy().chains['welcome'] and loader._parsed(); "
        "assert 'yaml' not in sys.modules and 'email.parser' not in sys.modules, 'imported on a step cold start'; "
        "import dataclasses; assert hasattr(dataclasses, 'exec'), 'the dataclass methods compiled again'; "
        "from chalicelib.delivery.templates import _compiled; assert _compiled(), 'the templates compiled again'; "
        "assert 'TransactWriteItems' in wiring.session().create_client('dynamodb').meta.service_model.operation_names; "
        "assert 'SendEmail' in wiring.session().create_client('sesv2').meta.service_model.operation_names; "
        "print('ok')"
    )
    env = {"PATH": os.environ["PATH"], "TOUCHPLAN_STAGE": "dev", "AWS_DEFAULT_REGION": "eu-west-1"}
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(tmp_path / "lambda")],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_a_package_for_another_python_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sam.json").write_text(json.dumps({"Resources": {"F": {
        "Type": "AWS::Serverless::Function", "Properties": {"Runtime": "python3.9"}}}}))
    monkeypatch.setattr(packaging.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, "", ""))
    with pytest.raises(packaging.PackageError, match=r"python3\.9"):
        packaging.build("dev", tmp_path)


def test_the_rest_api_answers_no_key_and_no_route_in_the_contract_error_shape(tmp_path: Path) -> None:
    sam = tmp_path / "sam.json"
    sam.write_text(json.dumps({"Resources": {"RestAPI": {"Type": "AWS::Serverless::Api", "Properties": {}},
                                            "F": {"Type": "AWS::Serverless::Function", "Properties": {}}}}))
    packaging.add_gateway_responses(sam)
    responses = json.loads(sam.read_text())["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]
    assert {kind: r["StatusCode"] for kind, r in responses.items()} == {
        "UNAUTHORIZED": 401, "MISSING_AUTHENTICATION_TOKEN": 404}
    body = json.loads(responses["UNAUTHORIZED"]["ResponseTemplates"]["application/json"])
    assert set(body) == {"error", "message", "field"} and body["error"] == "unauthorized"
