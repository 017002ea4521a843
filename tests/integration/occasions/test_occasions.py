"""GET|PUT /v1/admin/occasions/{id}: the strategy file's occasions are the defaults, a service manager's edit
is validated as `strategy check` validates, versioned, and read by the next send without a redeploy."""

from __future__ import annotations

import copy

import pytest

from chalicelib import wiring
from chalicelib.clock import FixedClock
from chalicelib.services.live_occasions import CACHE_SECONDS, LiveOccasions
from cli.outbox import sent_mail
from tests.integration.occasions.conftest import add, person


def _edited_subject(occasion: dict, subject: str) -> dict:
    edited = copy.deepcopy(occasion)
    for template in edited["templates"]["email"].values():
        template["subject"] = subject
    return edited


def test_the_list_shows_the_strategy_files_occasions_with_period_and_templates(call) -> None:
    status, body = call("GET", "/v1/admin/occasions", role="point-manager", point="msk-01")
    assert status == 200
    listed = {o["occasion_id"]: o for o in body["occasions"]}
    assert listed["anniversary"] == {
        "occasion_id": "anniversary", "name": "Congratulations: years together", "category": "manual",
        "priority": 40, "period": "365d", "validity": "3d", "templates": {"email": ["en", "ru"], "sms": ["en", "ru"]},
        "version": 0, "source": "strategy", "updated_at": None, "updated_by": None,
    }
    assert listed["welcome-thanks"]["period"] == "30d"  # no period in the file: the default


def test_an_edit_is_stored_with_who_and_when_and_keeps_its_versions(call, clock) -> None:
    status, before = call("GET", "/v1/admin/occasions/company-news")
    assert (status, before["version"], before["versions"]) == (200, 0, [{"version": 0, "source": "strategy"}])
    first = _edited_subject(before["occasion"], "News, edition 1")
    status, saved = call("PUT", "/v1/admin/occasions/company-news", {"version": 0, "occasion": first},
                         label="olga")
    assert (status, saved["version"], saved["updated_by"]) == (200, 1, "olga")
    clock.advance(hours=1)
    second = _edited_subject(first, "News, edition 2")
    assert call("PUT", "/v1/admin/occasions/company-news", {"version": 1, "occasion": second})[0] == 200
    status, after = call("GET", "/v1/admin/occasions/company-news", role="point-manager", point="msk-01")
    assert (after["version"], after["source"]) == (2, "edited")
    assert after["occasion"]["templates"]["email"]["en"]["subject"] == "News, edition 2"
    assert [v["version"] for v in after["versions"]] == [0, 1, 2]
    assert after["versions"][1]["updated_by"] == "olga"
    assert after["versions"][1]["occasion"]["templates"]["email"]["ru"]["subject"] == "News, edition 1"
    assert after["versions"][2]["updated_at"] == clock.now().isoformat()


def test_a_stale_edit_gets_409_and_changes_nothing(call) -> None:
    occasion = call("GET", "/v1/admin/occasions/company-news")[1]["occasion"]
    assert call("PUT", "/v1/admin/occasions/company-news",
                {"version": 0, "occasion": _edited_subject(occasion, "Mine")})[0] == 200
    status, body = call("PUT", "/v1/admin/occasions/company-news",
                        {"version": 0, "occasion": _edited_subject(occasion, "Theirs")})
    assert (status, body["error"], body["field"]) == (409, "version_conflict", "version")
    current = call("GET", "/v1/admin/occasions/company-news")[1]
    assert current["occasion"]["templates"]["email"]["en"]["subject"] == "Mine"


def test_a_template_that_does_not_render_gets_400_naming_its_path(call) -> None:
    occasion = call("GET", "/v1/admin/occasions/company-news")[1]["occasion"]
    broken = copy.deepcopy(occasion)
    broken["templates"]["email"]["ru"]["html"] = \
        "<p>{{ contact.frist_name }} {{ unsubscribe_url }} {{ preferences_url }}"
    status, body = call("PUT", "/v1/admin/occasions/company-news", {"version": 0, "occasion": broken})
    assert (status, body["error"]) == (400, "invalid_occasion")
    assert body["field"] == "occasions.company-news.templates.email.ru.html"
    assert "frist_name" in body["message"]
    assert call("GET", "/v1/admin/occasions/company-news")[1]["version"] == 0


