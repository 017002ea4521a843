"""The campaigns store and the segment index on both stores: create once, optimistic saves, the sparse active
index, the list newest first, a segment's contacts page by page, and the campaign row in the step's batch."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib import wiring
from chalicelib.domain.campaigns import Audience, Campaign, Counts, Definition, SendAt, Winner
from chalicelib.domain.chains import Enrollment
from chalicelib.store.campaigns import CampaignConflict
from tests.integration.helpers import NOW
from tests.integration.occasions.conftest import add, person

pytestmark = pytest.mark.usefixtures("store")


def _campaign(campaign_id: str, at=NOW) -> Campaign:
    definition = Definition("company-news", Audience(segment="active"), ("email",), SendAt(at=NOW))
    return Campaign(campaign_id, definition, "scheduled", "olga", at)


def test_a_campaign_is_created_once_and_saved_only_over_the_version_read(clock) -> None:
    store = wiring.campaign_store()
    first = _campaign("k-1")
    store.create(first)
    with pytest.raises(CampaignConflict):
        store.create(first)
    assert store.get("k-1") == first and store.get("nope") is None
    winner = Winner("B", "click_rate", NOW, {"A": {"sent": 3.0, "click_rate": 0.0}, "B": {"sent": 2.0}})
    moved = store.save(replace(first, status="fanning_out", cursor="c-9", counts=Counts(5, 1, 3, 1), winner=winner,
                               first_send_at=NOW, last_send_at=NOW + timedelta(hours=3)))
    assert moved.version == 1 and store.get("k-1") == moved
    with pytest.raises(CampaignConflict):
        store.save(replace(first, status="cancelled"))  # read at version 0
    assert store.get("k-1") == moved


def test_only_active_campaigns_are_on_the_active_index_and_the_list_is_newest_first(clock) -> None:
    store = wiring.campaign_store()
    for n in range(3):
        store.create(_campaign(f"k-{n}", NOW + timedelta(minutes=n)))
    done = store.get("k-1")
    assert done is not None
    store.save(replace(done, status="done"))
    assert [c.campaign_id for c in store.active()] == ["k-0", "k-2"]
    assert [c.campaign_id for c in store.listing()[0]] == ["k-2", "k-1", "k-0"]
    first, after = store.listing(None, 2)
    assert [c.campaign_id for c in first] == ["k-2", "k-1"] and after is not None
    rest, end = store.listing(after, 2)
    assert [c.campaign_id for c in rest] == ["k-0"] and end is None
    assert store.listing(None, 3)[1] is None  # a page that ends exactly at the last campaign has no next


def test_a_segments_contacts_come_page_by_page_and_the_step_reads_the_campaign_in_its_batch(clock) -> None:
    add(*(person(f"s-{n}", point_id=None) for n in range(5)), person("other", point_id=None))
    profiles = wiring.profiles()
    for contact_id in [f"s-{n}" for n in range(5)]:
        found = profiles.facts(contact_id)
        assert found is not None and profiles.set_segment(found[1], "leaving", NOW)
    contacts = wiring.contacts()
    first, after = contacts.segment_page("leaving", None, 3)
    rest, end = contacts.segment_page("leaving", after, 3)
    assert [c.contact_id for c in first + rest] == [f"s-{n}" for n in range(5)] and end is None
    assert contacts.segment_page("lost", None, 3) == ([], None)

    wiring.campaign_store().create(_campaign("k-1"))
    state = Enrollment("s-0", "campaign:k-1:0", 0, "running", NOW, NOW, NOW)
    wiring.enrollments().save(state, None, NOW)
    read = wiring.enrollments().load_step("s-0", "campaign:k-1:0", campaign="k-1")
    assert read.stored is not None and read.campaign == wiring.campaign_store().get("k-1")
    assert wiring.enrollments().load_step("s-0", "campaign:k-1:0").campaign is None
