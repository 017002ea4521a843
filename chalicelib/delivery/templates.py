"""Template rendering: sandboxed Jinja2, autoescape for HTML only, strict about missing variables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment

from chalicelib.delivery.errors import TemplateRenderError

HTML_FIELDS = frozenset({"html"})


def _environment(autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        autoescape=autoescape,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        auto_reload=False,
    )


class TemplateRenderer:
    """Renders a touch's fields (subject, preheader, html, text, sms...) from template sources.

    Compiled templates are cached per (escaping, source), so a warm Lambda compiles each template once.
    """

    def __init__(self, cache_size: int = 512) -> None:
        self._html_env = _environment(autoescape=True)
        self._text_env = _environment(autoescape=False)
        self._compile = lru_cache(maxsize=cache_size)(self._compile_uncached)

    def _compile_uncached(self, autoescape: bool, source: str) -> Template:
        env = self._html_env if autoescape else self._text_env
        return env.from_string(source)

    def render(self, template_source_by_field: Mapping[str, str], context: Mapping[str, Any]) -> dict[str, str]:
        """Render every field; the first failure raises ``TemplateRenderError`` naming that field."""
        rendered: dict[str, str] = {}
        for field, source in template_source_by_field.items():
            rendered[field] = self.render_field(field, source, context)
        return rendered

    def render_field(self, field: str, source: str, context: Mapping[str, Any]) -> str:
        try:
            template = self._compile(field in HTML_FIELDS, source)
            return template.render(**context)
        # Templates are operator-edited content: any failure inside one stops this touch, not the batch.
        except Exception as exc:
            raise TemplateRenderError(field, f"{type(exc).__name__}: {exc}") from exc


_default_renderer: TemplateRenderer | None = None


def render(template_source_by_field: Mapping[str, str], context: Mapping[str, Any]) -> dict[str, str]:
    global _default_renderer  # one cache per warm container
    if _default_renderer is None:
        _default_renderer = TemplateRenderer()
    return _default_renderer.render(template_source_by_field, context)


def _normalise_locale(tag: str) -> str:
    return tag.strip().replace("_", "-").lower()


def pick_locale(available: Iterable[str], wanted: str | None, default: str = "en") -> str | None:
    """Best available locale: exact (``ru-RU``), then language (``ru``), then ``default``.

    Matching ignores case and ``_`` vs ``-``; the value returned is spelled as in ``available``.
    Returns ``None`` when neither the wanted language nor the default is available.
    """
    by_norm: dict[str, str] = {}
    for tag in available:
        by_norm.setdefault(_normalise_locale(tag), tag)
    candidates: list[str] = []
    if wanted:
        norm = _normalise_locale(wanted)
        candidates.append(norm)
        language = norm.split("-", 1)[0]
        candidates.append(language)
    candidates.append(_normalise_locale(default))
    for candidate in candidates:
        if candidate in by_norm:
            return by_norm[candidate]
    return None
