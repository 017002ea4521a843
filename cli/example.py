"""The embed example of docs/embed.md as a page of the local stack (`/_local/example`), aimed at its API."""

from __future__ import annotations

import re
from pathlib import Path

EMBED = Path(__file__).resolve().parents[1] / "docs" / "embed.md"


def page(api_base: str) -> bytes:
    """The form and script from the docs, with the API URL replaced by the local one."""
    snippet = re.search(r"```html\n(.*?)```", EMBED.read_text(encoding="utf-8"), re.S)
    form = snippet.group(1) if snippet else "<p>docs/embed.md has no html example.</p>"
    form = form.replace("https://touchplan.example.com", api_base)
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'><title>touchplan sign-up example</title>"
        "<body style='font-family:system-ui;margin:1.5rem;max-width:40rem'>"
        "<h1>Sign-up form example</h1><p>The DOI message lands in the <a href='/_local/outbox'>outbox</a>.</p>"
        f"<style>label{{display:block;margin:.5rem 0}}</style>{form}</body></html>"
    ).encode()