@pytest.mark.parametrize(("change", "field"), [
    (lambda o: o["templates"]["email"]["en"].update(html="<p>{% if %}</p>"),
     "occasions.company-news.templates.email.en.html"),
    (lambda o: o.update(period="often"), "occasions.company-news.period"),
    (lambda o: o.update(category="gossip"), "occasions.company-news.category"),
    (lambda o: o["templates"]["email"]["en"].update(text="no links"), "occasions.company-news.templates.email.en.text"),
])
def test_an_edit_is_checked_as_strategy_check_checks_the_file(call, change, field: str) -> None:
    occasion = copy.deepcopy(call("GET", "/v1/admin/occasions/company-news")[1]["occasion"])
    change(occasion)
    status, body = call("PUT", "/v1/admin/occasions/company-news", {"version": 0, "occasion": occasion})
    assert (status, body["field"]) == (400, field)


@pytest.mark.parametrize(("body", "field"), [
    ({"occasion": {}}, "version"), ({"version": "1", "occasion": {}}, "version"), ({"version": 0}, "occasion"),
    ({"version": 0, "occasion": [], "note": 1}, "note"), ([], None),
])
def test_a_malformed_edit_gets_400_naming_the_field(call, body, field) -> None:
    status, answer = call("PUT", "/v1/admin/occasions/company-news", body)
    assert (status, answer["field"]) == (400, field)


def test_only_a_service_manager_edits_and_an_unknown_occasion_is_404(call) -> None:
    occasion = call("GET", "/v1/admin/occasions/company-news")[1]["occasion"]
    status, body = call("PUT", "/v1/admin/occasions/company-news", {"version": 0, "occasion": occasion},
                        role="point-manager", point="msk-01")
    assert (status, body["error"]) == (403, "forbidden")
    assert call("GET", "/v1/admin/occasions/no-such")[0] == 404
    assert call("PUT", "/v1/admin/occasions/no-such", {"version": 0, "occasion": occasion})[0] == 404


def test_an_edit_takes_effect_on_the_next_send_without_a_redeploy(call, clock) -> None:
    add(person("ann"))
    occasion = call("GET", "/v1/admin/occasions/anniversary")[1]["occasion"]
    assert call("PUT", "/v1/admin/occasions/anniversary",
                {"version": 0, "occasion": _edited_subject(occasion, "Five years together!")})[0] == 200
    status, body = call("POST", "/v1/admin/contacts/ann/touches",
                        {"occasion_id": "anniversary", "channel": "email", "send": True})
    assert (status, body["mark"]["status"]) == (201, "sent")
    assert [m.subject for m in sent_mail()] == ["Five years together!"]


def test_another_container_reads_an_edit_within_the_cache_time(aws, clock) -> None:
    """A second Lambda container (its own LiveOccasions) sees the edit once its cached copy is older than 60 s."""
    strategy = wiring.strategy()
    other = LiveOccasions(wiring.strategy_document, strategy.occasions.base,  # type: ignore[attr-defined]
                          lambda: wiring.occasion_edits().edits(["company-news"]), FixedClock(clock.now()))
    assert other["company-news"].title == "Company news (manual mailing)"
    definition = {**wiring.strategy_document()["occasions"]["company-news"], "title": "Our news"}
    wiring.occasions().put("company-news", {"version": 0, "occasion": definition}, "olga")
    assert wiring.strategy().occasions["company-news"].title == "Our news"  # this container: at once
    assert other["company-news"].title == "Company news (manual mailing)"  # cached
    other.clock.advance(seconds=CACHE_SECONDS)  # type: ignore[attr-defined]
    assert other["company-news"].title == "Our news"



def test_a_chain_step_sends_the_edited_template(call, clock) -> None:
    from tests.integration.feedback.conftest import add_contact, send_welcome

    add_contact("c-1")
    assert send_welcome("c-1").subject == "Спасибо за подписку!"
    occasion = call("GET", "/v1/admin/occasions/welcome-thanks")[1]["occasion"]
    assert call("PUT", "/v1/admin/occasions/welcome-thanks",
                {"version": 0, "occasion": _edited_subject(occasion, "Добро пожаловать!")})[0] == 200
    add_contact("c-2")
    assert send_welcome("c-2").subject == "Добро пожаловать!"


def test_a_minimal_edit_takes_the_defaults_back(call, clock) -> None:
    occasion = call("GET", "/v1/admin/occasions/company-news")[1]["occasion"]
    minimal = {k: occasion[k] for k in ("title", "category", "validity", "templates")}  # no period, no priority
    assert call("PUT", "/v1/admin/occasions/company-news", {"version": 0, "occasion": minimal})[0] == 200
    listed = {o["occasion_id"]: o for o in call("GET", "/v1/admin/occasions")[1]["occasions"]}
    assert (listed["company-news"]["period"], listed["company-news"]["priority"]) == ("30d", 40)
