"""Importing an existing base: each CSV row checked with the sign-up's own validators, then written as an
active contact whose consents are `granted` with the proof the row carries. No DOI message is sent: the
consent was collected before, and the ledger says when, from where and with which text.

Identities make an import idempotent: a row whose addresses already belong to one contact is `known` and
adds nothing, so a re-run (or a run resumed after Ctrl-C) writes nothing twice.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from chalicelib.clock import Clock
from chalicelib.domain.lifecycle import OrderFacts, segment
from chalicelib.domain.model import Strategy
from chalicelib.services.consent import DATA_PROCESSING, Proof, event, key_of, record, text_locale
from chalicelib.services.errors import ClientError
from chalicelib.services.subscriptions import Subscription, parse_subscription
from chalicelib.store.contacts import ContactRepository, IdentityTaken, ImportedContact, identity_key

SOURCE = "import"
COLUMNS = ("email", "phone", "timezone", "locale", "point_id", "first_name", "birthday", "b2b", "consents",
           "data_processing_text_id", "consent_given_at", "consent_source")
MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems
_CONSENT = re.compile(r"\s*([a-z]+)\s*:\s*([a-z_]+)\s*:\s*(\S+)\s*")
_TRUE, _FALSE = {"true", "yes", "1", "y"}, {"false", "no", "0", "n", ""}


class RowError(Exception):
    """A row that cannot be imported; `column` names the CSV column at fault."""

    def __init__(self, column: str | None, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


@dataclass(frozen=True)
class ImportRow:
    line: int
    subscription: Subscription
    given_at: datetime
    consent_source: str | None


@dataclass(frozen=True)
class Outcome:
    line: int
    status: str  # imported | known | rejected
    contact_id: str | None = None
    column: str | None = None
    reason: str | None = None


def parse_row(line: int, row: Mapping[str, str | None], strategy: Strategy, now: datetime) -> ImportRow:
    """The row as a sign-up would have been, or RowError naming the column."""
    values = {str(k).strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
    body: dict[str, object] = {"source": SOURCE, "consents": _consents(values.get("consents", ""))}
    for name in ("email", "phone", "timezone", "locale"):
        if values.get(name):
            body[name] = values[name]
    if values.get("data_processing_text_id"):
        body["data_processing"] = {"text_id": values["data_processing_text_id"]}
    attributes: dict[str, object] = {n: v for n, v in values.items() if n not in COLUMNS and v}
    for name in ("point_id", "first_name", "birthday"):
        if values.get(name):
            attributes[name] = values[name]
    attributes["b2b"] = _flag(values.get("b2b", ""))
    body["attributes"] = attributes
    try:
        subscription = parse_subscription(body, strategy)
    except ClientError as exc:
        raise RowError(_column(exc.field), exc.message) from exc
    source = values.get("consent_source") or None
    if source is not None and len(source) > 100:
        raise RowError("consent_source", "consent_source must be at most 100 characters.")
    return ImportRow(line, subscription, _given_at(values.get("consent_given_at", ""), now), source)


def _consents(text: str) -> list[dict[str, str]]:
    if not text.strip():
        raise RowError("consents", "consents is empty: list at least one channel:purpose:text_id.")
    found = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        match = _CONSENT.fullmatch(part)
        if match is None:
            raise RowError("consents", f"{part!r} is not channel:purpose:text_id, like "
                                       "email:marketing:marketing-email-v1.")
        found.append({"channel": match[1], "purpose": match[2], "text_id": match[3]})
    return found


def _flag(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise RowError("b2b", "b2b must be true or false (or yes/no, 1/0).")


def _given_at(text: str, now: datetime) -> datetime:
    """When the person gave the consent; a row without it was consented as of the import."""
    if not text:
        return now
    try:
        given = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise RowError("consent_given_at",
                       "consent_given_at must be an ISO-8601 time like 2024-05-17T10:00:00Z.") from exc
    if given.tzinfo is None:
        raise RowError("consent_given_at", "consent_given_at needs its UTC offset, like 2024-05-17T10:00:00+03:00.")
    given = given.astimezone(UTC)
    if given > now or given.year < 1990:
        raise RowError("consent_given_at", "consent_given_at must lie between 1990 and now.")
    return given


def _column(field: str | None) -> str | None:
    """The CSV column behind a sign-up field path (consents[0].text_id -> consents)."""
    if field is None:
        return None
    head = re.split(r"[.\[]", field, maxsplit=1)[0]
    if head == "attributes":
        name = field.partition(".")[2]
        return name if name else None
    return {"data_processing": "data_processing_text_id"}.get(head, head)


@dataclass
class ContactImport:
    contacts: ContactRepository
    strategy: Strategy
    clock: Clock

    def write(self, rows: Sequence[ImportRow]) -> list[Outcome]:
        """Writes the rows not yet known: as few transactions as DynamoDB's item limit allows, each with its
        contacts' proof written just before it."""
        now = self.clock.now()
        owners = self.contacts.owners([k for row in rows for k in _keys(row.subscription)])
        outcomes: dict[int, Outcome] = {}
        fresh: list[tuple[ImportRow, ImportedContact]] = []
        claimed: dict[str, int] = {}
        for row in rows:
            keys = _keys(row.subscription)
            known = {owners[k] for k in keys if k in owners}
            earlier = {claimed[k] for k in keys if k in claimed}
            if known or earlier:
                outcomes[row.line] = _known(row, keys, owners, known, earlier)
                continue
            claimed.update({k: row.line for k in keys})
            fresh.append((row, self._contact(row, now)))
        for batch in _batches(fresh):
            try:
                self.contacts.import_contacts([contact for _, contact in batch])
                outcomes.update({row.line: Outcome(row.line, "imported", c.contact_id) for row, c in batch})
            except IdentityTaken:  # a sign-up (or a batch on its way beside this one) came first: row by row
                for row, contact in batch:
                    outcomes[row.line] = self._one(row, contact)
        return [outcomes[row.line] for row in rows]

    def _one(self, row: ImportRow, contact: ImportedContact) -> Outcome:
        try:
            self.contacts.import_contacts([contact])
        except IdentityTaken:
            # Looked up again: known when every address is one contact's, rejected when that would merge two.
            keys = _keys(row.subscription)
            owners = self.contacts.owners(keys)
            if not owners:  # taken and erased again within the moment: the next run imports it
                return Outcome(row.line, "rejected", reason="its address changed hands while the import ran; "
                                                            "run the import again")
            return _known(row, keys, owners, set(owners.values()), set())
        return Outcome(row.line, "imported", contact.contact_id)

    def _contact(self, row: ImportRow, now: datetime) -> ImportedContact:
        sub, at = row.subscription, row.given_at
        proof = Proof(source=SOURCE, ip_hash=None, user_agent_hash=None)
        locale = text_locale(self.strategy, sub.locale)
        asked = [(key_of(None, DATA_PROCESSING), sub.data_processing_text)]
        asked += [(key_of(a.channel, a.purpose), a.text_id) for a in sub.consents]
        detail = {"imported_at": now.isoformat()}
        if row.consent_source:
            detail["consent_source"] = row.consent_source
        events = tuple(event("granted", at, key, proof, self.strategy.consent_texts[text_id], locale, **detail)
                       for key, text_id in asked)
        return ImportedContact(
            contact_id=str(uuid.uuid4()), created_at=now, email=sub.email, phone=sub.phone, timezone=sub.timezone,
            locale=sub.locale, point_id=sub.point_id, attributes=dict(sub.attributes),
            consents={key: record("granted", at, text_id, SOURCE) for key, text_id in asked},
            confirmed_at=at, events=events, segment=segment(OrderFacts(), self.strategy.lifecycle, now), b2b=sub.b2b,
        )


def _keys(sub: Subscription) -> list[str]:
    return [identity_key(c, a) for c, a in (("email", sub.email), ("sms", sub.phone)) if a]


def _known(row: ImportRow, keys: list[str], owners: Mapping[str, str], known: set[str], earlier: set[int]) -> Outcome:
    if earlier:
        return Outcome(row.line, "known", reason=f"the same address as line {min(earlier)}")
    if len(known) == 1 and all(k in owners for k in keys):
        return Outcome(row.line, "known", next(iter(known)))
    taken = next(k for k in keys if k in owners)
    return Outcome(row.line, "rejected", column="email" if taken.startswith("email:") else "phone",
                   reason="its addresses belong to different contacts, or one of them to a contact without the "
                          "other; an import does not merge contacts")


def _batches(fresh: Iterable[tuple[ImportRow, ImportedContact]]) -> Iterable[list[tuple[ImportRow, ImportedContact]]]:
    batch: list[tuple[ImportRow, ImportedContact]] = []
    size = 0
    for item in fresh:
        items = len(item[1].identity_keys()) + 1  # the proof goes in batch writes beside the transaction
        if batch and size + items > MAX_TRANSACTION_ITEMS:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += items
    if batch:
        yield batch
