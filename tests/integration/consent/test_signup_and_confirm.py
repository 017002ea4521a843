"""Sign-up to confirmation on moto: proof in the ledger, one contact per address, the same answer for all."""

from __future__ import annotations

import hashlib
import json
import threading

from chalicelib import wiring
from chalicelib.services.consent import Origin
from chalicelib.services.subscriptions import parse_subscription
from chalicelib.store.enrollments import shard_of
from chalicelib.store.ledger import LedgerRepository
from chalicelib.store.models import ContactModel, IdentityModel
from chalicelib.store.suppressions import SuppressionRepository
from cli.outbox import sent_mail, sent_sms
from tests.integration.consent.conftest import (
    BROWSER,
    contact_id_of,
    link_in,
    path_of,
    post_signup,
    run_doi_worker,
    signup,
    steps_messages,
)


def _confirm(api, mail_index: int = -1):
    return api.http.get(link_in(sent_mail()[mail_index].text), headers={"User-Agent": "MailApp/1.0"})


def test_a_sign_up_sends_one_doi_mail_and_the_click_turns_consent_on_with_proof(api, clock) -> None:
    response = post_signup(api, signup(email=" Anna@Example.COM "))
    assert (response.status_code, json.loads(response.body)) == (202, {"status": "pending_confirmation"})
    assert run_doi_worker() == 1
    [mail] = sent_mail()
    assert mail.to == ["anna@example.com"] and "List-Unsubscribe" not in mail.headers  # transactional
    contact_id = contact_id_of("anna@example.com")
    assert wiring.contacts().current_consents(contact_id).consents == {}  # nothing before the click

    page = _confirm(api)

    assert page.status_code == 200 and b"/v1/preferences?token=" in page.body
    state = wiring.contacts().current_consents(contact_id)
    assert state.confirmed and state.data_processing
    assert state.consents == {("email", "marketing"): True, ("sms", "marketing"): True}
    ledger = LedgerRepository().history(contact_id)
    assert sorted(e.kind for e in ledger) == ["confirmed"] * 3 + ["requested"] * 3
    texts = wiring.strategy().consent_texts
    for entry in ledger:
        assert entry.text_sha256 == hashlib.sha256(texts[entry.text_id].text["ru"].encode()).hexdigest()
        assert entry.source in ("site-footer", "double-opt-in")
        assert entry.user_agent_hash and entry.user_agent_hash.startswith("k1:")
        assert "Mozilla" not in entry.user_agent_hash
    assert {e.token_id for e in ledger if e.kind == "confirmed"} not in ({None}, set())
    [welcome] = [s for s in wiring.enrollments().for_contact(contact_id).values() if s.state.chain_id == "welcome"]
    assert welcome.state.status == "running" and welcome.state.step == 0 and welcome.state.due_at == clock.now()
    enrollments = wiring.enrollments()  # the tick finds it on the due index
    due = enrollments.due(shard_of(contact_id, enrollments.shards), int(clock.now().timestamp()), 10)
    assert any(item.contact_id == contact_id for item in due)


def test_a_second_click_says_already_confirmed_and_writes_nothing(api, clock) -> None:
    post_signup(api, signup())
    run_doi_worker()
    assert _confirm(api).status_code == 200
    contact_id = contact_id_of("anna@example.com")
    ledger = LedgerRepository().history(contact_id)
    enrolments = wiring.enrollments().for_contact(contact_id)

    again = _confirm(api)

    assert again.status_code == 200 and "уже".encode() in again.body
    assert LedgerRepository().history(contact_id) == ledger
    assert wiring.enrollments().for_contact(contact_id) == enrolments


def test_nothing_but_the_doi_message_goes_out_before_confirmation(api, clock) -> None:
    post_signup(api, signup(email=None))
    messages = steps_messages()
    assert [m["kind"] for m in messages] == ["doi"] and messages[0]["channel"] == "sms"
    for message in messages:
        from functions.queues import route_step

        route_step(message)
    [sms] = sent_sms()
    assert sms.phone == "+79161234567" and "/v1/confirm?token=" in sms.text
    assert sent_mail() == []
    contact_id = wiring.contacts().owners(["phone:+79161234567"])["phone:+79161234567"]
    assert wiring.enrollments().for_contact(contact_id) == {}


def _answer(api, body: dict):
    response = post_signup(api, body)
    return response.status_code, response.headers, response.body


def test_the_answer_is_byte_identical_for_new_pending_active_unsubscribed_and_suppressed(api, clock) -> None:
    new = _answer(api, signup(email="new@example.com", phone=None))
    pending = _answer(api, signup(email="new@example.com", phone=None))
    post_signup(api, signup(email="active@example.com", phone=None))
    run_doi_worker()
    _confirm(api)
    active = _answer(api, signup(email="active@example.com", phone=None))
    unsubscribed_id = contact_id_of("active@example.com")
    api.http.post(path_of(wiring.links().unsubscribe_url(unsubscribed_id)),
                  headers={"Content-Type": "application/x-www-form-urlencoded"}, body="List-Unsubscribe=One-Click")
    unsubscribed = _answer(api, signup(email="active@example.com", phone=None))
    SuppressionRepository().suppress("email:bounced@example.com", "hard_bounce", clock.now())
    suppressed = _answer(api, signup(email="bounced@example.com", phone=None))
    assert new[0] == 202
    assert new == pending == active == unsubscribed == suppressed


def test_a_suppressed_address_gets_no_doi_message(api, clock) -> None:
    SuppressionRepository().suppress("email:bounced@example.com", "hard_bounce", clock.now())
    post_signup(api, signup(email="bounced@example.com", phone=None))
    assert run_doi_worker() == 1
    assert sent_mail() == []


