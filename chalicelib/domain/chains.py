"""The chain state machine: a contact's place in a chain, and what happens when it falls due.

The runtime stores an Enrollment per (contact, chain) and calls `advance` whenever its `due_at` passes.
`advance` walks the steps that need nothing from the outside world (elapsed waits, decided branches,
exits) and stops at the first send or hook, returning it as the action to perform. When the contact
rules defer that send, persist `postpone(transition, decision.at)` instead of `transition.state`; when
they skip it, persist `transition.state` (the step is done); when they say exit, persist
`leave(transition.state, reason, now)`.

Waits count from the instant the previous step ran (for a send: when it was decided), so deferred sends
keep the spacing between messages; a step reached by an elapsed wait starts at the planned instant, not at
whenever the tick ran, so a late tick does not stretch the chain.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from chalicelib.domain.model import BranchStep, Chain, ExitStep, HookStep, SendStep, Strategy, WaitStep
from chalicelib.domain.reasons import ExitReason
from chalicelib.domain.rules import ContactView

Status = Literal["running", "paused", "exited", "completed"]

# Which events set which reaction flags on the contact's enrollments.
REACTION_EVENTS: Mapping[str, tuple[str, ...]] = {
    "email_opened": ("opened",),
    "email_clicked": ("opened", "clicked"),
    "push_opened": ("opened", "clicked"),
    "sms_clicked": ("clicked",),
    "order_placed": ("ordered",),
    "survey_completed": ("survey_answered",),
    "site_visit": ("visited",),
}
CONSENT_CHANGED = "consent_changed"
# Hooks that hand the contact to advertising (ad audiences) need a marketing consent, as a send does; the stop
# list only ever narrows what is sent and needs none.
HOUSEKEEPING_HOOKS = frozenset({"stop_list"})
MARKETING = "marketing"
_REACTED = frozenset({"opened", "clicked"})
# A goal event already recorded as a flag (e.g. an order that raced the tick) still ends the chain.
_GOAL_FLAGS = {"order_placed": "ordered", "survey_completed": "survey_answered", "site_visit": "visited",
               "email_clicked": "clicked", "email_opened": "opened"}


@dataclass(frozen=True)
class Enrollment:
    contact_id: str
    chain_id: str
    step: int
    status: Status
    entered_at: datetime
    step_started_at: datetime
    due_at: datetime | None  # when to call advance next; None when nothing is pending
    opened: bool = False
    clicked: bool = False
    ordered: bool = False
    survey_answered: bool = False
    visited: bool = False
    exit_reason: str | None = None
    ended_at: datetime | None = None

    @property
    def flags(self) -> frozenset[str]:
        return frozenset(name for name in ("opened", "clicked", "ordered", "survey_answered", "visited")
                         if getattr(self, name))

    @property
    def active(self) -> bool:
        return self.status in ("running", "paused")


@dataclass(frozen=True)
class SendAction:
    chain_id: str
    step: int
    step_id: str
    occasion: str
    channels: tuple[str, ...]
    sms_allowed: bool
    due_at: datetime  # when the step fell due: the send's validity runs from here


@dataclass(frozen=True)
class HookAction:
    chain_id: str
    step: int
    step_id: str
    hook: str  # e.g. "retargeting" (export to ad audiences), "stop_list"
    until: datetime | None


@dataclass(frozen=True)
class Transition:
    state: Enrollment  # the state once `action` is done (or the only state when there is none)
    action: SendAction | HookAction | None = None
    pending: Enrollment | None = None  # the state at the action's step, for postpone()

    @property
    def due_at(self) -> datetime | None:
        return self.state.due_at


@dataclass(frozen=True)
class ContactEvent:
    type: str
    occurred_at: datetime
    properties: Mapping[str, object] = field(default_factory=dict)


def start(chain: Chain, existing: Enrollment | None, contact_id: str, now: datetime) -> Enrollment | None:
    """A fresh enrollment at step 0, due now; None when the re-entry rules keep the contact out."""
    if existing is not None:
        if existing.active and not chain.reentry.restart:
            return None
        if not existing.active:
            policy, after = chain.reentry.policy, chain.reentry.after
            if policy == "never" or (policy == "after" and after and now - existing.entered_at < after):
                return None
    return Enrollment(contact_id=contact_id, chain_id=chain.id, step=0, status="running", entered_at=now,
                      step_started_at=now, due_at=now)


def advance(chain: Chain, state: Enrollment, contact: ContactView, now: datetime) -> Transition:
    if state.status != "running":
        return Transition(state)
    if not contact.data_processing:
        return Transition(leave(state, ExitReason.DATA_PROCESSING_WITHDRAWN, now))
    goal = next((e for e in sorted(chain.exit_on) if _GOAL_FLAGS.get(e) in state.flags), None)
    if goal is not None:
        return Transition(leave(state, f"{ExitReason.GOAL}:{goal}", now))
    if not reachable(chain, contact):
        return Transition(_revoked(chain, state, now))
    current = state
    for _ in range(len(chain.steps) + 1):
        index = current.step
        if index >= len(chain.steps):
            return Transition(_end(current, "completed", ExitReason.COMPLETED, now))
        step = chain.steps[index]
        if isinstance(step, WaitStep):
            ends = current.step_started_at + step.wait
            if now < ends:
                return Transition(replace(current, due_at=ends))
            current = _at_step(current, index + 1, ends)
        elif isinstance(step, BranchStep):
            deadline = current.step_started_at + (step.within or timedelta())
            if step.condition.holds(current.flags, contact.attributes):
                current = _at_step(current, step.then, max(now, current.step_started_at))
            elif now >= deadline:
                current = _at_step(current, step.otherwise, deadline)
            else:
                return Transition(replace(current, due_at=deadline))
        elif isinstance(step, ExitStep):
            if step.condition is None:
                return Transition(_end(current, "completed", ExitReason.EXIT_STEP, now))
            if step.condition.holds(current.flags, contact.attributes):
                return Transition(leave(current, f"{ExitReason.GOAL}:{step.condition.describe()}", now))
            current = _at_step(current, index + 1, current.step_started_at)
        else:
            return _act(chain, current, step, index, contact, now)
    return Transition(_end(current, "completed", ExitReason.COMPLETED, now))


def _act(chain: Chain, current: Enrollment, step: SendStep | HookStep, index: int, contact: ContactView,
         now: datetime) -> Transition:
    action: SendAction | HookAction
    if isinstance(step, SendStep):
        sms = step.sms == "allowed" or (step.sms == "on_no_reaction" and not current.flags & _REACTED)
        action = SendAction(chain.id, index, step.id, step.occasion, step.channels, sms,
                            current.step_started_at)
    else:
        until = now + step.duration if step.duration else None
        action = HookAction(chain.id, index, step.id, step.hook, until)
    after = _at_step(current, index + 1, now)
    rest = advance(chain, after, contact, now)
    settled = rest.state if rest.action is None else after
    return Transition(settled, action, pending=current)


def postpone(transition: Transition, until: datetime) -> Enrollment:
    """The state to store when the contact rules defer the transition's send until `until`."""
    base = transition.pending or transition.state
    return replace(base, due_at=until)


