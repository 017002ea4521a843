"""The stores behind occasions, manual marks and checklists, on both stores: occasion versions with
optimistic saves, marks that stand or may be replaced, marks read by key in one batch, a point's contacts
page by page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib import wiring
from chalicelib.store.enrollments import ContactMoved
from chalicelib.store.occasions import VERSIONS_KEPT, OccasionConflict
from chalicelib.store.touches import TouchRecord
from tests.integration.helpers import NOW
from tests.integration.occasions.conftest import add, person

pytestmark = pytest.mark.usefixtures("store")


def test_occasion_edits_keep_their_versions_and_refuse_a_stale_save(clock) -> None:
    edits = wiring.occasion_edits()
    saved = edits.save("doi", {"title": "x", "priority": 5}, 0, "olga", NOW)
    assert (saved.version, [v.version for v in saved.versions]) == (1, [1])
    again = edits.save("doi", {"title": "y"}, 1, "ivan", NOW + timedelta(minutes=1))
    assert [(v.version, v.updated_by, v.definition["title"]) for v in again.versions] == [
        (1, "olga", "x"), (2, "ivan", "y")]
    assert edits.get("doi") == again
    with pytest.raises(OccasionConflict) as stale:
        edits.save("doi", {"title": "z"}, 1, "olga", NOW)
    assert stale.value.current == again
    with pytest.raises(OccasionConflict):
        edits.save("welcome-thanks", {"title": "z"}, 3, "olga", NOW)
    assert set(edits.edits(["doi", "welcome-thanks"])) == {"doi"}
    assert edits.get("doi").definition == {"title": "y"}


def test_an_occasion_keeps_its_latest_versions_only(clock) -> None:
    edits = wiring.occasion_edits()
    for version in range(VERSIONS_KEPT + 3):
        saved = edits.save("doi", {"title": f"v{version + 1}"}, version, "olga", NOW)
    assert len(saved.versions) == VERSIONS_KEPT
    assert saved.versions[-1].version == VERSIONS_KEPT + 3


def _mark(status: str, key: str = "occasion#anniversary#2026-01-01T00:00Z", contact: str = "c1") -> TouchRecord:
    return TouchRecord(contact_id=contact, touch_key=key, touch_id=f"t-{status}", channel="phone",
                       occasion_id="anniversary", category="manual", status=status, created_at=NOW,
                       decision=status, actor="olga", comment=f"{status} comment")


def test_a_mark_stands_unless_its_status_may_be_replaced(clock) -> None:
    touches = wiring.touches()
    assert touches.mark_by_hand(_mark("not_done"), ("not_done", "refused")) is None
    assert touches.mark_by_hand(_mark("done"), ("not_done", "refused")) is None
    standing = touches.mark_by_hand(_mark("refused"), ("not_done", "refused"))
    assert standing is not None and (standing.status, standing.comment, standing.actor) == ("done", "done comment",
                                                                                              "olga")
    assert [h.status for h in touches.get("c1", standing.touch_key).history] == ["not_done", "done"]


def test_a_mark_under_the_contact_lock_moves_the_contact_on_and_refuses_a_stale_version(clock) -> None:
    add(person("c1"))
    touches, version = wiring.touches(), wiring.contacts().get("c1").version
    with pytest.raises(ContactMoved):
        touches.mark_by_hand(_mark("done"), (), version + 1)
    assert touches.get("c1", _mark("done").touch_key) is None

    assert touches.mark_by_hand(_mark("done"), (), version) is None

    assert wiring.contacts().get("c1").version == version + 1
    with pytest.raises(ContactMoved):  # the mark that now stands is told only to a caller at the contact's version
        touches.mark_by_hand(_mark("sent"), (), version)
    assert touches.mark_by_hand(_mark("sent"), (), version + 1).status == "done"


def test_marks_are_read_by_key_in_one_batch(clock) -> None:
    touches = wiring.touches()
    keys = [(f"c{i}", "occasion#anniversary#2026-01-01T00:00Z") for i in range(150)]
    for contact, key in keys[::7]:
        touches.mark_by_hand(_mark("done", key, contact), ())
    found = touches.marks(keys)
    assert set(found) == set(keys[::7])
    assert found[keys[7]].status == "done"
    assert touches.marks([]) == {}


def test_a_points_contacts_come_page_by_page_in_id_order(clock) -> None:
    add(*(person(f"p{i:03d}") for i in range(25)), person("other", "spb-02"), person("nowhere", None))
    seen, after, pages = [], None, 0
    while True:
        page, after = wiring.contacts().point_page("msk-01", after, 10)
        seen += [c.contact_id for c in page]
        pages += 1
        if after is None:
            break
    assert seen == [f"p{i:03d}" for i in range(25)]
    assert pages == 3
    last, after = wiring.contacts().point_page("msk-01", "p019", 5)
    assert [c.contact_id for c in last] == ["p020", "p021", "p022", "p023", "p024"]
    # DynamoDB may hand a cursor for a page that ended exactly at the end: it leads to an empty page.
    assert after is None or wiring.contacts().point_page("msk-01", after, 5) == ([], None)
    assert wiring.contacts().point_page("kzn-03", None, 10) == ([], None)


def test_large_versions_are_dropped_first_to_keep_the_row_storable(clock) -> None:
    edits = wiring.occasion_edits()
    big = {"title": "x" * 60_000}
    for version in range(8):
        saved = edits.save("doi", big, version, "olga", NOW)
    assert 1 < len(saved.versions) < 8
    assert saved.versions[-1].version == 8
