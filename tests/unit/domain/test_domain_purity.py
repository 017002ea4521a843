"""The domain stays pure: import-linter's contracts hold and mypy --strict passes."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOMAIN = ROOT / "chalicelib" / "domain"
BIN = Path(sys.executable).parent
FORBIDDEN = ("boto3", "botocore", "pynamodb", "chalice", "aws_lambda_powertools", "yaml", "jinja2", "os",
             "chalicelib.store", "chalicelib.services", "chalicelib.delivery", "chalicelib.strategy",
             "chalicelib.settings")


def test_no_domain_module_imports_io_aws_or_the_environment() -> None:
    for module in DOMAIN.glob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not any(name == f or name.startswith(f + ".") for f in FORBIDDEN), (module.name, name)
            if isinstance(node, ast.Attribute) and node.attr in ("now", "utcnow", "today", "environ"):
                raise AssertionError(f"{module.name}: .{node.attr} reads the clock or the environment")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
                raise AssertionError(f"{module.name}: open() reads files")


@pytest.mark.slow
def test_import_linter_contracts_hold() -> None:
    done = subprocess.run([str(BIN / "lint-imports")], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_mypy_strict_passes_on_the_domain() -> None:
    done = subprocess.run([str(BIN / "mypy"), "chalicelib/domain"], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
