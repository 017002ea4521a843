"""Campaigns in the admin API, and their fan-out on the tick.

Creating one stores it `scheduled`. From a day before its first zone's send time the tick fans it out: page by
page through the segment (or point) index from the stored cursor, each member held out, enrolled in the
campaign's pseudo-chain at their own local send time, or (the rest of an A/B campaign) left waiting for the
winner. Each page's enrolments are conditional puts (a page redone after a crash enrols nobody twice), then the
cursor and tallies move on in one conditional write: a cancel in between stops the fan-out there. The step
worker sends under every contact rule; what it sent, deferred and skipped is counted per variant in the stats
counters, which GET reads back beside the fan-out's tallies.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.clock import Clock
from chalicelib.domain.campaigns import (
    Campaign,
    Counts,
    InvalidCampaign,
    earliest_send,
    enrolled,
    fan_out_from,
    group_of,
    matches,
    next_occurrence,
    parse_definition,
    pick_after,
    pick_winner,
    send_instant,
)
from chalicelib.domain.campaigns import as_json as definition_json
from chalicelib.domain.chains import Enrollment
from chalicelib.domain.model import Strategy
from chalicelib.services import limits
from chalicelib.services.errors import ClientError
from chalicelib.store.campaigns import LIST_LIMIT, CampaignConflict, CampaignRepository
from chalicelib.store.contacts import Contact, ContactRepository
from chalicelib.store.enrollments import EnrollmentConflict, EnrollmentRepository
from chalicelib.store.snapshots import address_keys
from chalicelib.store.stats import CounterTotals, StatsRepository, counter_key

PAGE = 100  # members per fan-out page: one index Query
PAGES_PER_TICK = 40  # at most this many pages per campaign and tick; the next tick continues from the cursor
LIST_QUERY = ("cursor", "limit")


def _not_found() -> ClientError:
    return ClientError("not_found", "No campaign with this id.", None, status=404)


def _list_cursor(after: str) -> str:
    """Opaque to clients: the list key of the page's last (oldest) campaign."""
    raw = json.dumps({"a": after}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _list_after(cursor: str) -> str:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        data = None
    after = data.get("a") if isinstance(data, dict) else None
    if not isinstance(after, str) or "#" not in after:
        raise ClientError("invalid_field", "cursor must be the next_cursor of a campaigns page.", "cursor")
    return after


@dataclass
class CampaignsService:
    strategy: Strategy
    campaigns: CampaignRepository
    contacts: ContactRepository
    enrollments: EnrollmentRepository
    counters: StatsRepository
    clock: Clock
    page_size: int = PAGE

    # --- admin API -------------------------------------------------------------------------------------------
    def create(self, body: Any, actor: str) -> dict[str, Any]:
        now = self.clock.now()
        try:
            definition = parse_definition(body, self.strategy.occasions, tuple(self.strategy.channels), now)
        except InvalidCampaign as exc:
            raise ClientError("invalid_field", f"{exc.field or 'body'}: {exc.message}", exc.field or None) from None
        campaign = Campaign(campaign_id=uuid.uuid4().hex[:16], definition=definition, status="scheduled",
                            created_by=actor, created_at=now)
        self.campaigns.create(campaign)
        return self._view(campaign)

    def get(self, campaign_id: str) -> dict[str, Any]:
        campaign = self.campaigns.get(campaign_id)
        if campaign is None:
            raise _not_found()
        return self._view(campaign)

    def listing(self, query: Mapping[str, str]) -> dict[str, Any]:
        """A page of the campaigns, newest first (`limit`, default and at most 100), and the cursor of the next
        page (`next_cursor`, null on the last)."""
        for name in query:
            if name not in LIST_QUERY:
                raise ClientError("unknown_field", f"Unknown parameter {name!r} (expected {', '.join(LIST_QUERY)}).",
                                  name)
        limit = limits.page_limit(query.get("limit"), LIST_LIMIT, LIST_LIMIT)
        page, more = self.campaigns.listing(_list_after(query["cursor"]) if query.get("cursor") else None, limit)
        return {"campaigns": [self._summary(c) for c in page], "next_cursor": _list_cursor(more) if more else None}

    def cancel(self, campaign_id: str, actor: str) -> dict[str, Any]:
        """Stops the fan-out at its next page and every message not sent yet (the step worker reads the status
        in its own batch). 409 for a campaign already done or cancelled."""
        for _ in range(3):
            campaign = self.campaigns.get(campaign_id)
            if campaign is None:
                raise _not_found()
            if not campaign.active:
                raise ClientError("not_cancellable", f"The campaign is {campaign.status}.", None, status=409,
                                  detail={"status": campaign.status})
            try:
                saved = self.campaigns.save(replace(campaign, status="cancelled", cancelled_at=self.clock.now()))
            except CampaignConflict:
                continue  # a fan-out page landed meanwhile: cancel what it wrote too
            return self._view(saved)
        raise ClientError("busy", "The campaign is being fanned out; try again.", None, status=409)

    def _summary(self, campaign: Campaign) -> dict[str, Any]:
        return {
            "campaign_id": campaign.campaign_id, "status": campaign.status,
            "occasion_id": campaign.definition.occasion_id, "created_by": campaign.created_by,
            "created_at": campaign.created_at.isoformat(), "occurrence": campaign.occurrence,
        }

    def _view(self, campaign: Campaign) -> dict[str, Any]:
        c = campaign.counts
        sends = self._sends(campaign)
        finished = sends["sent"] + sends["skipped"] + sends["failed"]
        return {
            **self._summary(campaign),
            **definition_json(campaign.definition),
            "phase": campaign.phase,
            "first_send_at": campaign.first_send_at.isoformat() if campaign.first_send_at else None,
            "last_send_at": campaign.last_send_at.isoformat() if campaign.last_send_at else None,
            "cancelled_at": campaign.cancelled_at.isoformat() if campaign.cancelled_at else None,
            "winner": None if campaign.winner is None else {
                "variant": campaign.winner.variant, "metric": campaign.winner.metric,
                "picked_at": campaign.winner.picked_at.isoformat(), "numbers": campaign.winner.numbers},
            # audience = holdout + waiting + enrolled; enrolled = sent + skipped + failed + pending. A deferred
            # message is counted in `deferred` each time it is put off, and again once sent or skipped.
            "counts": {"audience": c.audience, "holdout": c.holdout, "waiting": c.waiting, "enrolled": c.enrolled,
                       **sends, "pending": max(c.enrolled - finished, 0)},
        }

    def sent_between(self, first: date, last: date) -> int:
        """Campaign messages sent over `first`..`last` inclusive. The seeds count campaigns as manual mailings:
        the console weighs them against the triggered sends."""
        sent, after = 0, None
        while True:
            page, after = self.campaigns.listing(after, LIST_LIMIT)
            for campaign in page:
                if campaign.created_at.date() <= last:
                    sent += sum(int(totals.counts["sent"]) for _, totals in self._counters(campaign, first, last))
            if after is None:
                return sent

    def _counters(self, campaign: Campaign, first: date, last: date) -> Iterator[tuple[str | None, CounterTotals]]:
        """The step worker's counters of every occurrence so far and every variant, with what they counted."""
        occasion = self.strategy.occasions.get(campaign.definition.occasion_id)
        variants = {v for ch in campaign.definition.channels for v in (occasion.variants(ch) if occasion else ())}
        for occurrence in range(campaign.occurrence + 1):
            for variant in (None, *sorted(variants)):
                totals = self.counters.totals(counter_key(campaign.chain_id(occurrence), 0, variant), first, last)
                if totals is not None:
                    yield variant, totals

    def _sends(self, campaign: Campaign) -> dict[str, Any]:
        """The step worker's counters of every occurrence so far, summed over variants."""
        first = campaign.created_at.date()
        last = max(first, self.clock.now().date()) + timedelta(days=1)
        out: dict[str, Any] = {"sent": 0, "opened": 0, "clicked": 0, "skipped": 0, "failed": 0, "deferred": 0,
                               "skipped_by_reason": {}, "deferred_by_reason": {}, "failed_by_reason": {},
                               "by_variant": {}}
        for variant, totals in self._counters(campaign, first, last):
            row = out["by_variant"].setdefault(variant or "-", {"sent": 0, "opened": 0, "clicked": 0})
            for name in ("sent", "opened", "clicked"):
                row[name] += int(totals.counts[name])
                out[name] += int(totals.counts[name])
            for kind in ("skipped", "deferred", "failed"):
                for reason, count in totals.reasons[kind].items():
                    by_reason = out[f"{kind}_by_reason"]
                    by_reason[reason] = by_reason.get(reason, 0) + count
                    out[kind] += count
        return out

    # --- the tick --------------------------------------------------------------------------------------------
    def work(self, now: datetime, out_of_time: Callable[[], bool] = lambda: False) -> int:
        """Moves every active campaign on (fan-out pages, the A/B pick, the end); the pages done."""
        pages = 0
        for campaign in self.campaigns.active():
            for _ in range(PAGES_PER_TICK):
                if out_of_time():
                    return pages
                try:
                    moved = self._move(campaign, now)
                except CampaignConflict:
                    break  # cancelled, or another tick moved it: that one carries on
                if moved is None:
                    break
                pages += 1
                campaign = moved
        return pages

    def _move(self, campaign: Campaign, now: datetime) -> Campaign | None:
        """One piece of work on the campaign, saved; None when nothing is due yet."""
        definition = campaign.definition
        if campaign.status == "scheduled":
            if now < fan_out_from(definition, campaign.occurrence):
                return None
            return self.campaigns.save(replace(campaign, status="fanning_out", cursor=None))
        if campaign.status == "fanning_out":
            return self.campaigns.save(self._page(campaign, now))
        if campaign.status != "sending":
            return None
        if definition.ab is not None and campaign.winner is None:
            due = pick_after(campaign) or (earliest_send(definition.send_at, campaign.occurrence)
                                           + definition.ab.pick_after)
            if now < due:
                return None
            winner = pick_winner(definition.ab, self._variant_counts(campaign), now)
            c = campaign.counts
            # The waiting rest is enrolled on a second pass, which counts each member again as it finds them.
            return self.campaigns.save(replace(
                campaign, winner=winner, phase="rest", status="fanning_out", cursor=None,
                counts=Counts(c.audience - c.waiting, c.holdout, c.enrolled, 0)))
        occasion = self.strategy.occasions.get(definition.occasion_id)
        validity = occasion.validity if occasion else timedelta()
        last = campaign.last_send_at or earliest_send(definition.send_at, campaign.occurrence)
        if now <= last + validity:
            return None  # deferred sends may still go out
        following = next_occurrence(definition, campaign.occurrence)
        if following is None:
            return self.campaigns.save(replace(campaign, status="done"))
        return self.campaigns.save(replace(
            campaign, status="scheduled", occurrence=following, phase="test" if campaign.winner is None else "rest",
            cursor=None, first_send_at=None, last_send_at=None))

    def _page(self, campaign: Campaign, now: datetime) -> Campaign:
        audience = campaign.definition.audience
        if audience.point_id is not None:
            members, cursor = self.contacts.point_page(audience.point_id, campaign.cursor, self.page_size)
        else:
            assert audience.segment is not None
            members, cursor = self.contacts.segment_page(audience.segment, campaign.cursor, self.page_size)
        tally = Counts()
        first: datetime | None = None
        last: datetime | None = None
        for contact in members:
            if contact.status != "active" or not matches(audience, contact.segment, contact.point_id,
                                                           contact.attributes):
                continue
            group = group_of(campaign.campaign_id, contact.contact_id, campaign.definition)
            if campaign.phase == "rest" and campaign.occurrence == 0:
                if group != "rest":
                    continue  # held out or tested on the first pass
            elif group == "holdout":
                tally = tally.add(Counts(audience=1, holdout=1))
                continue
            elif group == "rest" and campaign.winner is None:
                tally = tally.add(Counts(audience=1, waiting=1))
                continue
            due = self._enrol(campaign, contact, now)
            tally = tally.add(Counts(audience=1, enrolled=1))
            first = min(first or due, due)
            last = max(last or due, due)
        moved = enrolled(campaign, tally, first, last, cursor)
        return moved if cursor is not None else replace(moved, status="sending")

    def _enrol(self, campaign: Campaign, contact: Contact, now: datetime) -> datetime:
        """The member's enrolment, due at their local send time; an enrolment already there is kept."""
        definition = campaign.definition
        due = max(now, send_instant(definition.send_at, contact.timezone, contact.phone,
                                    self.strategy.fallback_zones, campaign.occurrence))
        # One entry instant per occurrence: the touch key, and with it "never twice", is the same on every retry.
        entered = earliest_send(definition.send_at, campaign.occurrence)
        state = Enrollment(contact_id=contact.contact_id, chain_id=campaign.chain_id(), step=0, status="running",
                           entered_at=entered, step_started_at=due, due_at=due)
        with suppress(EnrollmentConflict):  # enrolled by a page that was redone after a crash
            self.enrollments.save(state, None, now, addresses=address_keys(contact.email, contact.phone))
        return due

    def _variant_counts(self, campaign: Campaign) -> dict[str, dict[str, float]]:
        assert campaign.definition.ab is not None
        first: date = campaign.created_at.date()
        last = self.clock.now().date() + timedelta(days=1)
        counts: dict[str, dict[str, float]] = {}
        for variant in campaign.definition.ab.variants:
            totals = self.counters.totals(counter_key(campaign.chain_id(), 0, variant), first, last)
            counts[variant] = dict(totals.counts) if totals else {}
        return counts
