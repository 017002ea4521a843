"""The ad audience memberships on both stores: join, rejoin, leave, a contact's memberships, pages, members'
contacts; and the memory twin overrides every method that touches the table."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from chalicelib import wiring
from chalicelib.store.audiences import AudienceRepository, Membership
from chalicelib.store.contacts import ConsentRecord
from chalicelib.store.memory_audiences import MemoryAudiences
from tests.integration.helpers import NOW
from tests.integration.store.conftest import new_contact

UNTIL = NOW + timedelta(days=14)


def member(contact_id: str, audience: str = "retargeting", until=UNTIL, source: str = "retargeting/step-1"):
    return Membership(audience, contact_id, NOW, until, source)


def test_the_memory_twin_overrides_every_method_of_the_repository() -> None:
    public = {name for name in vars(AudienceRepository) if not name.startswith("_")}
    assert public == {name for name in vars(MemoryAudiences) if not name.startswith("_")}


def test_a_join_is_stored_a_rejoin_moves_the_expiry_and_a_leave_removes_it_once(store) -> None:
    audiences = wiring.audience_memberships()
    audiences.join(member("c-1"))
    assert audiences.get("retargeting", "c-1") == member("c-1")
    later = UNTIL + timedelta(days=3)
    moved = replace(member("c-1", until=later, source="campaign:x"), identifiers=frozenset({"email", "phone"}))
    audiences.join(moved)
    assert audiences.get("retargeting", "c-1") == moved
    assert audiences.for_contact("c-1") == [moved]
    assert audiences.remove("retargeting", "c-1") is True
    assert audiences.remove("retargeting", "c-1") is False
    assert audiences.get("retargeting", "c-1") is None


def test_a_contacts_memberships_are_found_by_contact_across_audiences(store) -> None:
    audiences = wiring.audience_memberships()
    audiences.join(member("c-1"))
    audiences.join(member("c-1", audience="lookalike"))
    audiences.join(member("c-2"))
    assert sorted(m.audience for m in audiences.for_contact("c-1")) == ["lookalike", "retargeting"]
    assert audiences.for_contact("c-9") == []


def test_pages_go_through_an_audience_in_contact_order_without_repeats(store) -> None:
    audiences = wiring.audience_memberships()
    for n in range(5):
        audiences.join(member(f"c-{n}"))
    audiences.join(member("c-9", audience="other"))
    first, after = audiences.page("retargeting", None, 2)
    second, after2 = audiences.page("retargeting", after, 2)
    last, end = audiences.page("retargeting", after2, 2)
    assert [m.contact_id for m in first + second + last] == [f"c-{n}" for n in range(5)]
    assert end is None
    assert audiences.page("retargeting", None, 5)[1] is None
    assert audiences.page("nobody", None, 5) == ([], None)


def test_members_contacts_are_read_with_addresses_and_consents(store) -> None:
    contacts = wiring.contacts()
    contacts.create(new_contact("c-1", "Anna@Example.com", "+79161234567", request_id="r-1"), [])
    grants = {"email:marketing": ConsentRecord("granted", NOW.isoformat()),
              "sms:marketing": ConsentRecord("revoked", NOW.isoformat())}
    contacts.confirm(contacts.get("c-1"), "r-1", grants, [], [], NOW)
    contacts.create(new_contact("c-2", phone="+12125550123", request_id="r-2"), [])

    found = wiring.audience_memberships().contacts(["c-1", "c-2", "c-9"])
    assert set(found) == {"c-1", "c-2"}
    assert (found["c-1"].email, found["c-1"].phone, found["c-1"].status) == (
        "Anna@Example.com", "+79161234567", "active")
    assert found["c-1"].consents == {("email", "marketing"): True, ("sms", "marketing"): False}
    assert (found["c-2"].email, found["c-2"].consents) == (None, {})
    assert wiring.audience_memberships().contacts([]) == {}
