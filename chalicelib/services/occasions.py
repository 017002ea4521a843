"""Occasions in the admin API: the strategy file's occasions are the defaults, a service manager's edits are
stored with who made them and when, and every send reads the edited one without a redeploy.

An edit is validated exactly as `touchplan strategy check` validates the file (shape, template syntax, every
template rendered in every situation it is sent in), on the strategy document with the edit in place.

Every send reads the edits through services.live_occasions.LiveOccasions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.clock import Clock
from chalicelib.domain.durations import format_duration
from chalicelib.domain.model import Occasion, Strategy
from chalicelib.domain.strategy import StrategyError
from chalicelib.services.errors import ClientError
from chalicelib.services.live_occasions import with_edits
from chalicelib.store.occasions import OccasionConflict, OccasionRepository, StoredOccasion


def _version(stored: StoredOccasion) -> dict[str, Any]:
    return {"version": stored.version, "updated_at": stored.updated_at.isoformat(), "updated_by": stored.updated_by}


@dataclass
class OccasionsService:
    strategy: Strategy  # its occasions are LiveOccasions
    document: Mapping[str, Any]  # the strategy file as read
    repository: OccasionRepository
    clock: Clock
    on_saved: Callable[[], None] = lambda: None

    def _definition(self, occasion_id: str, stored: StoredOccasion | None) -> Mapping[str, Any]:
        if stored is not None:
            return stored.definition
        return dict(self.document.get("occasions") or {})[occasion_id]

    def _ids(self) -> list[str]:
        return list(self.document.get("occasions") or {})

    def _known(self, occasion_id: str) -> None:
        if occasion_id not in (self.document.get("occasions") or {}):
            raise ClientError("not_found", "No occasion with this id.", None, status=404)

    def list(self) -> dict[str, Any]:
        edits = self.repository.edits(self._ids())
        return {"occasions": [self._summary(o, edits.get(o.id)) for o in self.strategy.occasions.values()]}

    def _summary(self, occasion: Occasion, stored: StoredOccasion | None) -> dict[str, Any]:
        return {
            "occasion_id": occasion.id, "name": occasion.title, "category": occasion.category,
            "priority": occasion.priority, "period": format_duration(occasion.period),
            "validity": format_duration(occasion.validity),
            "templates": {channel: sorted(by_locale) for channel, by_locale in occasion.templates.items()},
            "version": stored.version if stored else 0, "source": "edited" if stored else "strategy",
            "updated_at": stored.updated_at.isoformat() if stored else None,
            "updated_by": stored.updated_by if stored else None,
        }

    def get(self, occasion_id: str) -> dict[str, Any]:
        self._known(occasion_id)
        stored = self.repository.get(occasion_id)
        occasion = self.strategy.occasions.get(occasion_id)
        summary = self._summary(occasion, stored) if occasion else {"occasion_id": occasion_id}
        return {
            **summary,
            "occasion": self._definition(occasion_id, stored),
            "versions": [{"version": 0, "source": "strategy"},
                         *({**_version(StoredOccasion(occasion_id, v.version, v.definition, v.updated_at,
                                                      v.updated_by, ())), "occasion": v.definition}
                           for v in (stored.versions if stored else ()))],
        }

    def put(self, occasion_id: str, body: Any, actor: str) -> dict[str, Any]:
        """Stores the edit `body` = {"version": the version it started from, "occasion": {...}} as the next
        version, validated as `strategy check` validates; 409 when someone saved another version meanwhile."""
        self._known(occasion_id)
        if not isinstance(body, dict):
            raise ClientError("invalid_body", "The body must be a JSON object.", None)
        for name in body:
            if name not in ("version", "occasion"):
                raise ClientError("unknown_field", f"Unknown field {name!r} (expected version, occasion).", name)
        expected = body.get("version")
        if isinstance(expected, bool) or not isinstance(expected, int) or expected < 0:
            raise ClientError("invalid_field", "version must be the version the edit started from (0: the "
                              "strategy file's).", "version")
        definition = body.get("occasion")
        if not isinstance(definition, dict):
            raise ClientError("invalid_field", "occasion must be the occasion as in the strategy file.", "occasion")
        edits = self.repository.edits(self._ids())
        current = edits.get(occasion_id)
        if (current.version if current else 0) != expected:
            raise self._conflict(current)
        candidate = {**edits, occasion_id: StoredOccasion(occasion_id, expected + 1, definition, self.clock.now(),
                                                          actor, ())}
        from chalicelib.strategy.loader import check_document

        try:
            check_document(with_edits(self.document, candidate))
        except StrategyError as error:
            path = error.errors[0].split(": ", 1)[0]
            raise ClientError("invalid_occasion", "; ".join(error.errors), path) from None
        try:
            saved = self.repository.save(occasion_id, definition, expected, actor, self.clock.now())
        except OccasionConflict as conflict:
            raise self._conflict(conflict.current) from None
        self.on_saved()
        return {"occasion_id": occasion_id, **_version(saved)}

    def _conflict(self, current: StoredOccasion | None) -> ClientError:
        version = current.version if current else 0
        return ClientError("version_conflict", f"The occasion changed meanwhile: it is now at version {version}; "
                           "read it again and edit that version.", "version", status=409)
