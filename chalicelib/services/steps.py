"""The step worker: one due enrolment step, decided by the domain and acted on at most once.

For a send, the touch row is reserved before the provider call, in the same transaction that advances the
enrolment and releases the tick's claim, and marked sent after; a redelivered message finds the claim gone and
never calls the provider again (at-most-once for marketing messages). Only a touch whose attempt provably
never reached the provider (throttled, circuit open) is `held`: the enrolment is put back as it was, claim
included, and the retried message tries again. A sent step costs one batched read of the enrolment and the
contact, the suppressions' read, the cap history's query, the transaction and the mark.

A cap is over all of a contact's touches, so a send's transaction also moves the contact's version on from
the one its decision read: of the workers deciding on one contact at once one wins, and the others, having
written nothing, decide again with the winner's touch in their history.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
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
from chalicelib.domain.campaigns import CANCELLED_REASON, Campaign, campaign_chain, campaign_of, variants_for
from chalicelib.domain.chains import (
    HOUSEKEEPING_HOOKS,
    Chain,
    Enrollment,
    HookAction,
    SendAction,
    Transition,
    advance,
    leave,
    postpone,
)
from chalicelib.domain.model import SendStep, Strategy
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
from chalicelib.store.enrollments import ContactMoved, EnrollmentConflict, EnrollmentRepository, Stored
from chalicelib.store.snapshots import ContactSnapshot
from chalicelib.store.timers import DueTimer, TimerRepository, is_timer
from chalicelib.store.touches import TouchRecord, TouchRepository, TouchWrite

if TYPE_CHECKING:
    from chalicelib.services.chain_events import ChainEvents

CHANNEL_ADDRESS = {"email": "email", "sms": "phone", "push": "push_endpoint"}
CONFLICT_ATTEMPTS = 3
# Each lost race on a contact means another worker's send on it won, so of 20 workers racing on one contact
# none decides more than 20 times; past this the message is retried later.
CONTACT_RACES = 32
# Campaign enrolments weighed as rivals, read in the step's one BatchGetItem (at most 100 keys) beside the
# enrolment, the strategy's chains, the contact, its suppressions and the campaign.
RIVAL_CAMPAIGNS = 50


class SendHeld(Exception):
    """The provider did not take the message (throttled, circuit open): retry this step later."""


def rival_chains(strategy: Strategy) -> tuple[str, ...]:
    """The chains whose enrolments arbitration may weigh: those with a send of an arbitrated category."""
    arbitration = strategy.arbitration
    if arbitration is None:
        return ()
    return tuple(
        chain_id for chain_id, chain in strategy.chains.items()
        if any(isinstance(step, SendStep) and (occasion := strategy.occasions.get(step.occasion)) is not None
               and occasion.category in arbitration.categories for step in chain.steps)
    )


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
    outbound: Outbound
    links: Callable[[str], Mapping[str, str]]  # contact id -> unsubscribe_url, preferences_url
    clock: Clock
    timers: TimerRepository
    chain_events: ChainEvents
    suppress: Callable[[ContactSnapshot, str, datetime], None]  # (contact, reason, now): the stop-list hook
    on_sent: Callable[[TouchRecord, datetime], None] = lambda touch, now: None  # once per send
    # Deferred, skipped or failed (a failed touch carries its error code): counted by reason.
    on_decided: Callable[[TouchRecord, datetime], None] = lambda touch, now: None
    on_timer: Callable[[DueTimer, datetime], None] = lambda timer, now: None  # segment moves, erasure
    # An audience hook's join (services.audiences): returns the reason its touch records.
    join_audience: Callable[[ContactSnapshot, HookAction, datetime], str] | None = None
    # The campaigns sending now (services.live_campaigns): their enrolments are arbitration rivals too.
    rival_campaigns: Callable[[], Sequence[Campaign]] = lambda: ()

    def handle(self, body: Mapping[str, Any]) -> StepOutcome | None:
        try:
            contact_id, chain_id, claim = str(body["contact_id"]), str(body["chain_id"]), str(body["claim"])
        except KeyError as exc:
            raise PermanentRecordError(f"step message without {exc}") from exc
        addresses = body.get("addresses")
        addresses = [str(a) for a in addresses] if isinstance(addresses, list) else []
        if is_timer(chain_id):
            return self._fire_timer(contact_id, chain_id, claim)
        conflicts = races = 0
        campaign_id = campaign_of(chain_id)
        while True:
            # Arbitration weighs the contact's other due sends, the chains' (only those that can send something
            # arbitrated: a key read costs a unit even when no row is there) and the sending campaigns': their
            # enrolments come in the same read, and so does a campaign step's campaign (a cancel is seen at send
            # time).
            rivals = self._rival_chains() if self.strategy.arbitration is not None else {}
            others = (*rival_chains(self.strategy), *rivals)
            read = self.enrollments.load_step(contact_id, chain_id, others, addresses, campaign=campaign_id)
            stored = read.stored
            if stored is None or stored.claim != claim:
                return None  # handled before (a redelivered message) or re-claimed by a later tick
            now = self.clock.now()
            plan = self._plan(stored, read.snapshot, read.others, now, read.campaign, rivals)
            if read.snapshot is not None:  # kept on the enrolment for the next step's read
                plan = replace(plan, addresses=read.snapshot.address_keys())
            try:
                return self._commit(plan, stored, claim, now)
            except EnrollmentConflict:
                # An event changed the enrolment meanwhile: nothing was written, deciding again is safe.
                conflicts += 1
                if conflicts == CONFLICT_ATTEMPTS:
                    raise
            except ContactMoved:
                # Another send on the contact won (or its consents changed): decide again with that counted.
                races += 1
                if races == CONTACT_RACES:
                    raise

    def _rival_chains(self) -> dict[str, Chain]:
        """The current occurrence's pseudo-chain of each sending campaign, by its chain id."""
        sending = self.rival_campaigns()[:RIVAL_CAMPAIGNS]
        return {c.chain_id(): campaign_chain(c, c.chain_id()) for c in sending}

    def _commit(self, plan: _Plan, stored: Stored, claim: str, now: datetime) -> StepOutcome:
        """Writes the step (touch and enrolment together), then sends what it reserved."""
        version = plan.send.snapshot.version if plan.send is not None else None
        if self.enrollments.advance(plan.state, stored, now, claim=claim, touch=plan.touch,
                                     addresses=plan.addresses, contact_version=version):
            if plan.send is None:
                if plan.touch is not None and plan.touch.decision != "hook":
                    self.on_decided(plan.touch.touch, now)
                return plan.outcome
            return self._send_reserved(plan, plan.send, stored, now)
        assert plan.touch is not None
        return self._touch_apart(plan, plan.touch, stored, claim, now)

    def _touch_apart(self, plan: _Plan, write: TouchWrite, stored: Stored, claim: str, now: datetime) -> StepOutcome:
        """The touch refused the transaction: reserved or sent before, or a history full enough to trim. The touch
        repository's own write tells which (and trims); the enrolment then moves on alone, as before there was a
        transaction: a send reserved here goes out before the enrolment is written."""
        touch = write.touch
        if plan.send is None:
            self.touches.record_decision(touch)
            self.enrollments.advance(plan.state, stored, now, claim=claim, addresses=plan.addresses)
            if write.decision != "hook":
                self.on_decided(touch, now)
            return plan.outcome
        if self.touches.reserve(touch):
            delivered, error_code = self.deliver(touch, plan.send.purpose, plan.send.snapshot, plan.send.context, now)
            self.enrollments.advance(plan.state, stored, now, claim=claim, addresses=plan.addresses)
            return replace(plan.outcome, touch_status=delivered, error_code=error_code)
        self.enrollments.advance(plan.state, stored, now, claim=claim, addresses=plan.addresses)
        existing = self.touches.get(touch.contact_id, touch.touch_key)
        return replace(plan.outcome, touch_status=existing.status if existing else None,
                       error_code=existing.error_code if existing else None)

    def _send_reserved(self, plan: _Plan, send: _Send, stored: Stored, now: datetime) -> StepOutcome:
        assert plan.touch is not None
        try:
            delivered, error_code = self.deliver(plan.touch.touch, send.purpose, send.snapshot, send.context, now)
        except SendHeld:
            self.enrollments.restore(stored, plan.state, now)
            raise
        return replace(plan.outcome, touch_status=delivered, error_code=error_code)

    def _fire_timer(self, contact_id: str, chain_id: str, claim: str) -> StepOutcome | None:
        timer = self.timers.get(contact_id, chain_id)
        if timer is None or timer.claim != claim:
            return None
        now = self.clock.now()
        self.on_timer(timer, now)
        started = self.chain_events.apply(contact_id, timer.event, now, now, timer.properties)
        self.timers.fired(timer, claim, now)
        return StepOutcome("completed", reason=f"{timer.event}: {', '.join(started) or 'no chain started'}")

    def _plan(
        self, stored: Stored, snapshot: ContactSnapshot | None, others: Mapping[str, Stored], now: datetime,
        campaign: Campaign | None = None, rivals: Mapping[str, Chain] | None = None,
    ) -> _Plan:
        """What the step decides: the enrolment's next state and the touch to write with it. Nothing is
        written here, except the stop list a hook asks for (idempotent)."""
        state = stored.state
        chain = self.strategy.chains.get(state.chain_id)
        if chain is None and campaign is not None:
            if campaign.status == "cancelled":
                return self._cancelled(state, campaign, now)
            chain = campaign_chain(campaign, state.chain_id)
        if chain is None:
            gone = leave(state, "chain_removed", now)
            return _Plan(gone, StepOutcome(gone.status))
        if snapshot is None or snapshot.status == "erased":
            gone = leave(state, "contact_erased", now)
            return _Plan(gone, StepOutcome(gone.status))
        transition = advance(chain, state, contact_view(snapshot), now)
        if isinstance(transition.action, SendAction):
            return self._decide_send(transition, transition.action, snapshot, stored.context, others, now, campaign,
                                     rivals)
        if isinstance(transition.action, HookAction):
            return _Plan(transition.state, StepOutcome(transition.state.status),
                         self._hook(transition, transition.action, snapshot, now))
        return _Plan(transition.state, StepOutcome(transition.state.status))

    def _decide_send(
        self, transition: Transition, action: SendAction, snapshot: ContactSnapshot,
        context: Mapping[str, object] | None, others: Mapping[str, Stored], now: datetime,
        campaign: Campaign | None = None, rivals: Mapping[str, Chain] | None = None,
    ) -> _Plan:
        at_step = transition.pending or transition.state
        key = touch_key(at_step, action.step)
        request = request_for(
            self.strategy, action.occasion, action.due_at, key=key, chain_id=action.chain_id, step=action.step,
            channels=action.channels, sms_allowed=action.sms_allowed,
        )
        if campaign is not None:  # an A/B campaign's test share gets the tested variants, the rest the winner
            request = replace(request, variants={
                channel: chosen for channel, offered in request.variants.items()
                if (chosen := variants_for(campaign, snapshot.contact_id, offered))})
        decision = decide(request, self.rule_context(snapshot, request, now, others, rivals), self.strategy, now)
        touch = TouchRecord(
            contact_id=snapshot.contact_id, touch_key=key, touch_id=str(uuid.uuid4()),
            channel=decision.channel or action.channels[0], occasion_id=action.occasion,
            category=request.category, status=_status_of(decision), created_at=now, chain_id=action.chain_id,
            step=action.step, variant=decision.variant, decision=decision.action, reason=decision.reason,
            rule=decision.rule, until=decision.at if decision.action == "defer" else None,
        )
        if decision.action == "defer":
            assert decision.at is not None
            return _Plan(postpone(transition, decision.at), _outcome(transition.state, decision, "deferred"),
                         TouchWrite.deciding(touch))
        if decision.action == "skip":
            return _Plan(transition.state, _outcome(transition.state, decision, "skipped"), TouchWrite.deciding(touch))
        if decision.action == "exit":
            gone = leave(transition.state, decision.reason, now)
            return _Plan(gone, _outcome(gone, decision, "skipped"), TouchWrite.deciding(touch))
        return _Plan(transition.state, _outcome(transition.state, decision, "reserved"), TouchWrite.reserving(touch),
                     _Send(request.purpose, snapshot, context))

    def _cancelled(self, state: Enrollment, campaign: Campaign, now: datetime) -> _Plan:
        """A cancelled campaign's step: ended unsent, and counted as skipped for the cancel."""
        occasion = self.strategy.occasions.get(campaign.definition.occasion_id)
        category = self.strategy.categories.get(occasion.category) if occasion else None
        gone = leave(state, CANCELLED_REASON, now)
        touch = TouchRecord(
            contact_id=state.contact_id, touch_key=touch_key(state, state.step), touch_id=str(uuid.uuid4()),
            channel=campaign.definition.channels[0], occasion_id=campaign.definition.occasion_id,
            category=category.id if category else "manual", status="skipped", created_at=now,
            chain_id=state.chain_id, step=state.step, decision="skip", reason=CANCELLED_REASON, rule="campaign",
        )
        return _Plan(gone, StepOutcome(gone.status, "skip", CANCELLED_REASON, "skipped"), TouchWrite.deciding(touch))

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
        if self.touches.mark(touch.contact_id, touch.touch_key, "sent", now,
                             provider_message_id=sent.provider_message_id, cost=float(sent.cost)):
            self.on_sent(touch, now)  # counted once: only the mark that moved the touch from reserved
        return "sent", None

    def rule_context(
        self, snapshot: ContactSnapshot, request: SendRequest, now: datetime,
        others: Mapping[str, Stored] | None = None, rivals: Mapping[str, Chain] | None = None,
    ) -> RuleContext:
        """What the rules see for this send; a manager's send is decided on it too (services.manual_touches).
        `others`: the contact's other enrolments, which arbitration weighs (none for a manager's send), in the
        strategy's chains or in the campaigns' pseudo-chains `rivals`."""
        # A touch counts from when it was reserved for sending (created_at); feedback moves updated_at later.
        history = tuple(
            Touch(t.counted_at, t.channel, t.category, t.status, t.occasion_id)
            for t in self.touches.recent(snapshot.contact_id, now, longest_window(self.strategy))
        )
        view = contact_view(snapshot)
        arbitration = self.strategy.arbitration
        arbitrated = arbitration is not None and request.category in arbitration.categories
        return RuleContext(
            contact=view,
            suppression=Suppression(snapshot.suppressed_channels, snapshot.stop_listed),
            history=history,
            competing=self._competing(view, request, others or {}, rivals or {}, now) if arbitrated else (),
        )

    def _competing(
        self, view: ContactView, request: SendRequest, others: Mapping[str, Stored], campaigns: Mapping[str, Chain],
        now: datetime,
    ) -> tuple[SendRequest, ...]:
        """The contact's other sends due now (or being worked on now): arbitration lets the highest go first."""
        rivals = []
        for chain_id, other in sorted(others.items()):
            chain = self.strategy.chains.get(chain_id) or campaigns.get(chain_id)
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

    def _hook(self, transition: Transition, action: HookAction, snapshot: ContactSnapshot, now: datetime) -> TouchWrite:
        """A hook is not a message: the stop list suppresses the contact; an audience hook joins the audience
        (idempotent, like the stop list) and records the membership (until when) on the contact's touches."""
        if action.hook == "stop_list":
            self.suppress(snapshot, "stop_list", now)
        at_step = transition.pending or transition.state
        until = f" until {action.until.isoformat()}" if action.until else ""
        reason = f"{action.hook}{until}"
        if action.hook not in HOUSEKEEPING_HOOKS and self.join_audience is not None:
            reason = self.join_audience(snapshot, action, now)
        return TouchWrite.deciding(TouchRecord(
            contact_id=at_step.contact_id, touch_key=touch_key(at_step, action.step), touch_id=str(uuid.uuid4()),
            channel="hook", occasion_id=action.hook, category="hook", status="done", created_at=now,
            chain_id=action.chain_id, step=action.step, decision="hook", reason=reason,
            rule="chain",
        ))


@dataclass(frozen=True)
class _Send:
    """A reserved send's inputs for the provider call."""

    purpose: str
    snapshot: ContactSnapshot
    context: Mapping[str, object] | None


@dataclass(frozen=True)
class _Plan:
    """A decided step: the enrolment's next state, its outcome, the touch written with it, and the send."""

    state: Enrollment
    outcome: StepOutcome
    touch: TouchWrite | None = None
    send: _Send | None = None
    addresses: tuple[str, ...] | None = None  # the contact's suppression keys now (None: keep the stored)


def _status_of(decision: Decision) -> str:
    return {"defer": "deferred", "skip": "skipped", "exit": "skipped"}.get(decision.action, "reserved")


def _outcome(
    state: Enrollment, decision: Decision, touch_status: str | None, error_code: str | None = None,
) -> StepOutcome:
    return StepOutcome(state.status, decision.action, decision.reason, touch_status, error_code)
