"""Occasion edits: the stored override of a strategy-file occasion, its version and its recent versions.

The strategy file names every occasion there can be, so reading every override is one BatchGetItem of
those ids (no Scan: the functions' role is not granted one). Saving is
optimistic: the write holds only if the stored version is still the one the edit started from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib.store.models import OccasionModel, OccasionVersionEntry

VERSIONS_KEPT = 20
VERSIONS_BYTES = 300_000  # and fewer when they are large: a row stays below DynamoDB's 400 KB item limit


@dataclass(frozen=True)
class OccasionVersion:
    version: int
    definition: Mapping[str, Any]
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class StoredOccasion:
    occasion_id: str
    version: int
    definition: Mapping[str, Any]
    updated_at: datetime
    updated_by: str
    versions: tuple[OccasionVersion, ...]  # oldest first, the current one last


class OccasionConflict(Exception):
    """The stored version is not the one the edit started from."""

    def __init__(self, current: StoredOccasion | None) -> None:
        super().__init__("the occasion changed since it was read")
        self.current = current


def _stored(row: OccasionModel) -> StoredOccasion:
    versions = tuple(
        OccasionVersion(int(v.version), json.loads(v.definition), v.updated_at, v.updated_by)
        for v in row.versions or ()
    )
    return StoredOccasion(row.occasion_id, int(row.version), json.loads(row.definition), row.updated_at,
                          row.updated_by or "", versions)


class OccasionRepository:
    def edits(self, occasion_ids: Sequence[str]) -> dict[str, StoredOccasion]:
        """The stored edits of these occasions (those edited)."""
        return {row.occasion_id: _stored(row) for row in OccasionModel.batch_get(list(dict.fromkeys(occasion_ids)))}

    def get(self, occasion_id: str) -> StoredOccasion | None:
        try:
            return _stored(OccasionModel.get(occasion_id, consistent_read=True))
        except OccasionModel.DoesNotExist:
            return None

    def save(self, occasion_id: str, definition: Mapping[str, Any], expected: int, actor: str,
             now: datetime) -> StoredOccasion:
        """Stores version `expected + 1`; OccasionConflict unless the stored version is `expected`
        (0: nothing stored yet, the strategy file's occasion)."""
        before = self.get(occasion_id) if expected else None
        if expected and (before is None or before.version != expected):
            raise OccasionConflict(before)
        saved = next_version(before, occasion_id, definition, actor, now)
        row = OccasionModel(
            occasion_id, category=str(definition.get("category", "")), priority=definition.get("priority"),
            definition=json.dumps(definition, ensure_ascii=False), version=saved.version,
            versions=[OccasionVersionEntry(version=v.version, definition=json.dumps(v.definition, ensure_ascii=False),
                                           updated_at=v.updated_at, updated_by=v.updated_by)
                      for v in saved.versions],
            updated_at=now, updated_by=actor,
        )
        condition = (OccasionModel.occasion_id.does_not_exist() if not expected
                     else OccasionModel.version == expected)
        try:
            row.save(condition=condition)
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise OccasionConflict(self.get(occasion_id)) from None
            raise
        return saved


def next_version(before: StoredOccasion | None, occasion_id: str, definition: Mapping[str, Any], actor: str,
                 now: datetime) -> StoredOccasion:
    """What a save after `before` stores (both stores build it the same way)."""
    version = (before.version if before else 0) + 1
    kept = [OccasionVersion(version, dict(definition), now, actor)]
    budget = VERSIONS_BYTES - 2 * _size(definition)  # the current definition is stored twice
    for older in reversed((before.versions if before else ())[-(VERSIONS_KEPT - 1):]):
        budget -= _size(older.definition)
        if budget < 0:
            break
        kept.append(older)
    return StoredOccasion(occasion_id, version, dict(definition), now, actor, tuple(reversed(kept)))


def _size(definition: Mapping[str, Any]) -> int:
    return len(json.dumps(definition, ensure_ascii=False).encode())
