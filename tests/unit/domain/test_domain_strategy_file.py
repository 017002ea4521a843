"""The strategy file: the shipped default is complete, and every kind of error is reported with its path."""

import copy
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.domain.model import EmailTemplate, SendStep, Strategy
from chalicelib.domain.strategy import StrategyError, parse_strategy
from chalicelib.strategy.loader import DEFAULT_PATH, load_strategy, read_strategy


@pytest.fixture
def document() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def errors_of(data: object) -> list[str]:
    with pytest.raises(StrategyError) as caught:
        parse_strategy(data)
    return caught.value.errors


def test_the_shipped_default_loads_and_is_cached() -> None:
    assert load_strategy() is load_strategy()


def test_default_channels_have_the_seed_quiet_hours_and_costs(strategy: Strategy) -> None:
    assert strategy.channels["sms"].quiet_hours is not None
    assert (strategy.channels["sms"].quiet_hours.start, strategy.channels["sms"].quiet_hours.end) == (
        time(21), time(9))
    assert strategy.channels["push"].quiet_hours == strategy.channels["sms"].quiet_hours
    email = strategy.channels["email"].quiet_hours
    assert email is not None and (email.start, email.end) == (time(22), time(8))
    assert strategy.channels["sms"].cost > strategy.channels["email"].cost


def test_default_caps_and_uncapped_categories(strategy: Strategy) -> None:
    caps = {c.id: c for c in strategy.caps}
    assert (caps["promo-email-week"].max, caps["promo-email-week"].per) == (2, timedelta(days=7))
    assert (caps["promo-email-month"].max, caps["promo-email-month"].per) == (5, timedelta(days=30))
    assert (caps["marketing-sms-week"].max, caps["marketing-sms-week"].per) == (1, timedelta(days=7))
    capped = {category for cap in strategy.caps for category in cap.categories}
    assert not capped & {"service", "transactional"}


def test_default_lifecycle_doi_and_attribution(strategy: Strategy) -> None:
    life = strategy.lifecycle
    assert (life.active_within, life.leaving_after, life.stop_list_after) == (
        timedelta(days=180), timedelta(days=160), timedelta(days=365))
    assert life.active_min_orders == 3
    assert strategy.doi.caps == ((1, timedelta(hours=24)), (3, timedelta(days=30)))
    assert strategy.doi.token_ttl == timedelta(hours=72)
    assert strategy.attribution_window == timedelta(days=5)
    assert strategy.b2b is not None and strategy.b2b.window.days == {1, 2, 3}


def test_default_consent_texts(strategy: Strategy) -> None:
    texts = strategy.consent_texts
    assert texts["personal-data-v1"].purpose == "data_processing"
    for channel in ("email", "sms", "push"):
        text = texts[f"marketing-{channel}-v1"]
        assert (text.purpose, text.channel) == ("marketing", channel)
    for text in texts.values():
        assert set(text.text) == {"ru", "en"} and all(len(t) > 100 for t in text.text.values())


def test_default_occasions_cover_doi_stop_and_every_chain_send(strategy: Strategy) -> None:
    doi = strategy.occasions["doi"]
    assert doi.category == "transactional" and set(doi.templates) == {"email", "sms"}
    assert all("confirm_url" in t.html for t in doi.templates["email"].values() if isinstance(t, EmailTemplate))
    assert strategy.occasions["sms-stop-confirmation"].category == "service"
    for chain in strategy.chains.values():
        for step in chain.steps:
            if isinstance(step, SendStep):
                assert set(step.channels) <= set(strategy.occasions[step.occasion].templates)
    assert strategy.occasions["reactivation-offer"].variants("email") == ("A", "B")


def test_default_chains_are_the_seeds(strategy: Strategy) -> None:
    assert set(strategy.chains) == {
        "welcome", "retargeting", "activation", "reactivation", "stop-list", "abandoned-cart",
        "abandoned-browse", "abandoned-search", "favorites", "birthday", "nth-purchase", "nps", "refill",
    }


def _set(data: dict[str, Any], path: str, value: object) -> None:
    keys = path.split(".")
    node: Any = data
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(keys[-1])] = value
    else:
        node[keys[-1]] = value


