"""The step worker: one due enrolment step, decided by the domain and acted on at most once.

For a send, the touch row is reserved with a conditional write before the provider call and marked sent
after; a retried message finds the reservation and never calls the provider again (at-most-once for
marketing messages). Only a touch whose attempt provably never reached the provider (throttled, circuit
open) is `held` and may be tried again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.clock import Clock
from chalicelib.delivery.errors import (
    CircuitOpenError,
    PermanentSendError,
    RetryableSendError,
    TemplateRenderError,
)
from chalicelib.domain.chains import Enrollment, HookAction, SendAction, Transition, advance, leave, postpone
from chalicelib.domain.model import Strategy
from chalicelib.domain.rules import (
    ContactView,
    Decision,
    RuleContext,
    SendRequest,
    Suppression,
    Touch,
    decide,
    longest_window,
    request_for,
)
from chalicelib.services.outbound import Envelope, Outbound, Recipient
from chalicelib.services.records import PermanentRecordError
from chalicelib.store.enrollments import EnrollmentConflict, EnrollmentRepository, Stored
from chalicelib.store.snapshots import ContactSnapshot
from chalicelib.store.timers import DueTimer, TimerRepository, is_timer
from chalicelib.store.touches import TouchRecord, TouchRepository

if TYPE_CHECKING:
    from chalicelib.services.chain_events import ChainEvents

CHANNEL_ADDRESS = {"email": "email", "sms": "phone", "push": "push_endpoint"}
CONFLICT_ATTEMPTS = 3


class SendHeld(Exception):
    """The provider did not take the message (throttled, circuit open): retry this step later."""


def touch_key(state: Enrollment, step: int) -> str:
    """The send's idempotency key: one per enrolment entry and step, whatever retries happen."""
    return f"{state.chain_id}#{int(state.entered_at.timestamp())}#{step}"


def contact_view(snapshot: ContactSnapshot) -> ContactView:
    addresses = frozenset(c for c, attr in CHANNEL_ADDRESS.items() if getattr(snapshot, attr))
    return ContactView(
        contact_id=snapshot.contact_id, confirmed=snapshot.status == "active",
        data_processing=snapshot.data_processing, consents=snapshot.consents, addresses=addresses,
        time_zone=snapshot.timezone, phone=snapshot.phone, segment=snapshot.segment, b2b=snapshot.b2b,
        locale=(snapshot.locale or "ru").split("-")[0], attributes=snapshot.attributes,
    )


def recipient(snapshot: ContactSnapshot) -> Recipient:
    return Recipient(
        contact_id=snapshot.contact_id, email=snapshot.email, phone=snapshot.phone,
        push_endpoint=snapshot.push_endpoint, locale=snapshot.locale, attributes=snapshot.attributes,
    )


@dataclass(frozen=True)
class StepOutcome:
    status: str  # the enrolment's status after the step
    decision: str | None = None  # send | defer | skip | exit, when a send was due
    reason: str | None = None
    touch_status: str | None = None
    error_code: str | None = None  # a failed send: why


