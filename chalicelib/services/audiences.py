"""Ad audiences: contacts join a named audience from a chain's hook step (or a campaign) for a while, leave it
on expiry, on consent withdrawal, on their chain's goal and on erasure, and are exported as the SHA-256
hashes Google Customer Match and Meta Custom Audiences upload.

Every join and leave is stored first (the export reads only the store, so it is right at once) and then
published to the `audiences` SNS topic. A publish SNS refuses is parked as a due timer of the contact
(`timer:audience_publish:<name>`, the messages in order in its properties) and published again by the step
worker when it falls due; a failure there is retried by the steps queue's redelivery, up to its dead-letter
queue. So a subscriber gets every change at least once and may get one twice (the message `id` is the same
each time); a parked change arrives after later ones, so a subscriber applies a message only if its `at` is
newer than the last it applied for the same contact, audience and identifier.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from chalicelib.delivery.errors import DeliveryError
from chalicelib.domain.audiences import (
    CSV_HEADER,
    GOOGLE,
    PLATFORMS,
    Hashes,
    csv_row,
    exportable,
    hashes,
    identifiers,
    is_audience_hook,
    only,
    valid_name,
)
from chalicelib.domain.chains import CONSENT_CHANGED, HookAction
from chalicelib.domain.lifecycle import TIMER_EVENTS, Timer, TimerKind
from chalicelib.domain.model import HookStep, Strategy
from chalicelib.services import limits
from chalicelib.services.errors import ClientError
from chalicelib.store.audiences import AudienceRepository, Membership
from chalicelib.store.snapshots import ContactSnapshot
from chalicelib.store.timers import DueTimer, TimerRepository, timer_id

EXPIRY: TimerKind = "audience"
PARKED: TimerKind = "audience_publish"
PAGE = 1000
MAX_PAGE = 5000  # 5,000 rows of two hashes are ~650 KB: well inside a Lambda response
QUERY = ("cursor", "limit", "platform")
# Leave reasons
EXPIRED = "expired"
WITHDRAWN = "consent_withdrawn"
CONSENTED = "consent_given"  # a join of an identifier whose consent came back during the membership
ERASED = "erased"
GOAL = "goal"


class Publisher(Protocol):
    def publish(self, message: Mapping[str, object]) -> str: ...


@dataclass(frozen=True)
class ExportPage:
    audience: str
    csv: str
    next_cursor: str | None


def audience_names(strategy: Strategy) -> frozenset[str]:
    """The audiences the strategy's hook steps join."""
    return frozenset(s.hook for c in strategy.chains.values() for s in c.steps
                     if isinstance(s, HookStep) and is_audience_hook(s.hook))


