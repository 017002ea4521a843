"""The operators' console over the Chalice test client on moto: sign-in and its cookie, sessions that expire,
are tampered with or lose their key, CSRF, and every page behind the admin API's roles and points."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from chalicelib import wiring
from chalicelib.store.keys import hash_key
from chalicelib.store.models import ApiKeyModel
from tests.integration.helpers import NOW
from tests.integration.occasions.conftest import add, person

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def set_cookies(response: Any) -> dict[str, str]:
    """name -> the whole Set-Cookie line, for each cookie the response sets."""
    lines = response.headers.get("Set-Cookie") or []
    return {line.split("=", 1)[0]: line for line in ([lines] if isinstance(lines, str) else lines)}


class Browser:
    """One operator's browser: keeps the cookies as a browser would, and reads the forms' CSRF token."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.jar: dict[str, str] = {}
        self.csrf: str | None = None

    @property
    def cookie(self) -> str | None:
        return self.jar.get("tp_console")

    @cookie.setter
    def cookie(self, value: str) -> None:
        self.jar["tp_console"] = value

    def _keep(self, response: Any) -> Any:
        for name, line in set_cookies(response).items():
            value = line.split(";")[0].split("=", 1)[1]
            if "Max-Age=0" in line:
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        found = re.search(r'name="csrf" value="([^"]+)"', response.body.decode())
        if found:
            self.csrf = found.group(1)
        return response

    def sign_in(self, key: str) -> Any:
        self.get("/console")
        return self.post("/console/sign-in", {"key": key})

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {**(extra or {})}
        if self.jar:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.jar.items())
        return headers

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self._keep(self.api.http.get(path, headers=self._headers(headers)))

    def post(self, path: str, fields: dict[str, str], csrf: bool = True) -> Any:
        if csrf and "csrf" not in fields:
            fields = {**fields, "csrf": self.csrf or ""}
        return self._keep(self.api.http.post(path, headers=self._headers(FORM), body=urlencode(fields)))


@pytest.fixture
def browser(api: Any) -> Callable[..., Browser]:
    """browser(role, point=None, label=None) -> a Browser signed in with a new key of that role."""

    def open_one(role: str = "service-manager", point: str | None = None, label: str | None = None) -> Browser:
        signed = Browser(api)
        key = wiring.api_keys().create(role, point, label, NOW)[1]
        response = signed.sign_in(key)
        assert response.status_code == 303, response.body
        signed.key = key  # type: ignore[attr-defined]
        signed.get("/console/occasions")
        return signed

    return open_one


def text(response: Any) -> str:
    return response.body.decode()


def test_signing_in_sets_a_short_lived_strict_cookie_that_carries_no_key(api, clock) -> None:
    key = wiring.api_keys().create("point-manager", "msk-01", "olga", NOW)[1]
    page = api.http.get("/console")
    assert page.status_code == 200 and 'name="key"' in text(page)
    response = Browser(api).sign_in(key)
    assert (response.status_code, response.headers["Location"]) == (303, "/console/occasions")
    cookie = set_cookies(response)["tp_console"]
    attributes = [part.strip() for part in cookie.split(";")]
    assert {"HttpOnly", "Secure", "SameSite=Strict", "Path=/console", "Max-Age=28800"} <= set(attributes)
    assert key not in cookie and key.split("_", 2)[2] not in cookie  # the secret itself may hold "_"
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Cache-Control"] == "no-store"


def test_a_wrong_key_or_an_ingest_key_gets_no_session(api, clock) -> None:
    wrong = Browser(api).sign_in("tp_nothing_here")
    assert wrong.status_code == 401 and "tp_console" not in set_cookies(wrong) and 'name="key"' in text(wrong)
    ingest = Browser(api)
    ingest.sign_in(wiring.api_keys().create("ingest", None, None, NOW)[1])
    assert ingest.get("/console/occasions").status_code == 403


PAGES = ("/console/occasions", "/console/occasions/anniversary",
         "/console/occasions/anniversary/checklist?point_id=msk-01", "/console/contacts/ann", "/console/stats")


def test_every_page_without_a_session_is_the_sign_in_page_with_401(api, clock) -> None:
    for path in PAGES:  # one stack for all: each test's moto setup costs more than these requests
        response = api.http.get(path)
        assert response.status_code == 401 and 'name="key"' in text(response), path
        assert api.http.get(path, headers={"Cookie": "tp_console=k1.e30.bad"}).status_code == 401, path


