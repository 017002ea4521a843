"""Read a strategy file and validate it: the only place that touches the file system or YAML."""

import hashlib
import pickle
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from chalicelib.domain.model import Strategy
from chalicelib.domain.strategy import StrategyError, parse_strategy

DEFAULT_PATH = Path(__file__).with_name("default.yaml")
# Strategies parsed when the deployment package was built (`touchplan package`), by the SHA-256 of the file's
# bytes: a file edited since then has another digest and is parsed as usual. Never in the source tree.
PARSED_PATH = Path(__file__).with_name("parsed.pickle")

__all__ = [
    "DEFAULT_PATH", "PARSED_PATH", "StrategyError", "check_document", "check_strategy", "load_strategy", "parse_file",
    "parsed_cache", "read_document", "read_strategy",
]


def load_strategy(path: str | None = None) -> Strategy:
    """The strategy a Lambda runs (None: the shipped default, read once per process): its shape checked. The
    template checks (syntax ~30 ms, rendering every template ~0.3 s, `check_strategy`) are for no cold start to
    pay: `touchplan strategy check`, `touchplan run` and CI run them, and a template that still fails fails its
    own send with a render error.

    A file whose exact bytes the package parsed at build time comes from that cache (no YAML, ~30 ms less).

    Raises StrategyError whose `.errors` lists every problem as `path: message`."""
    if path is None:
        return _default()
    return _load(Path(path))


@lru_cache(maxsize=1)
def _default() -> Strategy:
    return _load(DEFAULT_PATH)


def _load(path: Path) -> Strategy:
    try:
        cached = _parsed().get(_digest(path.read_bytes()))
    except OSError:
        cached = None  # parse_file names the problem
    return cached if cached is not None else parse_file(path, syntax=False)


def _digest(source: bytes) -> str:
    return hashlib.sha256(source).hexdigest()


@lru_cache(maxsize=1)
def _parsed() -> dict[str, Strategy]:
    try:
        data = PARSED_PATH.read_bytes()
    except FileNotFoundError:
        return {}
    # Written by the package build beside this module, as trusted as the code it ships with.
    parsed: dict[str, Strategy] = pickle.loads(data)  # noqa: S301
    return parsed


def parsed_cache(paths: Iterable[Path]) -> bytes:
    """The PARSED_PATH contents for these strategy files, each validated in full first (a package is never built
    with a strategy `strategy check` refuses)."""
    return pickle.dumps({_digest(path.read_bytes()): read_strategy(path) for path in paths})


def check_strategy(path: str | None = None) -> Strategy:
    """The strategy at `path` (None: the shipped default), validated in full."""
    return read_strategy(Path(path) if path else DEFAULT_PATH)


def read_strategy(path: Path) -> Strategy:
    """The strategy at `path`, validated in full: its shape, and every template rendered as it will be sent."""
    return check_document(read_document(path))


def check_document(data: object) -> Strategy:
    """A strategy document (what the file reader gives) validated exactly as `strategy check` validates a file:
    template syntax, shape, then every template rendered."""
    from chalicelib.strategy.rendering import template_errors

    strategy = _parse(data, syntax=True)
    errors = template_errors(strategy)
    if errors:
        raise StrategyError(errors)
    return strategy


def parse_file(path: Path, *, syntax: bool = True) -> Strategy:
    """The strategy at `path` with its shape and (unless `syntax` is False) template syntax checked, templates
    not yet rendered."""
    return _parse(read_document(path), syntax=syntax)


def read_document(path: Path) -> object:
    """The strategy file at `path` as its YAML reader gives it, not yet validated."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise StrategyError([f"{path}: cannot read the file ({_describe(error)})"]) from None
    import yaml

    try:
        # libyaml when present (PyYAML wheels ship it): the shipped file parses in a fraction of the time.
        data = yaml.load(source, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error)
        raise StrategyError([f"{where}: not valid YAML ({problem})"]) from None
    return data


def _parse(data: object, *, syntax: bool) -> Strategy:
    errors = _syntax_errors(data) if syntax else []
    try:
        strategy = parse_strategy(data)
    except StrategyError as error:
        raise StrategyError(error.errors + errors) from None
    if errors:
        raise StrategyError(errors)
    return strategy


def _describe(error: Exception) -> str:
    return error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__


def _syntax_errors(data: object) -> list[str]:
    """Jinja syntax errors in every template text, by path; shape errors are the validator's business."""
    import jinja2

    occasions = data.get("occasions") if isinstance(data, dict) else None
    if not isinstance(occasions, dict):
        return []
    environment = jinja2.Environment(autoescape=True)
    errors = []
    for path, text in _texts(occasions, "occasions"):
        try:
            environment.parse(text)
        except jinja2.TemplateSyntaxError as error:
            errors.append(f"{path}: template error on line {error.lineno}: {error.message}")
    return errors


def _texts(node: object, path: str) -> list[tuple[str, str]]:
    if isinstance(node, str):
        return [(path, node)] if ".templates." in path else []
    if isinstance(node, dict):
        return [pair for key, value in node.items() for pair in _texts(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [pair for i, value in enumerate(node) for pair in _texts(value, f"{path}[{i}]")]
    return []
