"""The strategy check renders every template as it will be sent: typos and missing event fields are errors
with their path, found before anything is sent (by `touchplan strategy check` and at start-up)."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.domain.strategy import StrategyError
from chalicelib.strategy.loader import DEFAULT_PATH, load_strategy, parse_file, read_strategy
from chalicelib.strategy.rendering import template_errors
from cli.main import build_parser


def document() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    return data


def written(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "strategy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def errors_for(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    with pytest.raises(StrategyError) as caught:
        read_strategy(written(tmp_path, data))
    return caught.value.errors


def email(data: dict[str, Any], occasion: str, locale: str = "en") -> dict[str, Any]:
    found: dict[str, Any] = data["occasions"][occasion]["templates"]["email"][locale]
    return found


def test_every_shipped_template_renders_in_every_situation() -> None:
    assert template_errors(load_strategy()) == []


def test_a_typo_in_a_contact_field_is_an_error_at_its_path(tmp_path: Path) -> None:
    data = document()
    email(data, "welcome-thanks", "ru")["html"] = email(data, "welcome-thanks", "ru")["html"].replace(
        "contact.first_name", "contact.frist_name")
    [error] = errors_for(tmp_path, data)
    assert error.startswith("occasions.welcome-thanks.templates.email.ru.html: contact.frist_name is unknown "
                            "(known: birthday, first_name, interests, last_name, offer, purchases, recent_items, "
                            "recommendations)")
    assert "chain welcome started by signup_confirmed" in error


def test_a_field_the_starting_event_does_not_have_is_an_error_at_its_path(tmp_path: Path) -> None:
    data = document()
    data["occasions"]["browse-reminder"]["templates"]["push"]["en"]["body"] = "{{ product.colour }} is in stock"
    data["occasions"]["nps-survey"]["templates"]["email"]["ru"]["subject"] = "{{ product.name }}: оцените"
    found = errors_for(tmp_path, data)
    found.sort()
    assert [e.split(": ")[0] for e in found] == [
        "occasions.browse-reminder.templates.push.en.body", "occasions.nps-survey.templates.email.ru.subject"]
    assert "product.colour is unknown (known: name, sku, url)" in found[0]
    assert "product is unknown here (rendering chain nps started by order_placed" in found[1]


def test_a_template_that_fails_only_on_the_minimal_payload_names_that_payload(tmp_path: Path) -> None:
    data = document()
    data["occasions"]["browse-reminder"]["templates"]["push"]["ru"]["title"] = "{{ product.name.upper() }}"
    [error] = errors_for(tmp_path, data)
    assert error.startswith("occasions.browse-reminder.templates.push.ru.title: ")
    assert 'rendering chain abandoned-browse started by product_viewed {"sku": "A1"}' in error


def test_each_variant_subject_is_checked_at_its_own_path(tmp_path: Path) -> None:
    data = document()
    email(data, "reactivation-offer")["subject"][1]["subject"] = "{{ contact.name }}: a gift"
    [error] = errors_for(tmp_path, data)
    assert error.startswith("occasions.reactivation-offer.templates.email.en.subject[1].subject: contact.name is")


def test_a_marketing_email_must_show_both_links_once_rendered(tmp_path: Path) -> None:
    data = document()
    template = email(data, "welcome-offers")
    template["text"] = "{% if false %}{{ preferences_url }}{% endif %}Bye: {{ unsubscribe_url }}"
    [error] = errors_for(tmp_path, data)
    assert error.startswith("occasions.welcome-offers.templates.email.en.text: a marketing email must show "
                            "{{ preferences_url }}")


def test_the_double_opt_in_message_has_no_unsubscribe_link_to_show(tmp_path: Path) -> None:
    data = document()
    email(data, "doi")["text"] += " {{ unsubscribe_url }}"
    [error] = errors_for(tmp_path, data)
    assert error.startswith("occasions.doi.templates.email.en.text: unsubscribe_url is unknown here "
                            "(rendering the double opt-in message")


def test_loading_without_rendering_accepts_what_only_rendering_finds(tmp_path: Path) -> None:
    data = document()
    email(data, "welcome-app")["html"] += "{{ contact.frist_name }}"
    path = written(tmp_path, data)
    assert parse_file(path).occasions["welcome-app"]
    with pytest.raises(StrategyError):
        read_strategy(path)


def test_strategy_check_prints_the_template_errors_with_their_paths(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    data = document()
    email(data, "welcome-thanks", "ru")["html"] = email(data, "welcome-thanks", "ru")["html"].replace(
        "contact.first_name", "contact.frist_name")
    data["occasions"]["search-reminder"]["templates"]["push"]["en"]["body"] = "{{ search.results }} new items"
    args = build_parser().parse_args(["strategy", "check", "--strategy", str(written(tmp_path, data))])
    assert args.func(args) == 1
    *errors, total = capsys.readouterr().err.splitlines()
    assert total.endswith("2 error(s)")
    assert sorted(errors)[0].startswith("occasions.search-reminder.templates.push.en.body: search.results is "
                                        "unknown (known: query, url)")
    assert sorted(errors)[1].startswith("occasions.welcome-thanks.templates.email.ru.html: contact.frist_name is "
                                        "unknown")