def test_a_tampered_expired_or_revoked_session_is_signed_out(browser, clock) -> None:
    manager = browser()
    assert manager.get("/console/occasions").status_code == 200
    kid, payload, mac = manager.cookie.split(".")
    forged = Browser(manager.api)
    forged.cookie = f"{kid}.{payload[:-2]}{'AA' if payload[-2:] != 'AA' else 'BB'}.{mac}"
    assert forged.get("/console/occasions").status_code == 401
    clock.advance(hours=8)
    assert manager.get("/console/occasions").status_code == 401
    clock.at = NOW
    ApiKeyModel.get(hash_key(manager.key)).update(actions=[ApiKeyModel.revoked.set(True)])
    assert manager.get("/console/occasions").status_code == 401


def test_a_form_without_its_csrf_token_or_with_another_sessions_is_refused_with_403(browser, clock) -> None:
    add(person("ann"))
    olga, other = browser("point-manager", "msk-01"), browser("point-manager", "msk-01")
    path = "/console/occasions/anniversary/checklist"
    for token in ("", other.csrf or "", "x" * 43):
        refused = olga.post(path, {"contact_id": "ann", "channel": "phone", "done": "yes", "csrf": token})
        assert refused.status_code == 403, token
    assert wiring.touches().for_contact("ann") == []
    assert olga.post(path, {"contact_id": "ann", "channel": "phone", "done": "yes"}).status_code == 201


def test_sign_out_clears_the_cookie(browser, clock) -> None:
    manager = browser()
    assert manager.post("/console/sign-out", {"csrf": ""}).status_code == 403  # a sign-out needs the token too
    response = manager.post("/console/sign-out", {})
    assert (response.status_code, response.headers["Location"]) == (303, "/console")
    cleared = set_cookies(response)["tp_console"]
    assert cleared.startswith("tp_console=;") and "Max-Age=0" in cleared
    assert manager.cookie is None and manager.get("/console/occasions").status_code == 401


def test_the_sign_in_form_needs_its_own_token(api, clock) -> None:
    key = wiring.api_keys().create("service-manager", None, None, NOW)[1]
    stranger = Browser(api)
    assert stranger.post("/console/sign-in", {"key": key}, csrf=False).status_code == 403  # no form was shown
    stranger.get("/console")
    forged = stranger.post("/console/sign-in", {"key": key, "csrf": "x" * 32})
    assert forged.status_code == 403 and stranger.cookie is None
    assert stranger.post("/console/sign-in", {"key": key}).status_code == 303 and stranger.cookie


def test_signing_in_from_a_page_asked_for_goes_back_to_it(api, clock) -> None:
    key = wiring.api_keys().create("service-manager", None, None, NOW)[1]
    visitor = Browser(api)
    asked = visitor.get("/console/stats")
    assert asked.status_code == 401 and 'name="next" value="/console/stats"' in text(asked)
    wrong = visitor.post("/console/sign-in", {"key": "tp_wrong", "next": "/console/stats"})
    assert wrong.status_code == 401 and 'name="next" value="/console/stats"' in text(wrong)  # the page is kept
    answer = visitor.post("/console/sign-in", {"key": key, "next": "/console/stats"})
    assert (answer.status_code, answer.headers["Location"]) == (303, "/console/stats")


def test_a_point_manager_sees_their_points_checklist_and_cards_and_nothing_else(browser, clock) -> None:
    add(person("ann"), person("bob", point_id="spb-02"))
    olga = browser("point-manager", "msk-01", "olga")
    own = olga.get("/console/occasions/anniversary/checklist")
    assert own.status_code == 200 and "ann@example.com" in text(own) and "bob@example.com" not in text(own)
    assert olga.get("/console/occasions/anniversary/checklist?point_id=spb-02").status_code == 403
    assert olga.get("/console/contacts/ann").status_code == 200
    assert olga.get("/console/contacts/bob").status_code == 403
    assert olga.get("/console/contacts/nobody").status_code == 404
    for path in ("/console/occasions/anniversary", "/console/stats"):
        assert olga.get(path).status_code == 403, path
    listed = olga.get("/console/occasions")
    assert listed.status_code == 200 and "/console/occasions/anniversary/checklist" in text(listed)
    assert 'href="/console/occasions/anniversary"' not in text(listed)  # no editor link for a point manager
    editing = olga.post("/console/occasions/anniversary", {"version": "0", "action": "save", "title": "Mine"})
    assert editing.status_code == 403
    assert wiring.occasions().get("anniversary")["version"] == 0