def leave(state: Enrollment, reason: str, now: datetime) -> Enrollment:
    return _end(state, "exited", reason, now)


def reachable(chain: Chain, contact: ContactView) -> bool:
    """Whether any channel x purpose the chain sends on is still open to the contact; a chain of hooks only
    (retargeting) while a marketing consent is granted on some channel."""
    if chain.reach:
        return any(contact.may_receive(r.channel, r.purpose, r.opt_in) for r in chain.reach)
    if any(isinstance(s, HookStep) and s.hook not in HOUSEKEEPING_HOOKS for s in chain.steps):
        return any(granted for (_, purpose), granted in contact.consents.items() if purpose == MARKETING)
    return True


def react(
    strategy: Strategy, event: ContactEvent, contact: ContactView, enrollments: Mapping[str, Enrollment],
    now: datetime,
) -> tuple[Enrollment, ...]:
    """The enrollments an event changes or creates: goal exits, reaction flags (waking branches that wait
    for them), pauses and resumes on consent changes, and chains the event starts."""
    changed: dict[str, Enrollment] = {}
    target = event.properties.get("chain_id")
    flags = REACTION_EVENTS.get(event.type, ())
    for chain_id, state in enrollments.items():
        chain = strategy.chains.get(chain_id)
        if chain is None or not state.active:
            continue
        if event.type in chain.exit_on:
            changed[chain_id] = leave(state, f"{ExitReason.GOAL}:{event.type}", now)
            continue
        updated = state
        if flags and (target is None or target == chain_id):
            updated = _with_flags(updated, frozenset(flags))
            if updated.status == "running" and isinstance(_current_step(chain, updated), BranchStep):
                updated = replace(updated, due_at=now)
        if not contact.data_processing:
            updated = leave(updated, ExitReason.DATA_PROCESSING_WITHDRAWN, now)
        elif updated.status == "running" and not reachable(chain, contact):
            updated = _revoked(chain, updated, now)
        elif updated.status == "paused" and reachable(chain, contact):
            updated = replace(updated, status="running", due_at=now)
        if updated != state:
            changed[chain_id] = updated
    if contact.data_processing:
        for chain in strategy.chains.values():
            triggered = any(t.matches(event.type, event.properties) for t in chain.start)
            if triggered and reachable(chain, contact):
                previous = changed.get(chain.id, enrollments.get(chain.id))
                entered = start(chain, previous, contact.contact_id, now)
                if entered is not None:
                    changed[chain.id] = entered
    return tuple(changed.values())


def _with_flags(state: Enrollment, flags: frozenset[str]) -> Enrollment:
    return replace(
        state, opened=state.opened or "opened" in flags, clicked=state.clicked or "clicked" in flags,
        ordered=state.ordered or "ordered" in flags, visited=state.visited or "visited" in flags,
        survey_answered=state.survey_answered or "survey_answered" in flags,
    )


def _current_step(chain: Chain, state: Enrollment) -> object:
    return chain.steps[state.step] if state.step < len(chain.steps) else None


def _revoked(chain: Chain, state: Enrollment, now: datetime) -> Enrollment:
    if chain.on_consent_revoked == "pause":
        return replace(state, status="paused", due_at=None)
    return leave(state, ExitReason.CONSENT_REVOKED, now)


def _at_step(state: Enrollment, index: int, at: datetime) -> Enrollment:
    return replace(state, step=index, step_started_at=at, due_at=at)


def _end(state: Enrollment, status: Status, reason: str, now: datetime) -> Enrollment:
    return replace(state, status=status, due_at=None, exit_reason=reason, ended_at=now)
