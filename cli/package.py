"""`touchplan package --stage S OUT`: `chalice package`, plus what a Lambda cannot make for itself.

Lambda's /var/task is read-only, so Python cannot cache bytecode there: without .pyc files in the zip every cold
start compiles each module it imports (the wheels Chalice unpacks ship none, and the project's own
`__pycache__` would be the developer's, stamped with times the zip does not keep). So the zip gets
`__pycache__/*.pyc` for every module, compiled for the runtime's Python with hash-based invalidation that does
not check the source (PEP 552: the package never changes once built); the strategies it ships, parsed
(chalicelib.strategy.loader.PARSED_PATH: used only for a file's exact bytes); and the packaged botocore's
endpoint data cut down to the services the app calls (chalicelib.delivery.clients.ENDPOINTS_PATH); and the
service models of the clients the app builds (clients.SERVICES) as plain JSON without their documentation
(clients.undocumented), which botocore reads before a `.json.gz`; and the code of the methods dataclasses
generates for the app's classes, and the strategies' templates, compiled (chalicelib.runtime.DATACLASS_CODE_PATH,
chalicelib.delivery.templates.COMPILED_PATH).
"""

from __future__ import annotations

import argparse
import compileall
import gzip
import json
import os
import py_compile
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import chalicelib
from chalicelib.delivery.clients import ENDPOINTS_PATH, SERVICES, cut_endpoints, undocumented
from chalicelib.delivery.templates import COMPILED_PATH
from chalicelib.runtime import DATACLASS_CODE_PATH
from chalicelib.strategy.loader import DEFAULT_PATH, PARSED_PATH, StrategyError, parsed_cache

ROOT = Path(__file__).resolve().parents[1]
# The zip's root: where app.py, chalicelib/ and the dependencies sit.
_ZIP_ROOT = Path(chalicelib.__file__).resolve().parents[1]
# Run in the package's tree (its own dependencies, the standard library, an empty environment): imports the
# modules named and writes the dataclass methods' code, then compiles the templates of the strategies named.
_COMPILE_INSIDE = (
    "import sys; sys.path[:0] = [sys.argv[1]]\n"
    "from chalicelib.runtime import DATACLASS_CODE_PATH, compiled_dataclass_methods\n"
    "DATACLASS_CODE_PATH.write_bytes(compiled_dataclass_methods(sys.argv[3:]))\n"
    "from chalicelib.delivery.templates import COMPILED_PATH, compiled_templates\n"
    "from chalicelib.strategy.loader import load_strategy\n"
    "COMPILED_PATH.write_bytes(compiled_templates(load_strategy(path) for path in sys.argv[2].split(',')))\n"
)
# Where Lambda unpacks the zip, for a TOUCHPLAN_STRATEGY the stage names by its absolute path.
TASK_ROOT = "/var/task"