def test_a_mark_twice_shows_the_refusal_and_the_card_shows_the_comment(browser, clock) -> None:
    add(person("ann"))
    olga = browser("point-manager", "msk-01", "olga")
    path = "/console/occasions/anniversary/checklist"
    first = olga.post(path, {"contact_id": "ann", "channel": "phone", "done": "yes", "comment": "Called, pleased"})
    assert first.status_code == 201 and "Called, pleased" in text(first)
    again = olga.post(path, {"contact_id": "ann", "channel": "post", "done": "yes"})
    assert again.status_code == 409 and 'class="refusal"' in text(again) and "already marked" in text(again)
    [touch] = wiring.touches().for_contact("ann")
    assert (touch.channel, touch.actor, touch.comment) == ("phone", "olga", "Called, pleased")
    card = olga.get("/console/contacts/ann")
    assert "Called, pleased" in text(card) and "olga" in text(card)


def test_a_contact_with_no_name_and_nothing_else_has_a_card_and_a_checklist_row(browser, clock) -> None:
    add(person("min", email=False, phone=True, consents=(), data_processing=False))
    manager = browser()
    card = manager.get("/console/contacts/min", headers={"Accept-Language": "en"})
    assert card.status_code == 200 and "(no name)" in text(card)
    row = manager.get("/console/occasions/anniversary/checklist?point_id=msk-01&lang=en")
    assert row.status_code == 200 and "(no name)" in text(row) and "open" in text(row)
    refused = manager.post("/console/occasions/anniversary/checklist",
                           {"contact_id": "min", "channel": "phone", "done": "yes", "point_id": "msk-01"})
    assert refused.status_code == 409 and 'class="refusal"' in text(refused)


def test_pages_are_in_russian_or_english_and_the_choice_is_remembered(api, browser, clock) -> None:
    assert "Вход" in text(api.http.get("/console"))  # Russian unless the browser asks otherwise
    assert "Sign in" in text(api.http.get("/console", headers={"Accept-Language": "en-GB,en;q=0.9"}))
    manager = browser()
    chosen = manager.get("/console/occasions?lang=en", headers={"Accept-Language": "ru"})
    assert "Occasions" in text(chosen) and 'lang="en"' in text(chosen)
    remembered = set_cookies(chosen)["tp_console_lang"]
    assert remembered.startswith("tp_console_lang=en;") and "SameSite=Strict" in remembered
    assert "Occasions" in text(manager.get("/console/occasions", headers={"Accept-Language": "ru"}))
    manager.jar.pop("tp_console_lang")
    assert "Инфоповоды" in text(manager.get("/console/occasions", headers={"Accept-Language": "ru"}))


def test_an_edit_is_saved_through_the_occasions_service_and_errors_show_at_their_field(browser, clock) -> None:
    manager = browser("service-manager", None, "irina")
    form = manager.get("/console/occasions/anniversary")
    assert form.status_code == 200 and 'name="templates.email.en.subject"' in text(form)
    field = "templates.sms.en.text"
    preview = manager.post("/console/occasions/anniversary", {"version": "0", "action": "preview",
                                                              field: "Five years, {{ contact.first_name }}!"})
    assert preview.status_code == 200 and "Five years, !" in text(preview)  # the sample contact has no name
    named = manager.post("/console/occasions/anniversary", {"version": "0", "action": "preview", "sample": "full",
                                                            field: "Five years, {{ contact.first_name }}!"})
    assert "Five years, Anna!" in text(named)
    broken = manager.post("/console/occasions/anniversary", {"version": "0", "action": "save",
                                                             field: "{{ contact.frist_name }"})
    assert broken.status_code == 400
    assert re.search(r'name="templates\.sms\.en\.text"[^>]*>[^<]*</textarea>\s*<p class="field-error"',
                     text(broken))
    saved = manager.post("/console/occasions/anniversary?lang=en", {"version": "0", "action": "save",
                                                            field: "Five years together! Reply STOP to opt out"})
    assert saved.status_code == 200 and "version 1" in text(saved)
    stored = wiring.occasions().get("anniversary")
    assert (stored["version"], stored["updated_by"]) == (1, "irina")
    assert stored["occasion"]["templates"]["sms"]["en"]["text"] == "Five years together! Reply STOP to opt out"
    stale = manager.post("/console/occasions/anniversary?lang=en", {"version": "0", "action": "save", "title": "Old"})
    assert stale.status_code == 409 and "version 1" in text(stale)


