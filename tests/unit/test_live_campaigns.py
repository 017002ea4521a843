"""The sending campaigns a step worker weighs: scheduled and finished ones left out, read once a minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.clock import FixedClock
from chalicelib.domain.campaigns import Audience, Campaign, Definition, SendAt
from chalicelib.services.live_campaigns import CACHE_SECONDS, LiveCampaigns

NOW = datetime(2026, 11, 25, 7, tzinfo=UTC)


def _campaign(campaign_id: str, status: str, first: datetime | None = None) -> Campaign:
    definition = Definition("company-news", Audience(segment="active"), ("email",), SendAt(at=NOW))
    return Campaign(campaign_id, definition, status, "olga", NOW, first_send_at=first)  # type: ignore[arg-type]


def test_only_campaigns_that_enrolled_someone_are_rivals_earliest_first_and_read_once_a_minute() -> None:
    stored = [_campaign("k-late", "sending", NOW + timedelta(hours=2)), _campaign("k-new", "scheduled"),
              _campaign("k-early", "fanning_out", NOW), _campaign("k-done", "done", NOW)]
    reads: list[datetime] = []
    clock = FixedClock(NOW)

    def load() -> list[Campaign]:
        reads.append(clock.now())
        return list(stored)

    live = LiveCampaigns(load, clock)
    assert [c.campaign_id for c in live()] == ["k-early", "k-late"]
    stored.append(_campaign("k-next", "sending", NOW))
    clock.advance(seconds=CACHE_SECONDS - 1)
    assert len(live()) == 2 and len(reads) == 1
    clock.advance(seconds=1)
    assert [c.campaign_id for c in live()] == ["k-early", "k-next", "k-late"] and len(reads) == 2
