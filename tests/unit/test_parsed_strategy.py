"""The strategies a deployment package parsed at build time: used for the exact bytes they were parsed from,
never for a file edited since."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.strategy import loader


@pytest.fixture
def package_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A PARSED_PATH of our own, and no cached result from another test."""
    cache = tmp_path / "parsed.pickle"
    monkeypatch.setattr(loader, "PARSED_PATH", cache)
    loader._parsed.cache_clear()
    loader._default.cache_clear()
    yield cache
    loader._parsed.cache_clear()
    loader._default.cache_clear()


def test_a_package_cache_gives_the_strategy_the_file_parses_to(package_cache: Path) -> None:
    package_cache.write_bytes(loader.parsed_cache([loader.DEFAULT_PATH]))
    assert loader.load_strategy() == loader.parse_file(loader.DEFAULT_PATH, syntax=False)
    assert loader.load_strategy(str(loader.DEFAULT_PATH)) is loader.load_strategy()  # both from the one cache


def test_an_edited_file_is_parsed_not_taken_from_the_cache(package_cache: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(loader.DEFAULT_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    package_cache.write_bytes(loader.parsed_cache([mine]))
    cached = loader.load_strategy(str(mine))
    mine.write_text(mine.read_text(encoding="utf-8").replace("locales:", "locales: [ru]\nold_locales:", 1),
                    encoding="utf-8")
    with pytest.raises(loader.StrategyError):  # the edit is read: an unknown key now
        loader.load_strategy(str(mine))
    mine.write_text(loader.DEFAULT_PATH.read_text(encoding="utf-8") + "\n# a comment\n", encoding="utf-8")
    assert loader.load_strategy(str(mine)) == cached  # parsed afresh, to the same strategy


def test_without_a_package_cache_the_file_is_parsed(package_cache: Path) -> None:
    assert not package_cache.exists()
    assert loader.load_strategy().chains


def test_a_package_is_never_built_with_a_strategy_the_check_refuses(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("channels: {}\n", encoding="utf-8")
    with pytest.raises(loader.StrategyError):
        loader.parsed_cache([broken])