def test_stats_show_charts_per_step_and_the_triggered_share_beside_the_goal(browser, clock) -> None:
    from chalicelib.services.stats import MANUAL_SENDS
    from chalicelib.store.stats import counter_key

    counters = wiring.counters()
    counters.add(counter_key("welcome", 0, None), NOW.date(), {"sent": 30, "delivered": 28, "opened": 7,
                                                               "clicked": 2, "converted": 1, "revenue": 1500})
    counters.add(MANUAL_SENDS, NOW.date(), {"sent": 10})
    manager = browser()
    page = manager.get("/console/stats?lang=en")
    body = text(page)
    assert page.status_code == 200 and 'id="chart-open_rate"' in body and "25.0%" in body  # 7 of 28 delivered
    assert "welcome #0" in body and "1,500.00" in body  # the average check of one conversion
    assert "Triggered 30, manual 10: 75%" in body
    assert manager.get("/console/stats?from=nonsense").status_code == 400


def test_a_manual_send_counts_on_the_manual_side(browser, clock) -> None:
    clock.at = NOW.replace(hour=9)  # Moscow midday: no quiet hours
    add(person("ann"))
    manager = browser()
    wiring.manual_touches().mark("ann", {"occasion_id": "company-news", "channel": "email", "send": True}, None, "x")
    assert wiring.stats().manual_sends(NOW.date(), NOW.date() + timedelta(days=1)) == 1
    assert "manual 1" in text(manager.get("/console/stats?lang=en"))


def test_a_campaigns_sends_count_on_the_manual_side(browser, clock) -> None:
    from chalicelib.domain.campaigns import campaign_chain_id
    from chalicelib.store.stats import counter_key

    created = wiring.campaigns().create({
        "occasion_id": "company-news", "audience": {"segment": "prospect"}, "channels": ["email"],
        "send_at": {"local_time": "08:30", "date": (NOW + timedelta(days=1)).date().isoformat()}}, "irina")
    wiring.counters().add(counter_key("welcome", 0, None), NOW.date(), {"sent": 3})
    wiring.counters().add(counter_key(campaign_chain_id(created["campaign_id"], 0), 0, None), NOW.date(), {"sent": 1})
    assert "Triggered 3, manual 1: 75%" in text(browser().get("/console/stats?lang=en"))


def test_the_checklist_pages_as_the_api_does(browser, clock) -> None:
    add(person("c1"), person("c2"), person("c3"))
    manager = browser()
    first = text(manager.get("/console/occasions/anniversary/checklist?point_id=msk-01&limit=2&lang=en"))
    found = re.search(r'href="(/console/occasions/anniversary/checklist\?[^"]+)">Next page', first)
    assert found and first.count('<tr id="contact-') == 2
    second = text(manager.get(found.group(1).replace("&amp;", "&")))
    assert second.count('<tr id="contact-') == 1 and "Next page" not in second
    seen = set(re.findall(r'<tr id="contact-(\w+)"', first + second))
    assert seen == {"c1", "c2", "c3"}


def test_a_post_that_is_not_a_form_is_a_page_not_a_server_error(browser, api, clock) -> None:
    manager = browser()
    for path in ("/console/sign-in", "/console/occasions/anniversary/checklist", "/console/occasions/anniversary"):
        response = api.http.post(path, headers={"Content-Type": "application/xml", "Cookie": f"tp_console="
                                                f"{manager.cookie}"}, body="<x/>")
        assert response.status_code == 415 and "<html" in text(response), path
    odd = manager.post("/console/occasions/anniversary/checklist", {"contact_id": "", "channel": "fax"})
    assert odd.status_code == 404
    bad = manager.post("/console/occasions/anniversary/checklist", {"contact_id": "x" * 5000, "channel": "phone"})
    assert bad.status_code == 404
