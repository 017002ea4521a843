"""Withdrawing personal-data consent (GDPR art. 7(3), 152-FZ art. 9) where it was given: the preference centre's
form and its JSON API. Every consent goes off, every chain exits (a hooks-only one too), erasure falls due after
the strategy's delay and the timer runs it; every step is in the ledger."""

from __future__ import annotations

import json
from datetime import timedelta

from chalicelib import wiring
from chalicelib.store.ledger import LedgerRepository
from chalicelib.store.timers import is_timer
from cli.outbox import sent_mail
from functions.queues import route_step
from tests.integration.consent.conftest import contact_id_of, link_in, path_of, post_signup, run_doi_worker, signup
from tests.integration.helpers import NOW, due_messages

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}
WITHDRAWN = "data_processing_withdrawn"


def _confirmed(api, body: dict | None = None, email: str = "anna@example.com") -> str:
    post_signup(api, body or signup(email=email))
    run_doi_worker()
    assert api.http.get(link_in(sent_mail()[-1].text)).status_code == 200
    return contact_id_of(email)


def _minimal_signup(email: str) -> dict:
    return {"email": email, "data_processing": {"text_id": "personal-data-v1"},
            "consents": [{"channel": "email", "purpose": "marketing", "text_id": "marketing-email-v1"}]}


def _run_due(clock) -> int:
    messages = due_messages(clock.now())
    for message in messages:
        route_step(message)
    return len(messages)


def _chains(contact_id: str) -> dict:
    return {cid: s.state for cid, s in wiring.enrollments().for_contact(contact_id).items() if not is_timer(cid)}


def _ledger(contact_id: str) -> list:
    return LedgerRepository().history(contact_id)


def _hook_touches(contact_id: str) -> list:
    return [t for t in wiring.touches().for_contact(contact_id) if t.channel == "hook"]


def test_withdrawing_in_the_form_revokes_everything_exits_every_chain_and_the_timer_erases_on_the_day(
    api, clock
) -> None:
    contact_id = _confirmed(api)
    running = {cid for cid, state in _chains(contact_id).items() if state.active}
    assert {"welcome", "retargeting", "activation"} <= running
    url = path_of(wiring.links().preferences_url(contact_id))
    assert b'name="any:data_processing" value="on" checked' in api.http.get(url).body

    # The form as a browser posts it: every switch, marketing still ticked, personal data unticked.
    form = ("email:marketing=off&email:marketing=on&sms:marketing=off&sms:marketing=on&email:service=off"
            "&email:service=on&sms:service=off&sms:service=on&any:data_processing=off&action=save")
    page = api.http.post(url, headers=FORM, body=form)

    assert page.status_code == 200 and (NOW + timedelta(days=30)).date().isoformat().encode() in page.body
    state = wiring.contacts().current_consents(contact_id)
    assert not state.data_processing and set(state.consents.values()) == {False} and len(state.consents) == 4
    assert all(not s.active and s.exit_reason == WITHDRAWN for s in _chains(contact_id).values())
    entries = [e for e in _ledger(contact_id) if e.at == NOW and e.kind != "confirmed" and e.source]
    revoked = sorted((e.channel or "", e.purpose) for e in entries if e.kind == "revoked")
    assert revoked == [("", "data_processing"), ("email", "marketing"), ("email", "service"),
                       ("sms", "marketing"), ("sms", "service")]
    withdrawal = next(e for e in entries if e.kind == "revoked" and e.purpose == "data_processing")
    assert withdrawal.text_id == "personal-data-v1" and withdrawal.token_id and withdrawal.text_sha256
    [exited] = [e for e in entries if e.kind == "exited"]
    assert running <= set(exited.detail["chains"].split(","))
    [scheduled] = [e for e in entries if e.kind == "erasure_scheduled"]
    assert scheduled.detail["due_at"] == (NOW + timedelta(days=30)).isoformat()

    clock.advance(days=30, seconds=-60)
    _run_due(clock)
    assert wiring.contacts().get(contact_id).status == "active"
    assert _hook_touches(contact_id) == []  # the retargeting hook (day 1) never fired

    clock.advance(seconds=60)
    _run_due(clock)

    erased = wiring.contacts().get(contact_id)
    assert erased.status == "erased" and erased.email is None and erased.phone is None
    [entry] = [e for e in _ledger(contact_id) if e.kind == "erased"]
    assert entry.at == NOW + timedelta(days=30) and entry.detail["actor"] == "consent-withdrawal"
    assert _run_due(clock) == 0  # the timer is done: nothing falls due again


