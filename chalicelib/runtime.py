"""A Lambda's cold start: the cyclic garbage collector, and the code of the dataclasses' generated methods.

A cold start allocates a few hundred thousand objects that live as long as the container (modules, classes,
botocore's service and endpoint data, the strategy) and next to no garbage cycles, yet every burst of
allocations sets off a collection that walks all of them again: about a fifth of the first step message's
time. So inside Lambda the collector is off from the first import until the first invocation returns; then
what was built is frozen out of every later collection (`gc.freeze`, as for a pre-fork server) and
collection resumes as usual.

`dataclasses` writes each method it generates for a class (__init__, __repr__, __eq__, __hash__, a frozen
class's __setattr__ and __delattr__) as source text and compiles it with `exec`: about 0.4 ms a class, and a
step message's path defines a hundred. `touchplan package` imports the app once and keeps the compiled code
of every such text (DATACLASS_CODE_PATH, for the Python that built it); in the package, dataclasses runs that
code instead of compiling the same text again, and compiles any text the table lacks as before.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import marshal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import CodeType
from typing import Any

from chalicelib.settings import get_settings

# Written by `touchplan package` into the deployment package only.
DATACLASS_CODE_PATH = Path(__file__).with_name("dataclass_code.marshal")

_paused = {"collector": False}


def pause_collection_for_cold_start() -> None:
    """In Lambda, no cyclic collection until `resume_collection()`; elsewhere nothing changes."""
    if get_settings().in_lambda and gc.isenabled():
        gc.disable()
        _paused["collector"] = True


def resume_collection() -> None:
    """After an invocation: the first one freezes what the cold start built and turns the collector back on."""
    if _paused["collector"]:
        _paused["collector"] = False
        gc.freeze()
        gc.enable()


def _exec_compiled(codes: dict[str, CodeType]) -> Callable[[str, dict[str, Any], dict[str, Any]], None]:
    """`exec` as dataclasses calls it, on the code `codes` holds for the text, compiled (and kept) if missing.
    The text compiles as `exec` would compile it there: file "<string>", no __future__ flags of this module."""

    def run(source: str, globals: dict[str, Any], locals: dict[str, Any]) -> None:
        code = codes.get(source)
        if code is None:
            code = codes[source] = compile(source, "<string>", "exec", dont_inherit=True)
        exec(code, globals, locals)  # noqa: S102 - dataclasses' own text, or code compiled from it

    return run


def use_compiled_dataclass_methods() -> None:
    """In a deployment package built by this Python, dataclasses runs the code compiled when it was built."""
    try:
        # The package's own file, trusted as its .pyc files are.
        built_by, codes = marshal.loads(DATACLASS_CODE_PATH.read_bytes())  # noqa: S302
    except FileNotFoundError:
        return
    if built_by == sys.version:
        dataclasses.exec = _exec_compiled(codes)  # type: ignore[attr-defined]


def compiled_dataclass_methods(modules: Iterable[str]) -> bytes:
    """Imports `modules` and returns DATACLASS_CODE_PATH's contents: the code of every dataclass method text
    compiled meanwhile, for this Python."""
    codes: dict[str, CodeType] = {}
    dataclasses.exec = _exec_compiled(codes)  # type: ignore[attr-defined]
    for module in modules:
        importlib.import_module(module)
    return marshal.dumps((sys.version, codes))