class PackageError(Exception):
    """The package cannot be built as asked; the message says why."""


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "package", help="build the deployment package (chalice package, plus bytecode and the parsed strategy)")
    parser.add_argument("out", help="output directory: deployment.zip and sam.json")
    parser.add_argument("--stage", default="dev", help="the .chalice/config.json stage (default: dev)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        archive = build(args.stage, Path(args.out))
    except (PackageError, StrategyError) as error:
        for line in getattr(error, "errors", [str(error)]):
            print(line, file=sys.stderr)
        return 1
    print(archive)
    return 0


def build(stage: str, out: Path, project: Path = ROOT) -> Path:
    """`chalice package --stage STAGE OUT` in `project`, then the bytecode and parsed strategies added to
    OUT/deployment.zip; returns the zip's path."""
    chalice = Path(sys.executable).parent / "chalice"
    # The stage's own environment comes from .chalice/config.json, never from this shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHPLAN_")}
    result = subprocess.run([str(chalice), "package", "--stage", stage, str(out)], cwd=project, env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise PackageError(f"chalice package failed:\n{result.stdout}{result.stderr}")
    runtimes = {resource["Properties"]["Runtime"]
                for resource in json.loads((out / "sam.json").read_text())["Resources"].values()
                if resource["Type"] == "AWS::Serverless::Function"}
    ours = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if runtimes != {ours}:
        raise PackageError(f"the functions run {', '.join(sorted(runtimes))}, this is {ours}: bytecode is per "
                           "Python version, so build the package with the runtime's Python")
    add_gateway_responses(out / "sam.json")
    archive = out / "deployment.zip"
    add_bytecode(archive, _strategies(project, stage))
    return archive


def add_gateway_responses(sam_path: Path) -> None:
    """What API Gateway answers itself (no Authorization header, no such route) in the contract's error shape:
    the REST API's GatewayResponses, which Chalice has no setting for (aws/chalice#1268)."""
    from chalicelib.gateway_errors import gateway_responses

    sam = json.loads(sam_path.read_text())
    for resource in sam["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Api":
            resource.setdefault("Properties", {})["GatewayResponses"] = gateway_responses()
    sam_path.write_text(json.dumps(sam, indent=2))


def _strategies(project: Path, stage: str) -> list[PurePosixPath]:
    """The strategy files in the zip that a Lambda of `stage` loads: the shipped default, and the stage's
    TOUCHPLAN_STRATEGY."""
    config = json.loads((project / ".chalice" / "config.json").read_text())
    variables = {**config.get("environment_variables", {}),
                 **config["stages"].get(stage, {}).get("environment_variables", {})}
    paths = [PurePosixPath(DEFAULT_PATH.relative_to(_ZIP_ROOT).as_posix())]
    named = variables.get("TOUCHPLAN_STRATEGY")
    if named:
        path = PurePosixPath(named)
        if path.is_absolute():
            if not path.is_relative_to(TASK_ROOT):
                raise PackageError(f"TOUCHPLAN_STRATEGY={named} of stage {stage} is not inside the package "
                                   f"({TASK_ROOT})")
            path = path.relative_to(TASK_ROOT)
        paths.append(path)
    return paths


def _used_model(name: str) -> bool:
    """Whether `name` is the packaged botocore's compressed service model of a service the app calls."""
    parts = PurePosixPath(name).parts
    return (len(parts) == 5 and parts[:2] == ("botocore", "data") and parts[2] in SERVICES
            and parts[4] == "service-2.json.gz")


def _compile_inside(tree: Path, strategies: list[PurePosixPath]) -> list[Path]:
    """DATACLASS_CODE_PATH (the app and every module of chalicelib and functions imported) and the templates'
    COMPILED_PATH (the parsed `strategies`, already in `tree`), written in `tree` by its own Python code; returns
    their paths."""
    modules = ["app", *(".".join(path.relative_to(tree).with_suffix("").parts).removesuffix(".__init__")
                        for package in ("chalicelib", "functions") for path in sorted((tree / package).rglob("*.py")))]
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _COMPILE_INSIDE, str(tree), ",".join(map(str, strategies)), *modules],
        cwd=tree, env={}, capture_output=True, text=True)
    if result.returncode != 0:
        raise PackageError(f"the package's modules or templates do not compile:\n{result.stderr}")
    return [tree / path.relative_to(_ZIP_ROOT) for path in (DATACLASS_CODE_PATH, COMPILED_PATH)]


def add_bytecode(archive: Path, strategies: list[PurePosixPath]) -> None:
    """Rewrite `archive` with a .pyc beside every .py (any `__pycache__` it held is dropped) and the
    `strategies`, parsed, in PARSED_PATH."""
    with tempfile.TemporaryDirectory() as scratch, zipfile.ZipFile(archive) as original:
        tree = Path(scratch)
        models = [info for info in original.infolist() if _used_model(info.filename)]
        entries = [info for info in original.infolist()
                   if "__pycache__/" not in info.filename and not _used_model(info.filename)]
        names = {info.filename for info in entries}
        for missing in (str(path) for path in strategies if str(path) not in names):
            raise PackageError(f"the strategy {missing} is not in the package")
        for info in entries:
            if info.filename.endswith(".py") or info.filename in map(str, strategies):
                original.extract(info, tree)
        if not compileall.compile_dir(tree, quiet=2, workers=0,
                                      invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH):
            raise PackageError("a module in the package does not compile")
        parsed = tree / PARSED_PATH.relative_to(_ZIP_ROOT)
        parsed.write_bytes(parsed_cache([tree / path for path in strategies]))
        endpoints = tree / ENDPOINTS_PATH.relative_to(_ZIP_ROOT)
        if "botocore/data/endpoints.json" in names:  # else the runtime's own botocore, of another version
            version = re.search(r"__version__ = '([^']+)'", original.read("botocore/__init__.py").decode())
            if version is None:
                raise PackageError("the packaged botocore/__init__.py names no __version__")
            whole = json.loads(original.read("botocore/data/endpoints.json"))
            endpoints.write_text(json.dumps(cut_endpoints(whole, version.group(1))))
        plain_models = []
        for info in models:
            plain = tree / info.filename.removesuffix(".gz")
            plain.parent.mkdir(parents=True, exist_ok=True)
            plain.write_text(json.dumps(undocumented(json.loads(gzip.decompress(original.read(info)))),
                                        separators=(",", ":")))
            plain_models.append(plain)
        compiled = _compile_inside(tree, strategies)
        added = sorted(path for path in tree.rglob("*") if path.is_file() and (
            path.suffix == ".pyc" or path in (parsed, endpoints, *compiled, *plain_models)))
        rebuilt = archive.with_suffix(".zip.tmp")
        with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as target:
            for info in entries:
                target.writestr(info, original.read(info))
            for path in added:
                entry = zipfile.ZipInfo(path.relative_to(tree).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                entry.external_attr = 0o644 << 16
                entry.compress_type = zipfile.ZIP_DEFLATED
                target.writestr(entry, path.read_bytes())
    rebuilt.replace(archive)
