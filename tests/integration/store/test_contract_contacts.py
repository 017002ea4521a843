"""The contacts contract on both stores: identity uniqueness, all-or-nothing transactions, versions."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta

import pytest

from chalicelib import wiring
from chalicelib.domain.chains import start
from chalicelib.store.contacts import (
    ConsentRecord,
    ContactChanged,
    IdentityTaken,
    ImportedContact,
    Request,
    identity_key,
)
from chalicelib.store.enrollments import shard_of
from chalicelib.store.ledger import ConsentEvent
from tests.integration.helpers import NOW
from tests.integration.store.conftest import NOT_ON_MOTO, new_contact, requested_event

ANNA = "anna@example.com"
MARKETING = {"email:marketing": Request(NOW.isoformat(), "marketing-email-v1", "site-footer")}


def test_a_sign_up_writes_the_contact_its_identities_and_its_proof(store) -> None:
    contacts = wiring.contacts()
    contacts.create(new_contact("c-1", ANNA, "+79161234567", requested=MARKETING, timezone="Europe/Moscow",
                                locale="ru-RU", attributes={"first_name": "Anna"}, point_id="msk-01"),
                    [requested_event(channel="email", purpose="marketing", text_id="marketing-email-v1")])

    contact = contacts.get("c-1")
    assert (contact.status, contact.version, contact.email, contact.phone) == ("pending", 1, ANNA, "+79161234567")
    assert contact.requested == MARKETING and contact.consents == {} and contact.pending_request == "r-c-1"
    assert contact.attributes == {"first_name": "Anna"} and contact.created_at == NOW
    keys = [identity_key("email", ANNA), identity_key("sms", "+79161234567"), "email:nobody@example.com"]
    assert contacts.owners(keys) == {keys[0]: "c-1", keys[1]: "c-1"}
    [entry] = wiring.ledger().history("c-1")
    assert (entry.kind, entry.channel, entry.at) == ("requested", "email", NOW)
    assert contacts.doi_sends(keys[0]) == [] and contacts.doi_sends("email:nobody@example.com") is None
    assert [c.contact_id for c in contacts.by_point("msk-01", 10)] == ["c-1"]
    assert contacts.current_consents("c-1").consents == {}


def test_a_minimal_sign_up_has_no_name_no_attributes_and_one_address(store) -> None:
    wiring.contacts().create(new_contact("c-1", phone="+79161234567"), [])
    contact = wiring.contacts().get("c-1")
    assert contact.email is None and contact.attributes == {} and contact.identity_keys() == ["phone:+79161234567"]
    assert wiring.contacts().get("c-2") is None and wiring.contacts().current_consents("c-2") is None


def test_a_second_sign_up_of_an_address_writes_nothing_at_all(store) -> None:
    contacts = wiring.contacts()
    contacts.create(new_contact("c-1", ANNA), [requested_event()])
    with pytest.raises(IdentityTaken):
        contacts.create(new_contact("c-3", ANNA, "+79161230000"), [requested_event()])
    assert contacts.get("c-3") is None and wiring.ledger().history("c-3") == []
    assert contacts.owners([identity_key("sms", "+79161230000")]) == {}  # the transaction's other identity too


def test_concurrent_sign_ups_of_one_address_make_one_contact(store) -> None:
    if store == "moto":
        pytest.skip(NOT_ON_MOTO)
    won: list[str] = []
    lost: list[str] = []

    def sign_up(n: int) -> None:
        try:
            wiring.contacts().create(new_contact(f"c-{n}", ANNA), [requested_event()])
            won.append(f"c-{n}")
        except IdentityTaken:
            lost.append(f"c-{n}")

    threads = [threading.Thread(target=sign_up, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and len(lost) == 7
    assert wiring.contacts().owners([identity_key("email", ANNA)]) == {identity_key("email", ANNA): won[0]}
    assert all(wiring.contacts().get(c) is None for c in lost)


def test_a_new_request_attaches_a_free_address_and_keeps_the_open_request(store) -> None:
    contacts = wiring.contacts()
    contacts.create(new_contact("c-1", ANNA, request_id="r-1"), [])
    sms = {"sms:marketing": Request(NOW.isoformat(), "marketing-sms-v1")}
    contacts.add_request("c-1", {"sms": "+79161234567"}, sms, "r-2", [requested_event()], NOW + timedelta(hours=1))

    contact = contacts.get("c-1")
    assert contact.phone == "+79161234567" and contact.pending_request == "r-1" and contact.version == 2
    assert set(contact.requested) == {"sms:marketing"} and contact.updated_at == NOW + timedelta(hours=1)
    assert contacts.owners([identity_key("sms", "+79161234567")]) == {"phone:+79161234567": "c-1"}


def test_a_new_request_never_replaces_an_address_or_takes_anothers(store) -> None:
    contacts = wiring.contacts()
    contacts.create(new_contact("c-1", ANNA, "+79161234567"), [])
    contacts.create(new_contact("c-2", "boris@example.com"), [])
    with pytest.raises(ContactChanged):
        contacts.add_request("c-1", {"sms": "+79161230000"}, {}, "r-x", [requested_event()], NOW)
    with pytest.raises(IdentityTaken):
        contacts.add_request("c-2", {"sms": "+79161234567"}, {}, "r-x", [requested_event()], NOW)
    with pytest.raises(ContactChanged):
        contacts.add_request("c-9", {}, {}, "r-x", [], NOW)
    assert contacts.get("c-2").phone is None and contacts.get("c-2").version == 1
    assert wiring.ledger().history("c-1") == [] and wiring.ledger().history("c-2") == []


def test_confirming_turns_consent_on_and_enters_the_chains_once(store) -> None:
    contacts = wiring.contacts()
    contacts.create(new_contact("c-1", ANNA, request_id="r-1", requested=MARKETING), [])
    grant = {"email:marketing": ConsentRecord("granted", NOW.isoformat(), "marketing-email-v1", "double-opt-in"),
             "any:data_processing": ConsentRecord("granted", NOW.isoformat(), "personal-data-v1")}
    chain = wiring.strategy().chains["welcome"]
    welcome = start(chain, None, "c-1", NOW)
    confirmed = [ConsentEvent(kind="confirmed", at=NOW, channel="email", purpose="marketing")]
    later = NOW + timedelta(minutes=5)

    assert contacts.confirm(contacts.get("c-1"), "r-1", grant, confirmed, [welcome], later)

    contact = contacts.get("c-1")
    assert (contact.status, contact.pending_request, contact.requested, contact.confirmed_at) == (
        "active", None, {}, later)
    state = contacts.current_consents("c-1")
    assert state.confirmed and state.data_processing and state.consents == {("email", "marketing"): True}
    stored = wiring.enrollments().get("c-1", "welcome")
    assert stored.revision == 1 and stored.state.due_at == NOW
    due = wiring.enrollments().due(shard_of("c-1", wiring.enrollments().shards), int(NOW.timestamp()), 10)
    assert [item.chain_id for item in due] == ["welcome"]
    # The link is single use; a second confirmation writes nothing.
    assert not contacts.confirm(contacts.get("c-1"), "r-1", grant, [], [welcome], later)
    assert len(wiring.ledger().history("c-1")) == 1


def test_confirming_keeps_an_enrolment_that_exists(store) -> None:
    contacts = wiring.contacts()
    contacts.create(new_contact("c-1", ANNA, request_id="r-1"), [])
    welcome = start(wiring.strategy().chains["welcome"], None, "c-1", NOW)
    wiring.enrollments().save(welcome, None, NOW)
    held = wiring.enrollments().get("c-1", "welcome")
    wiring.enrollments().save(welcome, held, NOW)
    assert contacts.confirm(contacts.get("c-1"), "r-1", {}, [], [welcome], NOW)
    assert wiring.enrollments().get("c-1", "welcome").revision == 2


def test_consent_changes_need_the_version_read(store) -> None:
    contacts = wiring.contacts()
    contacts.create(new_contact("c-1", ANNA), [])
    read = contacts.get("c-1")
    revoke = {"email:marketing": ConsentRecord("revoked", NOW.isoformat(), source="preferences")}
    contacts.change_consents(read, revoke, ["email:marketing"], [requested_event()], NOW)
    assert contacts.get("c-1").consents == revoke and contacts.get("c-1").version == 2

    with pytest.raises(ContactChanged):  # `read` is one version behind now
        contacts.change_consents(read, {}, [], [ConsentEvent(kind="granted", at=NOW)], NOW)
    assert len(wiring.ledger().history("c-1")) == 1


def test_erasure_keeps_a_tombstone_and_the_proof_and_frees_the_addresses(store) -> None:
    contacts = wiring.contacts()
    contacts.create(new_contact("c-1", ANNA, "+79161234567", attributes={"first_name": "Anna"}),
                    [requested_event()])
    revoked = {"any:data_processing": ConsentRecord("revoked", NOW.isoformat())}
    contacts.erase(contacts.get("c-1"), revoked, [ConsentEvent(kind="erased", at=NOW + timedelta(days=1))], NOW)

    contact = contacts.get("c-1")
    assert (contact.status, contact.email, contact.phone, contact.attributes) == ("erased", None, None, {})
    assert contacts.owners([identity_key("email", ANNA)]) == {}
    assert [e.kind for e in wiring.ledger().history("c-1")] == ["requested", "erased"]
    assert contacts.current_consents("c-1") is None
    with pytest.raises(ContactChanged):
        contacts.change_consents(contact, {}, [], [], NOW)  # erased: nothing changes it any more
    contacts.create(new_contact("c-2", ANNA), [])  # the address is free for a new sign-up


def test_the_doi_send_times_change_only_from_what_was_read(store) -> None:
    contacts = wiring.contacts()
    contacts.create(new_contact("c-1", ANNA), [])
    key = identity_key("email", ANNA)
    assert contacts.replace_doi_sends(key, [], [1.0])
    assert not contacts.replace_doi_sends(key, [], [2.0])  # a concurrent worker took that slot
    assert contacts.replace_doi_sends(key, [1.0], [1.0, 2.0])
    assert contacts.doi_sends(key) == [1.0, 2.0]
    assert not contacts.replace_doi_sends("email:nobody@example.com", [], [1.0])


def test_a_repeated_ledger_entry_fails_the_whole_transaction(store) -> None:
    entry = requested_event()
    wiring.ledger().append("c-1", [entry])
    with pytest.raises(Exception):  # noqa: B017 - each store raises its own; what counts is nothing written
        wiring.contacts().create(new_contact("c-1", ANNA), [entry])
    assert wiring.contacts().get("c-1") is None and wiring.contacts().owners([identity_key("email", ANNA)]) == {}


def _imported(contact_id: str, email: str | None = None, phone: str | None = None) -> ImportedContact:
    granted = ConsentRecord("granted", NOW.isoformat(), "marketing-email-v1", "import")
    return ImportedContact(
        contact_id=contact_id, created_at=NOW, email=email, phone=phone, timezone=None, locale=None, point_id=None,
        attributes={}, consents={"email:marketing": granted}, confirmed_at=NOW - timedelta(days=400),
        events=(dataclasses.replace(requested_event(), kind="granted", source="import"),), segment="prospect",
    )


def test_an_import_writes_active_contacts_with_their_granted_proof_in_one_go(store) -> None:
    contacts = wiring.contacts()
    contacts.import_contacts([_imported("c-1", ANNA), _imported("c-2", phone="+79161234567")])

    anna = contacts.get("c-1")
    assert (anna.status, anna.consents["email:marketing"].state, anna.requested) == ("active", "granted", {})
    assert anna.confirmed_at == NOW - timedelta(days=400) and anna.pending_request is None
    assert [e.kind for e in wiring.ledger().history("c-1")] == ["granted"]
    assert contacts.owners([identity_key("sms", "+79161234567")]) == {identity_key("sms", "+79161234567"): "c-2"}


def test_an_import_batch_with_one_known_address_writes_nothing(store) -> None:
    contacts = wiring.contacts()
    contacts.create(new_contact("c-0", ANNA), [requested_event()])
    with pytest.raises(IdentityTaken):
        contacts.import_contacts([_imported("c-1", "boris@example.com"), _imported("c-2", ANNA)])
    assert contacts.get("c-1") is None and wiring.ledger().history("c-1") == []
    assert contacts.owners([identity_key("email", "boris@example.com")]) == {}


def test_a_new_and_an_imported_contact_are_on_their_segments_index_from_the_start(store) -> None:
    contacts = wiring.contacts()
    contacts.create(new_contact("c-1", ANNA), [])
    contacts.import_contacts([_imported("c-2", phone="+79161234567")])
    page, after = contacts.segment_page("prospect", None, 10)
    assert [c.contact_id for c in page] == ["c-1", "c-2"] and after is None