# (where to break the default, the value to put there, the error expected: path and a word of the message)
BROKEN = [
    ("chains.welcome.steps.1.wait", "two days", 'chains.welcome.steps[1].wait: expected a duration like "2d"'),
    ("chains.welcome.steps.1.wait", "0d", "chains.welcome.steps[1].wait: expected a duration"),
    ("chains.welcome.steps.0.send", "nope", "chains.welcome.steps[0].send: unknown occasion 'nope'"),
    ("chains.welcome.steps.0.channels", ["fax"], "chains.welcome.steps[0].channels[0]: unknown channel 'fax'"),
    ("chains.welcome.steps.0.channels", ["sms"], "chains.welcome.steps[0].channels: occasion 'welcome-thanks' "
                                                 "has no sms template"),
    ("chains.welcome.steps.8.then", "nowhere", "chains.welcome.steps[8].then: expected a step id"),
    ("chains.welcome.steps.8.branch", "liked", "chains.welcome.steps[8].branch: expected one of opened"),
    ("chains.welcome.steps.1", {"wait": "1d", "send": "doi"}, "chains.welcome.steps[1]: expected exactly one"),
    ("chains.welcome.steps.1", {"pause": "1d"}, "chains.welcome.steps[1]: expected exactly one of wait"),
    ("chains.welcome.steps", [], "chains.welcome.steps: a chain needs at least one step"),
    ("chains.welcome.reentry", "sometimes", "chains.welcome.reentry: expected \"never\", \"always\""),
    ("chains.welcome.on_consent_revoked", "ignore", "chains.welcome.on_consent_revoked: expected one of"),
    ("chains.welcome.holdout", 0.9, "chains.welcome.holdout: expected a number between"),
    ("chains.welcome.colour", "red", "chains.welcome.colour: unknown key"),
    ("chains.activation.steps.2.then", "first-reaction", "chains.activation.steps[2].then: may only jump forward"),
    ("chains.favorites.start", {"event": "favorite_added", "when": {"favorites_count": {"over": 3}}},
     "chains.favorites.start[0].when.favorites_count.over: unknown key"),
    ("channels.sms.quiet_hours.start", 1260, 'channels.sms.quiet_hours.start: expected a time of day like "21:00" '
                                             "(quote it"),
    ("channels.sms.quiet_hours.end", "21:00", "channels.sms.quiet_hours: start and end must differ"),
    ("channels.sms.cost", "cheap", "channels.sms.cost: expected a number"),
    ("channels.fax", {"cost": 1}, "channels.fax: unsupported channel"),
    ("categories.promo.purpose", "fun", "categories.promo.purpose: unknown purpose 'fun'"),
    ("categories.promo.priority", -1, "categories.promo.priority: expected a number >= 0"),
    ("caps.0.per", "weekly", "caps[0].per: expected a duration"),
    ("caps.0.max", 0, "caps[0].max: expected a number >= 1"),
    ("caps.0.categories", ["promo", "spam"], "caps[0].categories[1]: unknown category 'spam'"),
    ("b2b.days", ["tue", "someday"], "b2b.days[1]: expected one of mon"),
    ("b2b.end", "09:00", "b2b.end: must be later than b2b.start"),
    ("time_zones.fallback", ["Mars/Olympus"], "time_zones.fallback[0]: expected an IANA time zone"),
    ("lifecycle.dormant_after", "100d", "lifecycle.dormant_after: must be longer than lifecycle.leaving_after"),
    ("consent_texts.marketing-sms-v1.text", {"ru": "Согласен"}, "consent_texts.marketing-sms-v1.text.en: required"),
    ("consent_texts.marketing-sms-v1.channel", None, "consent_texts.marketing-sms-v1.channel: required"),
    ("occasions.welcome-thanks.templates.email.en.html", "<p>Hi</p>",
     "occasions.welcome-thanks.templates.email.en.html: a marketing email must link {{ unsubscribe_url }}"),
    ("occasions.welcome-thanks.templates.email.en.text", "Bye: {{ unsubscribe_url }}",
     "occasions.welcome-thanks.templates.email.en.text: a marketing email must link {{ preferences_url }}"),
    ("occasions.welcome-thanks.templates.email.ru.html", "<p>Hi</p>",
     "occasions.welcome-thanks.templates.email.ru.html: a marketing email must link {{ unsubscribe_url }} and "
     "{{ preferences_url }}"),
    ("chains.favorites.start.event", "favourite_added", "chains.favorites.start[0].event: unknown event "
                                                        "'favourite_added' (known: audience_expired, "
                                                        "audience_publish_due, birthday, cart_abandoned"),
    ("chains.favorites.start.when", {"count": {"at_least": 3}},
     "chains.favorites.start[0].when.count: favorite_added has no property 'count' (it has: sku, favorites_count"),
    ("chains.abandoned-cart.exit_on", ["order_placed", "cart_cleared"],
     "chains.abandoned-cart.exit_on[1]: unknown event 'cart_cleared'"),
    ("occasions.welcome-thanks.templates.email.ru", {"subject": "x"},
     "occasions.welcome-thanks.templates.email.ru.html: required"),
    ("occasions.welcome-thanks.validity", 5, "occasions.welcome-thanks.validity: expected a duration"),
    ("occasions.welcome-thanks.category", "misc", "occasions.welcome-thanks.category: unknown category"),
    ("occasions.Welcome", {"title": "x"}, "occasions.Welcome: ids are lower-case"),
    ("doi.occasion", "missing", "doi.occasion: unknown occasion 'missing'"),
    ("attribution.window", "soon", "attribution.window: expected a duration"),
]


@pytest.mark.parametrize(("where", "value", "expected"), BROKEN, ids=[b[0] + "=" + str(b[1]) for b in BROKEN])
def test_each_kind_of_error_is_reported_with_its_path(
    document: dict[str, Any], where: str, value: object, expected: str
) -> None:
    _set(document, where, value)
    assert any(e.startswith(expected) for e in errors_of(document)), errors_of(document)


