"""The consent ledger: append-only proof of every consent event. Written with attribute_not_exists, never
updated or deleted (erasure keeps it: it holds hashes and ids, no address)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.store.models import ConsentEventModel

# exited: every chain left on a personal-data withdrawal; erasure_scheduled: the erasure it leads to, when.
KINDS = ("requested", "confirmed", "granted", "revoked", "bounced", "complained", "exited", "erasure_scheduled",
         "erased")


@dataclass(frozen=True)
class ConsentEvent:
    kind: str
    at: datetime
    channel: str | None = None
    purpose: str | None = None
    source: str | None = None
    ip_hash: str | None = None
    user_agent_hash: str | None = None
    text_id: str | None = None
    text_sha256: str | None = None
    token_id: str | None = None
    detail: Mapping[str, str] = field(default_factory=dict)
    event_id: str = field(default_factory=lambda: secrets.token_hex(8))

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown consent event kind {self.kind!r}")

    @property
    def key(self) -> str:
        return f"{self.at.isoformat(timespec='microseconds')}#{self.event_id}"


def event_row(contact_id: str, event: ConsentEvent) -> ConsentEventModel:
    return ConsentEventModel(
        contact_id, event.key, event_id=event.event_id, kind=event.kind, at=event.at, channel=event.channel,
        purpose=event.purpose, source=event.source, ip_hash=event.ip_hash, user_agent_hash=event.user_agent_hash,
        text_id=event.text_id, text_sha256=event.text_sha256, token_id=event.token_id, detail=dict(event.detail),
    )


def append_only() -> object:
    """The condition every ledger write carries: an entry is written once and never replaced."""
    return ConsentEventModel.event_key.does_not_exist()


class LedgerRepository:
    def append(self, contact_id: str, events: Iterable[ConsentEvent]) -> None:
        """Entries that go with no consent change of their own (a withdrawal's chain exits and erasure)."""
        for entry in events:
            event_row(contact_id, entry).save(condition=append_only())

    def history(self, contact_id: str) -> list[ConsentEvent]:
        return [
            ConsentEvent(
                kind=row.kind, at=row.at, channel=row.channel, purpose=row.purpose, source=row.source,
                ip_hash=row.ip_hash, user_agent_hash=row.user_agent_hash, text_id=row.text_id,
                text_sha256=row.text_sha256, token_id=row.token_id,
                detail={str(k): str(v) for k, v in _plain(row.detail).items()}, event_id=row.event_id,
            )
            for row in ConsentEventModel.query(contact_id, consistent_read=True)
        ]


def _plain(value: Any) -> dict[str, Any]:
    as_dict = getattr(value, "as_dict", None)
    return dict(as_dict() if as_dict else value or {})
