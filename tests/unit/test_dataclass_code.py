"""The dataclass methods' code a deployment package ships (chalicelib.runtime): recorded once, then run instead
of compiling the same text, with the classes behaving as dataclasses makes them."""

from __future__ import annotations

import dataclasses
import marshal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib import runtime

MODULE = """
from dataclasses import dataclass, field

@dataclass(frozen=True)
class Window:
    open: int
    close: int = 24
    days: tuple[int, ...] = field(default=(0, 1))
"""


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A module defining a dataclass, importable as `recorded_window`; dataclasses as it was, after."""
    (tmp_path / "recorded_window.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(dataclasses, "exec", exec, raising=False)
    monkeypatch.setattr(runtime, "DATACLASS_CODE_PATH", tmp_path / "dataclass_code.marshal")
    monkeypatch.delitem(sys.modules, "recorded_window", raising=False)
    yield tmp_path
    sys.modules.pop("recorded_window", None)


def test_the_package_runs_the_recorded_code_and_the_class_behaves_the_same(package: Path) -> None:
    runtime.DATACLASS_CODE_PATH.write_bytes(runtime.compiled_dataclass_methods(["recorded_window"]))
    del sys.modules["recorded_window"]
    runtime.use_compiled_dataclass_methods()
    codes = dataclasses.exec.__closure__[0].cell_contents  # type: ignore[attr-defined]
    recorded = len(codes)
    assert recorded >= 4  # __init__, __repr__, __eq__, __hash__, __setattr__, __delattr__
    from recorded_window import Window  # type: ignore[import-not-found]

    assert len(codes) == recorded  # nothing compiled again
    window = Window(9)
    assert (window, repr(window)) == (Window(9, 24, (0, 1)), "Window(open=9, close=24, days=(0, 1))")
    assert hash(window) == hash(Window(9)) and window != Window(9, 18)
    with pytest.raises(dataclasses.FrozenInstanceError):
        window.open = 10  # type: ignore[misc]


def test_a_table_another_python_built_is_not_used(package: Path) -> None:
    runtime.DATACLASS_CODE_PATH.write_bytes(marshal.dumps(("2.7.18", {})))
    runtime.use_compiled_dataclass_methods()
    assert dataclasses.exec is exec  # type: ignore[attr-defined]


def test_without_a_table_nothing_changes(package: Path) -> None:
    runtime.use_compiled_dataclass_methods()
    assert dataclasses.exec is exec  # type: ignore[attr-defined]