def test_every_error_is_listed_not_only_the_first(document: dict[str, Any]) -> None:
    for where, value, _ in BROKEN[:3] + BROKEN[16:20]:
        _set(document, where, value)
    found = errors_of(document)
    assert [e.split(":")[0] for e in found] == [
        "channels.sms.cost", "channels.sms.quiet_hours.start", "channels.fax", "chains.welcome.steps[0].send",
        "chains.welcome.steps[1].wait",
    ]


# (what to break, the one error it gives): nothing that uses the broken thing is reported again
ONE_ERROR = [
    (lambda d: d.pop("channels"), "strategy.channels: required"),
    (lambda d: d.pop("categories"), "strategy.categories: required"),
    (lambda d: d.pop("purposes"), "strategy.purposes: required"),
    (lambda d: d.pop("occasions"), "strategy.occasions: required"),
    (lambda d: d.pop("locales"), "strategy.locales: required"),
    (lambda d: d.pop("doi"), "strategy.doi: required"),
    (lambda d: d.pop("version"), "strategy.version: required"),
    (lambda d: d["channels"]["email"].__setitem__("cost", "x"), "channels.email.cost: expected a number"),
    (lambda d: d["categories"]["trigger"].__setitem__("purpose", "fun"), "categories.trigger.purpose: unknown"),
    (lambda d: d["occasions"]["welcome-thanks"].__setitem__("category", "misc"),
     "occasions.welcome-thanks.category: unknown category 'misc'"),
    (lambda d: d["occasions"]["welcome-thanks"].__setitem__("validity", "x"),
     "occasions.welcome-thanks.validity: expected a duration"),
    (lambda d: d["occasions"]["doi"].__setitem__("title", ""), "occasions.doi.title: expected non-empty text"),
    (lambda d: d.__setitem__("channels", []), "channels: expected a mapping, got a list"),
    # A required key left out is "required" once, not also "expected non-empty text, got nothing" when read.
    (lambda d: d["occasions"]["welcome-thanks"]["templates"]["email"]["en"].pop("html"),
     "occasions.welcome-thanks.templates.email.en.html: required"),
    (lambda d: d["occasions"]["cart-last-call"]["templates"]["sms"]["en"].pop("text"),
     "occasions.cart-last-call.templates.sms.en.text: required"),
    (lambda d: d["occasions"]["cart-reminder"]["templates"]["push"]["en"].pop("title"),
     "occasions.cart-reminder.templates.push.en.title: required"),
]


@pytest.mark.parametrize(("breakage", "expected"), ONE_ERROR, ids=[e for _, e in ONE_ERROR])
def test_one_bad_value_gives_one_error(document: dict[str, Any], breakage: Any, expected: str) -> None:
    breakage(document)
    found = errors_of(document)
    assert len(found) == 1 and found[0].startswith(expected), found


@pytest.mark.parametrize("data", [None, [], "text", 42, {"version": 1}, {"chains": []}])
def test_malformed_documents_never_crash(data: object) -> None:
    assert errors_of(data)


def test_missing_sections_are_named(document: dict[str, Any]) -> None:
    del document["chains"]
    del document["doi"]
    found = errors_of(document)
    assert "strategy.chains: required" in found and "strategy.doi: required" in found


@pytest.mark.parametrize("breakage", [
    lambda d: d["occasions"].__setitem__("doi", "not a mapping"),
    lambda d: d["chains"]["welcome"]["steps"].append(None),
    lambda d: d["occasions"]["doi"]["templates"].__setitem__("email", []),
    lambda d: d.__setitem__("categories", {"promo": None}),
    lambda d: d["chains"]["welcome"].__setitem__("start", [{"event": None}]),
])
def test_wrong_shapes_anywhere_are_errors_not_crashes(document: dict[str, Any], breakage: Any) -> None:
    breakage(document)
    assert errors_of(document)


def test_loader_reports_yaml_syntax_with_line(tmp_path: Path) -> None:
    broken = tmp_path / "s.yaml"
    broken.write_text("version: 1\nchannels: {email: [\n", encoding="utf-8")
    with pytest.raises(StrategyError) as caught:
        read_strategy(broken)
    assert caught.value.errors[0].startswith(f"{broken}:")
    assert "not valid YAML" in caught.value.errors[0]


def test_loader_reports_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(StrategyError) as caught:
        load_strategy(str(tmp_path / "missing.yaml"))
    assert caught.value.errors == [f"{tmp_path / 'missing.yaml'}: cannot read the file (No such file or directory)"]


def test_loader_reports_template_syntax_and_shape_errors_together(
    tmp_path: Path, document: dict[str, Any]
) -> None:
    document["occasions"]["doi"]["templates"]["sms"]["en"]["text"] = "Confirm {{ confirm_url "
    document["channels"]["sms"]["cost"] = "cheap"
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(StrategyError) as caught:
        read_strategy(path)
    assert any(e.startswith("occasions.doi.templates.sms.en.text: template error") for e in caught.value.errors)
    assert any(e.startswith("channels.sms.cost") for e in caught.value.errors)
