"""POST /v1/admin/contacts/{id}/touches: a manager marks a touch of an occasion done or not done, or asks
touchplan to send the occasion's template.

One mark per contact, occasion and period (domain.manual): the mark is the touch row at the period's key,
written with a condition, so a second mark of the period (or a concurrent one) gets 409 with the mark that
stands; so does a mark of the previous period less than a period ago (read first: two concurrent marks on
either side of a period boundary are the one race this leaves). A "not done" or refused mark may be
replaced by a later one; a done or sent one stands.

A send (email, sms) goes through the step worker's decision path and delivery (consent, suppression, caps,
quiet hours, the reservation before the provider call). Quiet hours or the B2B window defer it: a timer
sends it when the rules allow; a full cap refuses it like a mark.

A send, and a mark done that counts toward the manual caps, is written under the contact's lock, as a chain
send is: its write moves the contact's version on from the one its decision read, so of the sends and marks
decided on one contact at once one is written and the others decide again with it in their history.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.clock import Clock
from chalicelib.domain.lifecycle import Timer
from chalicelib.domain.manual import (
    MANUAL_CHANNELS,
    REPLACEABLE,
    SENDABLE,
    judge_mark,
    mark_key,
    period_of,
    previous_key,
    too_soon,
)
from chalicelib.domain.model import Occasion, Strategy
from chalicelib.domain.reasons import Rule
from chalicelib.domain.rules import Decision, Suppression, Touch, decide, longest_window, request_for
from chalicelib.services.errors import ClientError
from chalicelib.services.steps import CONTACT_RACES, SendHeld, contact_view
from chalicelib.store.contacts import ContactRepository
from chalicelib.store.enrollments import ContactMoved
from chalicelib.store.errors import StorageBusy
from chalicelib.store.snapshots import ContactSnapshot
from chalicelib.store.timers import DueTimer, TimerRepository
from chalicelib.store.touches import TouchRecord, TouchRepository

if TYPE_CHECKING:
    from collections.abc import Callable

    from chalicelib.services.steps import StepWorker

COMMENT_LENGTH = 1000
FIELDS = ("occasion_id", "channel", "comment", "done", "send")
MANUAL = "manual"  # the rule and decision of a mark done by hand


@dataclass(frozen=True)
class MarkRequest:
    occasion_id: str
    channel: str
    comment: str | None
    done: bool
    send: bool


def parse_mark(body: Any, occasions: Any) -> MarkRequest:
    if not isinstance(body, dict):
        raise ClientError("invalid_body", "The body must be a JSON object.", None)
    for name in body:
        if name not in FIELDS:
            raise ClientError("unknown_field", f"Unknown field {name!r} (expected {', '.join(FIELDS)}).", name)
    occasion_id = body.get("occasion_id")
    if not isinstance(occasion_id, str) or occasion_id not in occasions:
        raise ClientError("invalid_field", "occasion_id must name an occasion (GET /v1/admin/occasions).",
                          "occasion_id")
    channel = body.get("channel")
    if channel not in MANUAL_CHANNELS:
        raise ClientError("invalid_field", f"channel must be one of {', '.join(MANUAL_CHANNELS)}.", "channel")
    comment = body.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > COMMENT_LENGTH):
        raise ClientError("invalid_field", f"comment must be text of at most {COMMENT_LENGTH} characters.",
                          "comment")
    done, send = body.get("done", True), body.get("send", False)
    for name, value in (("done", done), ("send", send)):
        if not isinstance(value, bool):
            raise ClientError("invalid_field", f"{name} must be true or false.", name)
    if not done and not (comment or "").strip():
        raise ClientError("invalid_field", "A touch not done needs a comment saying why.", "comment")
    if send and (not done or channel not in SENDABLE):
        raise ClientError("invalid_field", f"send is for a touch done on {' or '.join(SENDABLE)}.", "send")
    if send and channel not in occasions[occasion_id].templates:
        raise ClientError("invalid_field", f"The occasion has no {channel} template to send.", "channel")
    return MarkRequest(occasion_id, str(channel), comment.strip() if comment else None, done, send)


def mark_view(touch: TouchRecord) -> dict[str, Any]:
    shown = asdict(touch)
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in shown.items() if k != "history"}


@dataclass
class ManualTouches:
    strategy: Strategy
    contacts: ContactRepository
    touches: TouchRepository
    snapshots: Callable[[str], ContactSnapshot | None]
    sender: Callable[[], StepWorker]  # the step worker, built on the first send: its decision path and delivery
    timers: TimerRepository
    clock: Clock

    def mark(self, contact_id: str, body: Any, point_id: str | None, actor: str) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body): 201 with the mark, 202 with a send deferred; ClientError 404 / 409 / 400."""
        contact = self.contacts.get(contact_id)
        if contact is None or contact.status == "erased" or (point_id is not None and contact.point_id != point_id):
            raise ClientError("not_found", "No contact with this id.", None, status=404)
        request = parse_mark(body, self.strategy.occasions)
        snapshot = self.snapshots(contact_id)
        if snapshot is None:
            raise ClientError("not_found", "No contact with this id.", None, status=404)
        now = self.clock.now()
        occasion = self.strategy.occasions[request.occasion_id]
        key = mark_key(occasion.id, period_of(occasion, now)[0])
        for standing in (self.touches.get(contact_id, key), self.touches.get(contact_id, previous_key(occasion, now))):
            if standing is not None and standing.status not in REPLACEABLE and too_soon(
                    occasion, standing.created_at, now):
                raise _already(standing)
        touch = TouchRecord(
            contact_id=contact_id, touch_key=key, touch_id=str(uuid.uuid4()), channel=request.channel,
            occasion_id=occasion.id, category=occasion.category, status="not_done", created_at=now,
            decision="not_done", rule=MANUAL, actor=actor, comment=request.comment,
        )
        if not request.done:
            return 201, {"mark": mark_view(self._place(touch))}
        for _ in range(CONTACT_RACES):
            try:
                if request.send:
                    return self._send(touch, occasion, snapshot, now)
                return self._mark_done(touch, occasion, snapshot, now)
            except ContactMoved:
                # A send or mark on the contact was written since it was read: decided again with it counted.
                snapshot = self.snapshots(contact_id)
                if snapshot is None or snapshot.status == "erased":
                    raise ClientError("not_found", "No contact with this id.", None, status=404) from None
        raise StorageBusy("the contact kept changing while its touch was marked")

    def _mark_done(self, touch: TouchRecord, occasion: Occasion, snapshot: ContactSnapshot,
                   now: datetime) -> tuple[int, dict[str, Any]]:
        refusal = judge_mark(self.strategy, occasion, touch.channel, contact_view(snapshot),
                             Suppression(snapshot.suppressed_channels, snapshot.stop_listed),
                             self._history(touch.contact_id, now), now)
        if refusal is not None:
            raise self._refuse(touch, refusal)
        done = replace(touch, status="done", decision="done")
        return 201, {"mark": mark_view(self._place(done, version=snapshot.version))}

    def _history(self, contact_id: str, now: datetime) -> tuple[Touch, ...]:
        return tuple(Touch(t.counted_at, t.channel, t.category, t.status, t.occasion_id)
                     for t in self.touches.recent(contact_id, now, longest_window(self.strategy)))

    def _place(self, touch: TouchRecord, replaceable: tuple[str, ...] = REPLACEABLE,
               version: int | None = None) -> TouchRecord:
        """Writes the mark; with the contact's `version` (a touch that counts toward a cap) under the contact's
        lock, ContactMoved when it changed since it was read."""
        standing = self.touches.mark_by_hand(touch, replaceable, version)
        if standing is not None:
            raise _already(standing)
        return self.touches.get(touch.contact_id, touch.touch_key) or touch

    def _refuse(self, touch: TouchRecord, decision: Decision) -> ClientError:
        """Records the refusal on the contact's card (the checklist shows it) and answers 409 naming the rule."""
        reason = _reason(decision)
        self._place(replace(touch, status="refused", decision="skip", reason=reason, rule=str(decision.rule)))
        named = f"{decision.rule} ({reason})"
        return ClientError("refused", f"The contact rules forbid this touch: {named}.", "channel", status=409)

    def _send(self, touch: TouchRecord, occasion: Occasion, snapshot: ContactSnapshot,
              now: datetime) -> tuple[int, dict[str, Any]]:
        worker = self.sender()
        request = request_for(self.strategy, occasion.id, now, key=touch.touch_key, channels=(touch.channel,))
        decision = decide(request, worker.rule_context(snapshot, request, now), self.strategy, now)
        if decision.action in ("skip", "exit") or decision.rule == Rule.FREQUENCY_CAP:
            raise self._refuse(touch, decision)
        if decision.action == "defer":
            assert decision.at is not None
            deferred = self._place(replace(touch, status="deferred", decision="defer", reason=str(decision.reason),
                                           rule=str(decision.rule), until=decision.at))
            self._arm(touch, decision.at, now)
            return 202, {"mark": mark_view(deferred), "deferred_until": decision.at.isoformat()}
        reserved = replace(touch, status="reserved", decision="send", reason=None, rule=None,
                           variant=decision.variant)
        self._place(reserved, version=snapshot.version)
        self._deliver(worker, reserved, request.purpose, snapshot, now)
        return 201, {"mark": mark_view(self.touches.get(touch.contact_id, touch.touch_key) or reserved)}

    def _deliver(self, worker: StepWorker, touch: TouchRecord, purpose: str, snapshot: ContactSnapshot,
                 now: datetime) -> None:
        try:
            worker.deliver(touch, purpose, snapshot, None, now)
        except SendHeld:
            raise ClientError("provider_busy", "The provider did not take the message; send it again in a minute.",
                              None, status=503) from None

    def _arm(self, touch: TouchRecord, at: datetime, now: datetime) -> None:
        properties: dict[str, object] = {"touch_key": touch.touch_key, "occasion_id": touch.occasion_id,
                                         "channel": touch.channel}
        self.timers.arm(touch.contact_id, Timer("manual_send", at, "manual_send_due", touch.touch_key, properties),
                        now)

    def send_due(self, timer: DueTimer, now: datetime) -> None:
        """A deferred send fell due (the step worker fires the timer): decided again, sent, deferred again or
        refused; a mark that changed meanwhile is left alone."""
        for _ in range(CONTACT_RACES):
            try:
                self._send_due(timer, now)
                return
            except ContactMoved:
                continue  # a send on the contact was written since it was read: decided again with it counted
        raise StorageBusy("the contact kept changing while its deferred touch was sent")

    def _send_due(self, timer: DueTimer, now: datetime) -> None:
        key = str(timer.properties.get("touch_key", ""))
        touch = self.touches.get(timer.contact_id, key)
        snapshot = self.snapshots(timer.contact_id)
        if touch is None or touch.status != "deferred" or snapshot is None or snapshot.status == "erased":
            return
        occasion = self.strategy.occasions.get(touch.occasion_id)
        if occasion is None:
            return
        worker = self.sender()
        request = request_for(self.strategy, occasion.id, touch.created_at, key=key, channels=(touch.channel,))
        decision = decide(request, worker.rule_context(snapshot, request, now), self.strategy, now)
        fresh = replace(touch, touch_id=str(uuid.uuid4()), created_at=now)
        if decision.action == "defer" and decision.rule != Rule.FREQUENCY_CAP:
            assert decision.at is not None
            self.touches.mark_by_hand(replace(fresh, reason=str(decision.reason), rule=str(decision.rule),
                                              until=decision.at), ("deferred",))
            self._arm(touch, decision.at, now)
            return
        if decision.action != "send":
            reason = _reason(decision)
            self.touches.mark_by_hand(replace(fresh, status="refused", decision="skip", reason=reason,
                                              rule=str(decision.rule)), ("deferred",))
            return
        reserved = replace(fresh, status="reserved", decision="send", reason=None, rule=None, until=None,
                           variant=decision.variant)
        if self.touches.mark_by_hand(reserved, ("deferred",), snapshot.version) is None:
            worker.deliver(reserved, request.purpose, snapshot, None, now)


def _reason(decision: Decision) -> str:
    """The refusal's reason as stored on the touch, with the cap it names (cap_reached:manual-week)."""
    return f"{decision.reason}:{decision.detail}" if decision.detail else str(decision.reason)


def _already(standing: TouchRecord) -> ClientError:
    return ClientError("already_marked", f"This occasion was already marked for this contact in this period "
                       f"({standing.status}, {standing.created_at.isoformat()}).", "occasion_id", status=409,
                       detail={"mark": mark_view(standing)})