def test_doi_messages_are_capped_at_one_a_day_and_three_in_thirty_days(api, clock) -> None:
    counts = []
    for _ in range(40):
        post_signup(api, signup(phone=None))
        post_signup(api, signup(phone=None))
        run_doi_worker()
        counts.append(len(sent_mail()))
        clock.advance(days=1)
    assert counts[0] == 1  # two sign-ups on day one: one message
    assert counts[1] == 2 and counts[2] == 3  # a day later each time
    assert counts[29] == 3  # three in thirty days, then nothing until the first leaves the window
    assert counts[30] == 4


def test_200_concurrent_sign_ups_of_one_address_make_one_contact_and_at_most_one_doi(
    api, clock, monkeypatch
) -> None:
    # DynamoDB runs each request atomically; moto's in-process backend does not guard itself against Python
    # threads (a transaction deep-copies tables another thread is writing), so requests get that one lock.
    from moto.dynamodb.responses import DynamoHandler

    atomic = threading.Lock()
    call_action = DynamoHandler.call_action

    def one_request_at_a_time(self):
        with atomic:
            return call_action(self)

    monkeypatch.setattr(DynamoHandler, "call_action", one_request_at_a_time)
    spellings = ["anna@example.com", "ANNA@example.com", " anna@Example.com", "Anna@EXAMPLE.COM  "]
    subscriptions = wiring.subscriptions()
    strategy = wiring.strategy()
    errors = []
    start = threading.Barrier(200)

    def one(i: int) -> None:
        try:
            subscription = parse_subscription(signup(email=spellings[i % len(spellings)], phone=None), strategy)
            start.wait()
            subscriptions.subscribe(subscription, Origin(None, "203.0.113.9", "ua"))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert ContactModel.count() == 1 and IdentityModel.count() == 1
    assert run_doi_worker() == 200
    assert len(sent_mail()) == 1


def test_an_existing_contact_keeps_its_address_when_a_sign_up_names_another(api, clock) -> None:
    post_signup(api, signup(phone="+79161234567"))
    post_signup(api, signup(phone="+79161234500"))
    contact = wiring.contacts().get(contact_id_of("anna@example.com"))
    assert contact.phone == "+79161234567"
    assert wiring.contacts().owners(["phone:+79161234500"]) == {}  # not tied to Anna unconfirmed
    assert ContactModel.count() == 1


def test_expired_and_tampered_doi_links(api, clock) -> None:
    post_signup(api, signup(phone=None))
    run_doi_worker()
    link = link_in(sent_mail()[0].text)
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    assert api.http.get(tampered).status_code == 400
    assert api.http.get("/v1/confirm").status_code == 400
    clock.advance(hours=72, seconds=1)
    expired = api.http.get(link)
    assert expired.status_code == 410
    assert wiring.contacts().current_consents(contact_id_of("anna@example.com")).consents == {}


def test_cors_answers_only_the_configured_sites(api, clock) -> None:
    from chalicelib.settings import get_settings

    get_settings.cache_clear()  # read again inside the call, where the test stage's environment applies
    try:
        allowed = post_signup(api, signup(), {**BROWSER, "Origin": "https://www.example.com"})
        other = post_signup(api, signup(), {**BROWSER, "Origin": "https://evil.example.net"})
        preflight = api.http.request("OPTIONS", "/v1/subscriptions", headers={"Origin": "https://www.example.com"})
    finally:
        get_settings.cache_clear()
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://www.example.com"
    assert "Access-Control-Allow-Origin" not in other.headers and other.status_code == 202
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://www.example.com"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


def test_a_honeypot_hit_gets_the_same_answer_and_stores_nothing(api, clock) -> None:
    trapped = _answer(api, signup(website="http://spam.example.net"))
    real = _answer(api, signup(email="real@example.com"))
    assert trapped == real
    assert ContactModel.count() == 1 and len(steps_messages()) == 1


def test_a_failed_captcha_is_refused_and_stores_nothing(api, clock, monkeypatch) -> None:
    class FakeCaptcha:
        def verify(self, answer, ip):
            return answer == "solved"

    from functools import cache

    monkeypatch.setattr(wiring, "captcha", cache(lambda: FakeCaptcha()))
    wiring.reset()
    refused = post_signup(api, signup(captcha="wrong"))
    assert refused.status_code == 400 and json.loads(refused.body)["field"] == "captcha"
    assert ContactModel.count() == 0
    assert post_signup(api, signup(captcha="solved")).status_code == 202
    assert ContactModel.count() == 1



def test_confirming_arms_the_stop_list_and_birthday_timers(api, clock) -> None:
    from datetime import timedelta

    from chalicelib.store.timers import TimerRepository

    post_signup(api, signup())  # with birthday 1990-05-17, in Europe/Moscow
    run_doi_worker()
    _confirm(api)
    contact_id = contact_id_of("anna@example.com")
    timers = TimerRepository(wiring.enrollments().shards)
    stop_list = timers.get(contact_id, "timer:stop_list")
    assert stop_list is not None and stop_list.due_at == clock.now() + timedelta(days=365)
    birthday = timers.get(contact_id, "timer:birthday")
    assert birthday is not None and birthday.event == "birthday"
    assert birthday.due_at.isoformat() == "2027-05-17T07:00:00+00:00"  # 10:00 in Moscow


def test_the_doi_message_is_a_touch_on_the_contact_with_its_provider_id(api, clock) -> None:
    post_signup(api, signup(phone=None))
    run_doi_worker()
    [mail] = sent_mail()
    [touch] = wiring.touches().for_contact(contact_id_of("anna@example.com"))
    assert (touch.occasion_id, touch.status, touch.reason) == ("doi", "sent", "double_opt_in")
    assert touch.provider_message_id == mail.message_id