@dataclass
class StepWorker:
    strategy: Strategy
    enrollments: EnrollmentRepository
    touches: TouchRepository
    snapshots: Callable[[str], ContactSnapshot | None]
    outbound: Outbound
    links: Callable[[str], Mapping[str, str]]  # contact id -> unsubscribe_url, preferences_url
    clock: Clock
    timers: TimerRepository
    chain_events: ChainEvents
    suppress: Callable[[ContactSnapshot, str, datetime], None]  # (contact, reason, now): the stop-list hook
    on_sent: Callable[[TouchRecord, datetime], None] = lambda touch, now: None
    # Deferred, skipped or failed (a failed touch carries its error code): counted by reason.
    on_decided: Callable[[TouchRecord, datetime], None] = lambda touch, now: None
    on_timer: Callable[[DueTimer, datetime], None] = lambda timer, now: None  # segment moves, erasure

    def handle(self, body: Mapping[str, Any]) -> StepOutcome | None:
        try:
            contact_id, chain_id, claim = str(body["contact_id"]), str(body["chain_id"]), str(body["claim"])
        except KeyError as exc:
            raise PermanentRecordError(f"step message without {exc}") from exc
        if is_timer(chain_id):
            return self._fire_timer(contact_id, chain_id, claim)
        for attempt in range(CONFLICT_ATTEMPTS):
            stored = self.enrollments.get(contact_id, chain_id)
            if stored is None or stored.claim != claim:
                return None  # handled before (a redelivered message) or re-claimed by a later tick
            now = self.clock.now()
            state, outcome = self._decide_and_act(stored, now)
            try:
                self.enrollments.save(state, stored, now, claim=claim)
            except EnrollmentConflict:
                # An event changed the enrolment meanwhile; deciding again is safe, the touch is reserved.
                if attempt == CONFLICT_ATTEMPTS - 1:
                    raise
                continue
            return outcome
        return None

    def _fire_timer(self, contact_id: str, chain_id: str, claim: str) -> StepOutcome | None:
        timer = self.timers.get(contact_id, chain_id)
        if timer is None or timer.claim != claim:
            return None
        now = self.clock.now()
        self.on_timer(timer, now)
        started = self.chain_events.apply(contact_id, timer.event, now, now, timer.properties)
        self.timers.fired(timer, claim, now)
        return StepOutcome("completed", reason=f"{timer.event}: {', '.join(started) or 'no chain started'}")

    def _decide_and_act(self, stored: Stored, now: datetime) -> tuple[Enrollment, StepOutcome]:
        state = stored.state
        chain = self.strategy.chains.get(state.chain_id)
        if chain is None:
            gone = leave(state, "chain_removed", now)
            return gone, StepOutcome(gone.status)
        snapshot = self.snapshots(state.contact_id)
        if snapshot is None or snapshot.status == "erased":
            gone = leave(state, "contact_erased", now)
            return gone, StepOutcome(gone.status)
        transition = advance(chain, state, contact_view(snapshot), now)
        if isinstance(transition.action, SendAction):
            return self._send(transition, transition.action, snapshot, stored.context, now)
        if isinstance(transition.action, HookAction):
            self._hook(transition, transition.action, snapshot, now)
        return transition.state, StepOutcome(transition.state.status)

    def _send(
        self, transition: Transition, action: SendAction, snapshot: ContactSnapshot,
        context: Mapping[str, object] | None, now: datetime,
    ) -> tuple[Enrollment, StepOutcome]:
        at_step = transition.pending or transition.state
        key = touch_key(at_step, action.step)
        request = request_for(
            self.strategy, action.occasion, action.due_at, key=key, chain_id=action.chain_id, step=action.step,
            channels=action.channels, sms_allowed=action.sms_allowed,
        )
        decision = decide(request, self.rule_context(snapshot, request, now), self.strategy, now)
        touch = TouchRecord(
            contact_id=snapshot.contact_id, touch_key=key, touch_id=str(uuid.uuid4()),
            channel=decision.channel or action.channels[0], occasion_id=action.occasion,
            category=request.category, status=_status_of(decision), created_at=now, chain_id=action.chain_id,
            step=action.step, variant=decision.variant, decision=decision.action, reason=decision.reason,
            rule=decision.rule, until=decision.at if decision.action == "defer" else None,
        )
        if decision.action != "send":
            self.touches.record_decision(touch)
            self.on_decided(touch, now)
        if decision.action == "defer":
            assert decision.at is not None
            return postpone(transition, decision.at), _outcome(transition.state, decision, "deferred")
        if decision.action == "skip":
            return transition.state, _outcome(transition.state, decision, "skipped")
        if decision.action == "exit":
            gone = leave(transition.state, decision.reason, now)
            return gone, _outcome(gone, decision, "skipped")
        if not self.touches.reserve(touch):
            existing = self.touches.get(touch.contact_id, key)
            return transition.state, _outcome(transition.state, decision, existing.status if existing else None,
                                              existing.error_code if existing else None)
        delivered, error_code = self.deliver(touch, request.purpose, snapshot, context, now)
        return transition.state, _outcome(transition.state, decision, delivered, error_code)

    def deliver(
        self, touch: TouchRecord, purpose: str, snapshot: ContactSnapshot, context: Mapping[str, object] | None,
        now: datetime,
    ) -> tuple[str, str | None]:
        """The touch's status after the send, and the error code when it failed (also a manager's send:
        services.manual_touches sends through here, so both kinds of send are delivered and marked alike)."""
        occasion = self.strategy.occasions[touch.occasion_id]
        envelope = Envelope(touch.touch_id, touch.chain_id, touch.step, touch.category, purpose, touch.variant)
        chain = self.strategy.chains.get(touch.chain_id or "")
        try:
            sent = self.outbound.send(
                touch.channel, occasion, recipient(snapshot), envelope,
                {**self.strategy.links, **(context or {}), **self.links(snapshot.contact_id)}, now,
                events=tuple(trigger.event for trigger in chain.start) if chain else (),
            )
        except (RetryableSendError, CircuitOpenError) as exc:
            self.touches.mark(touch.contact_id, touch.touch_key, "held", now, error_code=exc.code, error=str(exc))
            raise SendHeld(str(exc)) from exc
        except (PermanentSendError, TemplateRenderError) as exc:
            # Reported on the touch; the chain moves on rather than sending a broken or refused message.
            self.touches.mark(touch.contact_id, touch.touch_key, "failed", now, error_code=exc.code, error=str(exc))
            self.on_decided(replace(touch, status="failed", error_code=exc.code, error=str(exc)), now)
            return "failed", exc.code
        self.touches.mark(
            touch.contact_id, touch.touch_key, "sent", now, provider_message_id=sent.provider_message_id,
            cost=float(sent.cost),
        )
        self.on_sent(touch, now)
        return "sent", None

    def rule_context(self, snapshot: ContactSnapshot, request: SendRequest, now: datetime) -> RuleContext:
        """What the rules see for this send; a manager's send is decided on it too (services.manual_touches)."""
        # A touch counts from when it was reserved for sending (created_at); feedback moves updated_at later.
        history = tuple(
            Touch(t.created_at, t.channel, t.category, t.status, t.occasion_id)
            for t in self.touches.recent(snapshot.contact_id, now, longest_window(self.strategy))
        )
        view = contact_view(snapshot)
        arbitration = self.strategy.arbitration
        arbitrated = arbitration is not None and request.category in arbitration.categories
        return RuleContext(
            contact=view,
            suppression=Suppression(snapshot.suppressed_channels, snapshot.stop_listed),
            history=history,
            competing=self._competing(view, request, now) if arbitrated else (),
        )

    def _competing(self, view: ContactView, request: SendRequest, now: datetime) -> tuple[SendRequest, ...]:
        """The contact's other sends due now (or being worked on now): arbitration lets the highest go first."""
        rivals = []
        for chain_id, other in self.enrollments.for_contact(view.contact_id).items():
            chain = self.strategy.chains.get(chain_id)
            due = other.state.due_at
            if chain is None or chain_id == request.chain_id or other.state.status != "running":
                continue
            if other.claim is None and (due is None or due > now):
                continue
            transition = advance(chain, other.state, view, now)
            if isinstance(transition.action, SendAction):
                action = transition.action
                rivals.append(request_for(
                    self.strategy, action.occasion, action.due_at,
                    key=touch_key(transition.pending or transition.state, action.step), chain_id=chain_id,
                    step=action.step, channels=action.channels, sms_allowed=action.sms_allowed,
                ))
        return tuple(rivals)

    def _hook(self, transition: Transition, action: HookAction, snapshot: ContactSnapshot, now: datetime) -> None:
        """A hook is not a message: the stop list suppresses the contact; an audience hook records the
        membership (until when) on the contact's touches, where exports and support read it."""
        if action.hook == "stop_list":
            self.suppress(snapshot, "stop_list", now)
        at_step = transition.pending or transition.state
        until = f" until {action.until.isoformat()}" if action.until else ""
        self.touches.record_decision(TouchRecord(
            contact_id=at_step.contact_id, touch_key=touch_key(at_step, action.step), touch_id=str(uuid.uuid4()),
            channel="hook", occasion_id=action.hook, category="hook", status="done", created_at=now,
            chain_id=action.chain_id, step=action.step, decision="hook", reason=f"{action.hook}{until}",
            rule="chain",
        ))


def _status_of(decision: Decision) -> str:
    return {"defer": "deferred", "skip": "skipped", "exit": "skipped"}.get(decision.action, "reserved")


def _outcome(
    state: Enrollment, decision: Decision, touch_status: str | None, error_code: str | None = None,
) -> StepOutcome:
    return StepOutcome(state.status, decision.action, decision.reason, touch_status, error_code)
