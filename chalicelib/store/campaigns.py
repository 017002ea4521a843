"""Campaigns: one row each, written with optimistic locking on `version`.

The tick reads the sparse active index (campaigns still fanning out or sending) and the admin list the list
index; neither scans. The step worker reads a campaign's row in its own BatchGetItem (store.enrollments), so
a cancel is seen at send time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib.domain.campaigns import Campaign, Counts, Winner, as_json, from_json
from chalicelib.store.models import CampaignModel

LISTED = "campaign"
LIST_LIMIT = 100


class CampaignConflict(Exception):
    """The campaign changed since it was read (a cancel, or another tick's fan-out page)."""


def winner_json(winner: Winner | None) -> str | None:
    if winner is None:
        return None
    return json.dumps({"variant": winner.variant, "metric": winner.metric, "picked_at": winner.picked_at.isoformat(),
                       "numbers": winner.numbers})


def winner_of(raw: str | None) -> Winner | None:
    if not raw:
        return None
    stored = json.loads(raw)
    return Winner(stored["variant"], stored["metric"], datetime.fromisoformat(stored["picked_at"]), stored["numbers"])


def counts_of(raw: Mapping[str, Any]) -> Counts:
    return Counts(**{name: int(raw.get(name) or 0) for name in ("audience", "holdout", "enrolled", "waiting")})


def created_key(campaign: Campaign) -> str:
    return f"{campaign.created_at.isoformat()}#{campaign.campaign_id}"


def campaign_of_row(row: CampaignModel) -> Campaign:
    counts = row.counts.as_dict() if hasattr(row.counts, "as_dict") else dict(row.counts or {})
    return Campaign(
        campaign_id=row.campaign_id, definition=from_json(json.loads(row.definition)), status=row.status,  # type: ignore[arg-type]
        created_by=row.created_by, created_at=row.created_at, occurrence=int(row.occurrence or 0),
        phase=row.phase or "test", cursor=row.cursor, counts=counts_of(counts),  # type: ignore[arg-type]
        first_send_at=row.first_send_at, last_send_at=row.last_send_at, winner=winner_of(row.winner),
        cancelled_at=row.cancelled_at, version=int(row.version or 0),
    )


def campaign_of_item(item: Mapping[str, Any]) -> Campaign:
    """A campaign from the raw item a BatchGetItem answered."""
    return campaign_of_row(CampaignModel.from_raw_data(dict(item)))


def _row(campaign: Campaign) -> CampaignModel:
    c = campaign.counts
    return CampaignModel(
        campaign.campaign_id, definition=json.dumps(as_json(campaign.definition), ensure_ascii=False),
        status=campaign.status, created_by=campaign.created_by, created_at=campaign.created_at,
        occurrence=campaign.occurrence, phase=campaign.phase, cursor=campaign.cursor,
        counts={"audience": c.audience, "holdout": c.holdout, "enrolled": c.enrolled, "waiting": c.waiting},
        first_send_at=campaign.first_send_at, last_send_at=campaign.last_send_at, winner=winner_json(campaign.winner),
        cancelled_at=campaign.cancelled_at, active=1 if campaign.active else None, listed=LISTED,
        created_key=created_key(campaign), version=campaign.version,
    )


class CampaignRepository:
    def create(self, campaign: Campaign) -> None:
        try:
            _row(campaign).save(condition=CampaignModel.campaign_id.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise CampaignConflict(campaign.campaign_id) from None
            raise

    def get(self, campaign_id: str) -> Campaign | None:
        if not campaign_id or len(campaign_id.encode()) > 1024:
            return None
        try:
            return campaign_of_row(CampaignModel.get(campaign_id, consistent_read=True))
        except CampaignModel.DoesNotExist:
            return None

    def listing(self, after: str | None = None, limit: int = LIST_LIMIT) -> tuple[list[Campaign], str | None]:
        """One page of the campaigns, newest first, older than the list key `after` (`created_key`), and the key
        to continue after (None: the last page). One Query, which reads one campaign more to tell."""
        older = CampaignModel.created_key < after if after else None
        rows = CampaignModel.list_index.query(LISTED, older, scan_index_forward=False, limit=limit + 1)
        found = [campaign_of_row(row) for row in rows]
        page = found[:limit]
        return page, created_key(page[-1]) if len(found) > limit else None

    def active(self) -> list[Campaign]:
        """Campaigns still fanning out or sending (the index is eventually consistent: the tick re-reads each
        before it writes, through `save`'s version condition)."""
        return [campaign_of_row(row) for row in CampaignModel.active_index.query(1)]

    def save(self, campaign: Campaign) -> Campaign:
        """Writes `campaign` over the version it was read at; CampaignConflict when that is no longer stored."""
        saved = replace(campaign, version=campaign.version + 1)
        try:
            _row(saved).save(condition=CampaignModel.version == campaign.version)
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise CampaignConflict(campaign.campaign_id) from None
            raise
        return saved
