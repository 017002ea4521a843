"""POST /v1/admin/contacts/{id}/touches: a manager's touch done or not done, once per occasion and period,
within the consent and the manual caps; on the contact's card and in `touchplan explain`; and a send of the
occasion's template through the chain sends' decision path."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib import wiring
from chalicelib.store.touches import TouchRecord
from cli.explain import render, timeline
from cli.outbox import sent_mail
from tests.integration.helpers import NOW, due_messages
from tests.integration.occasions.conftest import add, person

TOUCHES = "/v1/admin/contacts/{}/touches"


def test_a_touch_done_by_phone_is_on_the_card_with_who_and_the_comment(call, clock) -> None:
    add(person("ann"))
    status, body = call("POST", TOUCHES.format("ann"), {"occasion_id": "anniversary", "channel": "phone",
                                                        "comment": "Called, she was pleased", "done": True},
                        role="point-manager", point="msk-01", label="olga")
    assert status == 201
    assert {k: body["mark"][k] for k in ("status", "channel", "occasion_id", "actor", "comment", "category")} == {
        "status": "done", "channel": "phone", "occasion_id": "anniversary", "actor": "olga",
        "comment": "Called, she was pleased", "category": "manual"}
    card = call("GET", "/v1/admin/contacts/ann", role="point-manager", point="msk-01")[1]
    [touch] = card["touches"]
    assert (touch["actor"], touch["comment"], touch["status"]) == ("olga", "Called, she was pleased", "done")
    explained = timeline(wiring.erasure().export("ann", None))
    assert explained["touches"][0]["comment"] == "Called, she was pleased"
    assert "comment Called, she was pleased" in render(explained)
    assert sent_mail() == []  # a touch done by hand sends nothing


def test_the_minimal_mark_is_an_occasion_and_a_channel(call, clock) -> None:
    add(person("min", email=False, phone=True, consents=("sms",)))
    status, body = call("POST", TOUCHES.format("min"), {"occasion_id": "company-news", "channel": "meeting"})
    assert (status, body["mark"]["status"], body["mark"]["comment"]) == (201, "done", None)


def test_a_second_mark_in_the_period_is_409_with_the_mark_that_stands(call, clock) -> None:
    add(person("ann"))
    first = call("POST", TOUCHES.format("ann"), {"occasion_id": "anniversary", "channel": "phone", "comment": "ok"})
    assert first[0] == 201
    clock.advance(days=200)  # the anniversary's period is 365 days
    status, body = call("POST", TOUCHES.format("ann"), {"occasion_id": "anniversary", "channel": "post"},
                        role="point-manager", point="msk-01")
    assert (status, body["error"], body["field"]) == (409, "already_marked", "occasion_id")
    assert body["mark"] == first[1]["mark"]
    assert [t["channel"] for t in call("GET", "/v1/admin/contacts/ann")[1]["touches"]] == ["phone"]


def test_a_touch_not_done_says_why_and_a_later_one_may_replace_it(call, clock) -> None:
    add(person("ann"))
    status, body = call("POST", TOUCHES.format("ann"), {"occasion_id": "company-news", "channel": "phone",
                                                        "done": False})
    assert (status, body["field"]) == (400, "comment")
    status, body = call("POST", TOUCHES.format("ann"), {"occasion_id": "company-news", "channel": "phone",
                                                        "done": False, "comment": "No answer"})
    assert (status, body["mark"]["status"], body["mark"]["comment"]) == (201, "not_done", "No answer")
    clock.advance(hours=3)
    status, body = call("POST", TOUCHES.format("ann"), {"occasion_id": "company-news", "channel": "phone",
                                                        "comment": "Reached her"})
    assert (status, body["mark"]["status"]) == (201, "done")
    [touch] = call("GET", "/v1/admin/contacts/ann")[1]["touches"]
    assert [h["status"] for h in touch["history"]] == ["not_done", "done"]
    assert call("POST", TOUCHES.format("ann"), {"occasion_id": "company-news", "channel": "phone",
                                                "done": False, "comment": "again"})[0] == 409


def test_the_next_period_may_be_marked_again(call, clock) -> None:
    add(person("ann"))
    assert call("POST", TOUCHES.format("ann"), {"occasion_id": "company-news", "channel": "phone"})[0] == 201
    clock.advance(days=7)  # company-news: once a week
    assert call("POST", TOUCHES.format("ann"), {"occasion_id": "company-news", "channel": "phone"})[0] == 201


def test_a_manual_cap_reached_refuses_the_touch_naming_the_cap(call, clock) -> None:
    add(person("ann"))
    for days, channel in ((0, "phone"), (1, "meeting")):
        clock.at = NOW + timedelta(days=days)
        occasion = "company-news" if days == 0 else "anniversary"
        assert call("POST", TOUCHES.format("ann"), {"occasion_id": occasion, "channel": channel})[0] == 201
    clock.at = NOW + timedelta(days=2)
    # A third manual touch within seven days: the seeds' 1-2 a week (manual-week, max 2 per 7d).
    wiring.occasions().put("seasonal-promo", {"version": 0, "occasion": {
        **wiring.strategy_document()["occasions"]["seasonal-promo"], "category": "manual"}}, "olga")
    status, body = call("POST", TOUCHES.format("ann"), {"occasion_id": "seasonal-promo", "channel": "phone"})
    assert (status, body["error"]) == (409, "refused")
    assert "frequency_cap" in body["message"] and "manual-week" in body["message"]
    refused = [t for t in call("GET", "/v1/admin/contacts/ann")[1]["touches"] if t["occasion_id"] == "seasonal-promo"]
    assert [(t["status"], t["rule"], t["reason"]) for t in refused] == [
        ("refused", "frequency_cap", "cap_reached:manual-week")]
    clock.at = NOW + timedelta(days=7, minutes=1)  # the first touch left the window
    assert call("POST", TOUCHES.format("ann"), {"occasion_id": "seasonal-promo", "channel": "phone"})[0] == 201


def test_manual_emails_sent_by_chains_count_toward_the_same_cap(call, clock) -> None:
    add(person("ann"))
    for i in range(2):
        wiring.touches().reserve(TouchRecord(
            contact_id="ann", touch_key=f"campaign#{i}", touch_id=f"t{i}", channel="email", occasion_id="company-news",
            category="manual", status="reserved", created_at=NOW - timedelta(days=i + 1)))
    status, body = call("POST", TOUCHES.format("ann"), {"occasion_id": "anniversary", "channel": "phone"})
    assert (status, body["error"]) == (409, "refused")
    assert "manual-week" in body["message"]


@pytest.mark.parametrize(("contact", "channel", "rule"), [
    (person("no-mail-consent", consents=("sms",), phone=True), "email", "consent"),
    (person("no-marketing", consents=()), "phone", "consent"),
    (person("no-processing", data_processing=False), "phone", "consent"),
    (person("no-phone"), "sms", "consent"),
])
def test_a_touch_consent_forbids_is_409_naming_the_rule(call, clock, contact, channel: str, rule: str) -> None:
    add(contact)
    status, body = call("POST", TOUCHES.format(contact.contact_id), {"occasion_id": "anniversary",
                                                                     "channel": channel})
    assert (status, body["error"]) == (409, "refused")
    assert rule in body["message"]


def test_a_point_manager_marks_only_their_own_points_contacts(call, clock) -> None:
    add(person("ann"), person("spb", "spb-02"))
    mark = {"occasion_id": "anniversary", "channel": "phone"}
    assert call("POST", TOUCHES.format("spb"), mark, role="point-manager", point="msk-01")[0] == 404
    assert call("POST", TOUCHES.format("nobody"), mark, role="point-manager", point="msk-01")[0] == 404
    assert call("POST", TOUCHES.format("spb"), mark, role="point-manager", point="spb-02")[0] == 201


@pytest.mark.parametrize(("body", "field"), [
    ({"channel": "phone"}, "occasion_id"), ({"occasion_id": "nope", "channel": "phone"}, "occasion_id"),
    ({"occasion_id": "anniversary"}, "channel"), ({"occasion_id": "anniversary", "channel": "fax"}, "channel"),
    ({"occasion_id": "anniversary", "channel": "phone", "done": "yes"}, "done"),
    ({"occasion_id": "anniversary", "channel": "phone", "comment": "x" * 1001}, "comment"),
    ({"occasion_id": "anniversary", "channel": "phone", "send": True}, "send"),
    ({"occasion_id": "anniversary", "channel": "email", "send": True, "done": False, "comment": "?"}, "send"),
    ({"occasion_id": "anniversary", "channel": "phone", "when": "now"}, "when"),
    ({"occasion_id": "company-news", "channel": "sms", "send": True}, "channel"),  # it has an email template only
    ([], None),
])
def test_a_bad_mark_gets_400_naming_the_field(call, clock, body, field) -> None:
    add(person("ann"))
    status, answer = call("POST", TOUCHES.format("ann"), body)
    assert (status, answer["field"]) == (400, field)


def test_a_send_goes_out_once_through_the_decision_path(call, clock) -> None:
    add(person("ann", timezone="Europe/Moscow", first_name="Anna"))
    status, body = call("POST", TOUCHES.format("ann"), {"occasion_id": "anniversary", "channel": "email",
                                                        "send": True, "comment": "Five years"}, label="olga")
    assert (status, body["mark"]["status"], body["mark"]["actor"]) == (201, "sent", "olga")
    [mail] = sent_mail()
    assert (mail.to, mail.subject) == (["ann@example.com"], "Спасибо, что вы с нами")
    assert "List-Unsubscribe" in mail.headers
    status, again = call("POST", TOUCHES.format("ann"), {"occasion_id": "anniversary", "channel": "email",
                                                         "send": True})
    assert (status, again["mark"]["status"]) == (409, "sent")
    assert len(sent_mail()) == 1


def test_a_send_at_night_is_deferred_to_the_morning_not_dropped(call, clock) -> None:
    add(person("ann", timezone="Europe/Moscow"))
    clock.at = NOW.replace(hour=20)  # 23:00 in Moscow: email quiet hours until 08:00
    status, body = call("POST", TOUCHES.format("ann"), {"occasion_id": "anniversary", "channel": "email",
                                                        "send": True})
    assert (status, body["mark"]["status"], body["mark"]["rule"]) == (202, "deferred", "quiet_hours")
    assert body["deferred_until"] == (NOW + timedelta(days=1)).replace(hour=5).isoformat()
    assert sent_mail() == []
    clock.at = (NOW + timedelta(days=1)).replace(hour=5)
    for message in due_messages(clock.now()):
        wiring.step_worker().handle(message)
    [mail] = sent_mail()
    assert mail.to == ["ann@example.com"]
    [touch] = call("GET", "/v1/admin/contacts/ann")[1]["touches"]
    assert [h["status"] for h in touch["history"]] == ["deferred", "reserved", "sent"]
    assert due_messages(clock.now() + timedelta(days=1)) == []


def test_a_send_consent_forbids_is_refused_and_nothing_is_sent(call, clock) -> None:
    add(person("ann", consents=("sms",), phone=True))
    status, body = call("POST", TOUCHES.format("ann"), {"occasion_id": "anniversary", "channel": "email",
                                                        "send": True})
    assert (status, body["error"]) == (409, "refused")
    assert "consent" in body["message"]
    assert sent_mail() == []
