"""What a new user ran into: bad preference links got raw JSON, `+` in a phone search was lost, b2b at sign-up
never reached the contact, the export left facts out, and a one-click unsubscribe was not in the stats."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import wiring
from chalicelib.services.tokens import PREFERENCES, Token, issue
from chalicelib.store.keys import ApiKeyRepository
from chalicelib.store.models import ContactModel
from chalicelib.store.suppressions import SuppressionRepository
from cli.outbox import sent_mail
from functions.queues import apply_event, route_step
from tests.integration.consent.conftest import contact_id_of, link_in, path_of, post_signup, run_doi_worker, signup
from tests.integration.helpers import NOW, due_messages

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _confirmed(api, body: dict | None = None, email: str = "anna@example.com") -> str:
    post_signup(api, body or signup(email=email))
    run_doi_worker()
    assert api.http.get(link_in(sent_mail()[-1].text)).status_code == 200
    return contact_id_of(email)


def _manager() -> dict[str, str]:
    return {"Authorization": f"Bearer {ApiKeyRepository().create('service-manager', None, None, NOW)[1]}"}


def _run_due(clock) -> None:
    for message in due_messages(clock.now()):
        route_step(message)


@pytest.mark.parametrize(("accept", "lang", "words"), [
    ("en-GB,en;q=0.9", "en", b"This link is not valid"),
    ("de-DE,en;q=0.8", "en", b"This link is not valid"),
    ("ru-RU,ru;q=0.9", "ru", "Ссылка недействительна".encode()),
    (None, "ru", "Ссылка недействительна".encode()),
])
def test_a_bad_preferences_link_shows_the_same_page_as_a_bad_confirm_link(api, clock, accept, lang, words) -> None:
    headers = {"Accept-Language": accept} if accept else {}
    for method in ("get", "post"):  # the link opened, and the page's form posted back
        sent = {**headers, **FORM} if method == "post" else headers
        page = getattr(api.http, method)("/v1/preferences?token=k1.e30.AAAA", headers=sent)
        confirm = api.http.get("/v1/confirm?token=k1.e30.AAAA", headers=headers)
        assert page.status_code == confirm.status_code == 400, method
        assert page.headers["Content-Type"].startswith("text/html") and page.body == confirm.body, method
        assert words in page.body and f'lang="{lang}"'.encode() in page.body, method


def test_an_expired_preferences_link_speaks_the_contacts_language(api, clock) -> None:
    contact_id = _confirmed(api, signup(email="en@example.com", phone=None, locale="en-GB"), "en@example.com")
    expired = issue(wiring.token_keys(), Token(contact_id, PREFERENCES, int(NOW.timestamp()) - 1, "t-old"))
    page = api.http.get(f"/v1/preferences?token={expired}", headers={"Accept-Language": "ru-RU"})
    assert page.status_code == 410 and b"This link has expired" in page.body
    as_json = api.http.post(f"/v1/preferences?token={expired}", headers={"Content-Type": "application/json"},
                            body=json.dumps({"consents": {"email:marketing": False}}))
    assert as_json.status_code == 410 and json.loads(as_json.body)["field"] == "token"  # a script gets JSON


def test_admin_search_takes_a_phone_with_its_plus_as_typed(api, clock) -> None:
    contact_id = _confirmed(api)
    for typed in ("+79161234567", "+7 916 123-45-67", "%2B79161234567"):
        response = api.http.get(f"/v1/admin/contacts?phone={typed}", headers=_manager())
        assert response.status_code == 200, typed
        assert [c["contact_id"] for c in json.loads(response.body)["contacts"]] == [contact_id], typed
    bad = api.http.get("/v1/admin/contacts?phone=+12", headers=_manager())
    assert bad.status_code == 400 and json.loads(bad.body)["field"] == "phone"


def test_b2b_at_sign_up_reaches_the_contact_so_b2b_hours_apply(api, clock) -> None:
    clock.at = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # a Monday, 11:00 in Moscow: B2B days are Tue-Thu
    body = signup(email="office@example.com", phone=None, attributes={"first_name": "Oleg", "b2b": True})
    contact_id = _confirmed(api, body, "office@example.com")
    row = ContactModel.get(contact_id)
    assert row.b2b is True and "b2b" not in row.attributes.as_dict()

    _run_due(clock)

    [thanks] = [t for t in wiring.touches().for_contact(contact_id) if t.occasion_id == "welcome-thanks"]
    assert (thanks.status, thanks.reason) == ("deferred", "b2b_window")
    assert wiring.enrollments().get(contact_id, "welcome").state.due_at == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def test_a_sign_up_without_b2b_is_not_b2b_and_a_b2b_that_is_not_true_or_false_is_400(api, clock) -> None:
    contact_id = _confirmed(api, signup(email="home@example.com", phone=None), "home@example.com")
    assert ContactModel.get(contact_id).b2b is False
    response = post_signup(api, signup(email="odd@example.com", attributes={"b2b": "yes"}))
    assert response.status_code == 400 and json.loads(response.body)["field"] == "attributes.b2b"


def test_the_export_holds_facts_activity_b2b_enrolments_timers_touches_and_suppressions(api, clock) -> None:
    body = signup(attributes={"first_name": "Anna", "birthday": "1990-05-17", "point_id": "msk-01", "b2b": True})
    contact_id = _confirmed(api, body)
    _run_due(clock)  # the first welcome mail (a touch)
    order = {"type": "order_placed", "id": "ord-1", "contact": {"contact_id": contact_id},
             "occurred_at": NOW.isoformat(), "properties": {"amount": 990.0, "items": [{"sku": "A1"}]}}
    visit = {**order, "type": "site_visit", "id": "visit-1", "properties": {},
             "occurred_at": (NOW + timedelta(hours=1)).isoformat()}
    for event in (order, visit):
        apply_event({"kind": "event", "event": event})
    SuppressionRepository().suppress("phone:+79161234567", "sms_stop", NOW, "sms-inbound")

    export = json.loads(api.http.get(f"/v1/admin/contacts/{contact_id}/export", headers=_manager()).body)

    contact = export["contact"]
    assert (contact["orders_count"], contact["revenue"], contact["b2b"]) == (1, 990.0, True)
    assert (contact["last_order_at"], contact["segment"]) == (str(NOW), "new")
    assert contact["last_activity_at"] == str(NOW + timedelta(hours=1))
    assert {e["chain_id"] for e in export["enrollments"]} >= {"welcome", "nps"}
    nps = next(e for e in export["enrollments"] if e["chain_id"] == "nps")
    assert nps["context"]["order"]["items"] == [{"sku": "A1"}]  # what the chain's templates show
    assert {t["timer"] for t in export["timers"]} >= {"leaving", "dormant", "stop_list", "birthday"}
    assert any(t["occasion_id"] == "welcome-thanks" for t in export["touches"])
    assert export["suppressions"] == [{"address": "phone:+79161234567", "reason": "sms_stop",
                                       "at": NOW.isoformat(), "source": "sms-inbound"}]


def test_a_one_click_unsubscribe_counts_for_the_chain_step_of_the_last_marketing_mail(api, clock) -> None:
    contact_id = _confirmed(api)
    _run_due(clock)  # welcome step 0: the thanks mail
    url = path_of(wiring.links().unsubscribe_url(contact_id))

    for _ in range(2):  # a second click changes nothing and counts nothing
        assert api.http.post(url, headers=FORM, body="List-Unsubscribe=One-Click").status_code == 200

    [row] = [r for r in wiring.stats().read("welcome", NOW.date(), NOW.date()) if r.step == 0]
    assert (row.counts["sent"], row.counts["unsubscribed"]) == (1, 1)
