"""Campaigns: members come in as an import does (active, consented), placed in a segment as the lifecycle
places them; every admin call goes through the API with a key of the role under test."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib import wiring
from tests.integration.helpers import NOW
from tests.integration.occasions.conftest import add, call, person

__all__ = ["add", "body", "call", "in_segment", "person"]


def in_segment(segment: str, *contact_ids: str, now: datetime = NOW) -> None:
    """Moves the contacts to `segment` as a lifecycle timer does (the segment index follows the row)."""
    profiles = wiring.profiles()
    for contact_id in contact_ids:
        found = profiles.facts(contact_id)
        assert found is not None
        assert profiles.set_segment(found[1], segment, now)


def body(**changes: Any) -> dict[str, Any]:
    """A minimal campaign: company news by email to the active segment at 08:30 local on 2026-11-27."""
    return {"occasion_id": "company-news", "audience": {"segment": "active"}, "channels": ["email"],
            "send_at": {"local_time": "08:30", "date": "2026-11-27"}, **changes}


Call = Callable[..., tuple[int, dict[str, Any]]]