def test_withdrawing_through_the_api_answers_with_every_switch_off_and_the_erasure_date(api, clock) -> None:
    contact_id = _confirmed(api, _minimal_signup("min@example.com"), "min@example.com")
    url = path_of(wiring.links().preferences_url(contact_id))

    response = api.http.post(url, headers=JSON, body=json.dumps({"consents": {"any:data_processing": False}}))

    assert response.status_code == 200
    body = json.loads(response.body)
    assert body["consents"] == {"email:marketing": False, "email:service": False, "any:data_processing": False}
    assert body["erasure_due"] == (NOW + timedelta(days=30)).isoformat()
    assert [e.kind for e in _ledger(contact_id)].count("erasure_scheduled") == 1
    assert all(not s.active for s in _chains(contact_id).values())
    before = len(_ledger(contact_id))
    again = api.http.post(url, headers=JSON, body=json.dumps({"consents": {"any:data_processing": False}}))
    assert again.status_code == 200 and len(_ledger(contact_id)) == before  # a resubmission writes nothing
    assert [t.event for t in wiring.timers().for_contact(contact_id)].count("erasure_due") == 1


def test_the_delay_is_the_strategys_consent_erasure_after(api, clock, monkeypatch) -> None:
    from dataclasses import replace

    shorter = replace(wiring.strategy(), erasure_after=timedelta(days=7))
    monkeypatch.setattr(wiring, "strategy", lambda: shorter)
    wiring.reset()
    contact_id = _confirmed(api, _minimal_signup("week@example.com"), "week@example.com")
    api.http.post(path_of(wiring.links().preferences_url(contact_id)), headers=JSON,
                  body=json.dumps({"consents": {"any:data_processing": False}}))
    clock.advance(days=7)
    _run_due(clock)
    assert wiring.contacts().get(contact_id).status == "erased"


def test_consent_given_again_before_the_day_keeps_the_contact(api, clock) -> None:
    contact_id = _confirmed(api, _minimal_signup("back@example.com"), "back@example.com")
    url = path_of(wiring.links().preferences_url(contact_id))
    api.http.post(url, headers=JSON, body=json.dumps({"consents": {"any:data_processing": False}}))
    clock.advance(days=3)
    back = api.http.post(url, headers=JSON, body=json.dumps({"consents": {"any:data_processing": True}}))
    assert json.loads(back.body)["consents"]["any:data_processing"] is True
    granted = [e for e in _ledger(contact_id) if e.kind == "granted"]
    assert [(e.purpose, e.text_id) for e in granted] == [("data_processing", "personal-data-v1")]

    clock.advance(days=27)
    _run_due(clock)

    assert wiring.contacts().get(contact_id).status == "active"
    assert "erased" not in [e.kind for e in _ledger(contact_id)]


def test_unsubscribing_from_everything_exits_the_hooks_only_retargeting_chain_before_its_hook(api, clock) -> None:
    contact_id = _confirmed(api)
    clock.advance(hours=2)
    api.http.post(path_of(wiring.links().preferences_url(contact_id)), headers=FORM, body="action=unsubscribe_all")

    retargeting = _chains(contact_id)["retargeting"]
    assert (retargeting.status, retargeting.exit_reason) == ("exited", "consent_revoked")
    clock.advance(days=2)
    _run_due(clock)
    assert _hook_touches(contact_id) == []
    assert wiring.contacts().current_consents(contact_id).data_processing  # unsubscribing is not withdrawing


def test_the_retargeting_hook_fires_for_a_contact_who_stays_subscribed(api, clock) -> None:
    contact_id = _confirmed(api)
    clock.advance(days=1, minutes=1)
    _run_due(clock)
    [hook] = _hook_touches(contact_id)
    assert hook.occasion_id == "retargeting" and hook.chain_id == "retargeting"