class Audiences:
    def __init__(
        self, strategy: Strategy, memberships: AudienceRepository, publisher: Publisher, timers: TimerRepository,
        snapshots: Callable[[str], ContactSnapshot | None],
    ) -> None:
        self.memberships = memberships
        self.publisher = publisher
        self.timers = timers
        self.snapshots = snapshots
        self.known = audience_names(strategy)
        # Goal events of chains with an audience hook: such an event ends the chain's memberships.
        self._goals = {c.id: c.exit_on for c in strategy.chains.values()
                       if any(isinstance(s, HookStep) and is_audience_hook(s.hook) for s in c.steps)}
        self._goal_events = frozenset(e for events in self._goals.values() for e in events)

    # -- joins ---------------------------------------------------------------------------------------------

    def join_from_chain(self, snapshot: ContactSnapshot, action: HookAction, now: datetime) -> str:
        """The step worker's audience hook; returns the reason its touch records."""
        if action.until is None:  # the strategy check requires `for`; a hand-built strategy might not
            return f"{action.hook}: not joined, the hook has no `for`"
        return self.join(snapshot, action.hook, action.until, f"{action.chain_id}/{action.step_id}", now)

    def join(self, snapshot: ContactSnapshot, audience: str, expires_at: datetime, source: str,
             now: datetime) -> str:
        """Joins the contact until `expires_at` (a member joining again gets the later expiry); a contact
        with no email or SMS marketing consent has nothing to hand over and is not joined."""
        found = exportable(snapshot.email, snapshot.phone, snapshot.consents, snapshot.status == "active")
        if found.empty:
            return f"{audience}: not joined, no email or sms marketing consent"
        self.memberships.join(Membership(audience, snapshot.contact_id, now, expires_at, source, identifiers(found)))
        self.timers.arm(snapshot.contact_id, Timer(
            EXPIRY, expires_at, TIMER_EVENTS[EXPIRY], f"{audience}#{int(expires_at.timestamp())}",
            {"audience": audience}), now)
        self._publish(snapshot.contact_id, _message(
            audience, "join", source, snapshot.contact_id, found, now, expires_at=expires_at), now)
        return f"{audience} until {expires_at.isoformat()}"

    # -- leaves --------------------------------------------------------------------------------------------

    def on_event(self, snapshot: ContactSnapshot, event_type: str, now: datetime) -> None:
        """ChainEvents' hook after every event: a consent change that leaves nothing to export, or a goal of
        the chain a membership came from, ends memberships. Other events cost nothing here."""
        if event_type == CONSENT_CHANGED:
            found = exportable(snapshot.email, snapshot.phone, snapshot.consents, snapshot.status == "active")
            if found.empty:
                self._leave_all(snapshot.contact_id, hashes(snapshot.email, snapshot.phone), WITHDRAWN, now)
            else:
                self._follow_consents(snapshot, found, now)
        elif event_type in self._goal_events:
            self._leave_all(snapshot.contact_id, hashes(snapshot.email, snapshot.phone), f"{GOAL}:{event_type}",
                            now, lambda m: event_type in self._goals.get(m.source.split("/")[0], ()))

    def _follow_consents(self, snapshot: ContactSnapshot, found: Hashes, now: datetime) -> None:
        """One channel's marketing consent withdrawn while the other's stays: its hash leaves the topic (the
        member stays, for the other); a consent given again: its hash joins."""
        current, had = identifiers(found), hashes(snapshot.email, snapshot.phone)
        for member in self.memberships.for_contact(snapshot.contact_id):
            gone, new = member.identifiers - current, current - member.identifiers
            if not gone and not new:
                continue
            self.memberships.join(replace(member, identifiers=current))
            if gone:
                self._publish(snapshot.contact_id, _message(
                    member.audience, "leave", WITHDRAWN, snapshot.contact_id, only(had, gone), now), now)
            if new:
                self._publish(snapshot.contact_id, _message(
                    member.audience, "join", CONSENTED, snapshot.contact_id, only(found, new), now,
                    expires_at=member.expires_at), now)

    def on_erased(self, contact_id: str, had: Hashes, now: datetime) -> None:
        """After an erasure (its chains and timers ended): every membership ends, the leave naming the hashes
        the contact had, so a platform can remove them too."""
        self._leave_all(contact_id, had, ERASED, now)

    def on_timer(self, timer: DueTimer, now: datetime) -> None:
        """A due audience timer: a membership's expiry, or a parked message to publish again (raises if SNS
        refuses again, so the steps queue redelivers it)."""
        audience = str(timer.properties.get("audience", ""))
        if timer.kind == PARKED:
            messages = timer.properties.get("messages")
            for message in messages if isinstance(messages, list) else []:
                self.publisher.publish(message)
            return
        member = self.memberships.get(audience, timer.contact_id)
        if member is None or member.expires_at > now:
            return  # left before, or joined again for longer (that join armed its own expiry)
        snapshot = self.snapshots(timer.contact_id)
        had = hashes(snapshot.email, snapshot.phone) if snapshot else Hashes(None, None)
        if self.memberships.remove(audience, timer.contact_id):
            self._publish(timer.contact_id, _message(audience, "leave", EXPIRED, timer.contact_id, had, now), now)

    def _leave_all(self, contact_id: str, had: Hashes, reason: str, now: datetime,
                   which: Callable[[Membership], bool] = lambda m: True) -> None:
        for member in self.memberships.for_contact(contact_id):
            if which(member) and self.memberships.remove(member.audience, contact_id):
                self._publish(contact_id, _message(member.audience, "leave", reason, contact_id, had, now), now)

    def _publish(self, contact_id: str, message: dict[str, object], now: datetime) -> None:
        try:
            self.publisher.publish(message)
        except DeliveryError:
            # Parked after the messages parked before it, in order: the step worker publishes them when the
            # timer falls due (a tick later).
            parked = Timer(PARKED, now, TIMER_EVENTS[PARKED], str(message["id"]), {"audience": message["audience"]})
            waiting = self.timers.get(contact_id, timer_id(parked))
            earlier = waiting.properties.get("messages") if waiting is not None else None
            parked.properties["messages"] = [*(earlier if isinstance(earlier, list) else []), message]
            self.timers.arm(contact_id, parked, now)

    # -- export --------------------------------------------------------------------------------------------

    def export(self, audience: str, query: Mapping[str, str], now: datetime) -> ExportPage:
        """A page of the audience as CSV: one row per current member with an identifier they consented to
        marketing on (the email hash with email marketing, the phone hash with SMS marketing), the phone
        hashed as `platform` (google, the default, or meta) wants it."""
        if not valid_name(audience):
            raise ClientError("invalid_field", "name must be an audience name: lower-case letters, digits, - "
                              "and _, at most 64.", "name")
        for name in query:
            if name not in QUERY:
                raise ClientError("unknown_field", f"Unknown parameter {name!r} (expected {', '.join(QUERY)}).",
                                  name)
        limit = limits.page_limit(query.get("limit"), PAGE, MAX_PAGE)
        platform = query.get("platform", GOOGLE)
        if platform not in PLATFORMS:
            raise ClientError("invalid_field", f"platform must be one of {', '.join(PLATFORMS)}.", "platform")
        after = _decode(query["cursor"], audience) if query.get("cursor") else None
        members, more = self.memberships.page(audience, after, limit)
        if not members and after is None and audience not in self.known:
            raise ClientError("not_found", "No audience with this name.", None, status=404)
        current = [m.contact_id for m in members if m.expires_at > now]  # an expiry a late tick has not run yet
        contacts = self.memberships.contacts(current)
        lines = [CSV_HEADER]
        for contact_id in current:
            contact = contacts.get(contact_id)
            if contact is None:
                continue
            found = exportable(contact.email, contact.phone, contact.consents, contact.status == "active")
            if not found.empty:
                lines.append(csv_row(found, platform))
        return ExportPage(audience, "\r\n".join(lines) + "\r\n", _encode(audience, more) if more else None)


def _message(audience: str, action: str, reason: str, contact_id: str, found: Hashes, now: datetime,
             expires_at: datetime | None = None) -> dict[str, object]:
    """The SNS message of a join or leave (README "Ad audiences" documents it)."""
    return {
        "id": f"{audience}:{contact_id}:{action}:{int(now.timestamp())}:{'+'.join(sorted(identifiers(found)))}",
        "audience": audience, "action": action, "reason": reason, "contact_id": contact_id,
        "email_sha256": found.email_sha256, "phone_sha256": found.phone_sha256,
        "phone_digits_sha256": found.phone_digits_sha256, "at": now.isoformat(),
        **({"expires_at": expires_at.isoformat()} if expires_at else {}),
    }


def _encode(audience: str, after: str) -> str:
    raw = json.dumps({"n": audience, "a": after}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, audience: str) -> str:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        data = None
    if not isinstance(data, dict) or data.get("n") != audience or not isinstance(data.get("a"), str):
        raise ClientError("invalid_field", "cursor must be the next cursor of the same audience's export.",
                          "cursor")
    return str(data["a"])
