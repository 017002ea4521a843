from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.delivery.errors import TemplateRenderError
from chalicelib.delivery.templates import TemplateRenderer, message_context, pick_locale, render
from chalicelib.domain.events import chain_context
from chalicelib.domain.model import Occasion


def test_all_fields_render_with_the_contact_and_variant():
    out = render(
        {
            "subject": "{{ first_name }}, {{ variant.subject }}",
            "text": "Hi {{ first_name }}",
            "html": "<p>Hi</p>",
        },
        {"first_name": "Anna", "variant": {"subject": "10% off"}},
    )
    assert out == {"subject": "Anna, 10% off", "text": "Hi Anna", "html": "<p>Hi</p>"}


def test_missing_variable_is_a_render_error_naming_the_field():
    with pytest.raises(TemplateRenderError) as caught:
        render({"subject": "Hello", "html": "<p>{{ first_name }}</p>"}, {})
    assert caught.value.field == "html"
    assert "first_name" in str(caught.value)
    assert caught.value.code == "template_render_failed"


def test_syntax_error_is_a_render_error_naming_the_field():
    with pytest.raises(TemplateRenderError) as caught:
        render({"subject": "{{ oops", "text": "fine"}, {})
    assert caught.value.field == "subject"


def test_html_is_autoescaped_but_text_and_subject_are_not():
    name = "<b>Tom & Jerry</b>"
    out = render(
        {"html": "<p>{{ name }}</p>", "text": "{{ name }}", "subject": "{{ name }}", "sms": "{{ name }}"},
        {"name": name},
    )
    assert out["html"] == "<p>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</p>"
    assert out["text"] == out["subject"] == out["sms"] == name


def test_sandbox_refuses_unsafe_attribute_access():
    with pytest.raises(TemplateRenderError) as caught:
        render({"text": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}, {})
    assert caught.value.field == "text"


def test_runtime_error_inside_a_template_is_a_render_error():
    with pytest.raises(TemplateRenderError):
        render({"text": "{{ 1 // zero }}"}, {"zero": 0})


def test_compiled_templates_are_cached():
    renderer = TemplateRenderer()
    for i in range(3):
        assert renderer.render_field("text", "n={{ n }}", {"n": i}) == f"n={i}"
    info = renderer._compile.cache_info()
    assert (info.misses, info.hits) == (1, 2)


@pytest.mark.parametrize(
    ("available", "wanted", "picked"),
    [
        (["en", "ru", "ru-RU"], "ru-RU", "ru-RU"),
        (["en", "ru"], "ru-RU", "ru"),
        (["en", "de"], "ru-RU", "en"),
        (["en", "ru_RU"], "ru-ru", "ru_RU"),
        (["EN"], "fr", "EN"),
        (["en", "ru"], None, "en"),
        (["de"], "ru-RU", None),
    ],
)
def test_locale_falls_back_from_region_to_language_to_default(available, wanted, picked):
    assert pick_locale(available, wanted) == picked


def test_locale_default_can_be_changed():
    assert pick_locale(["ru", "de"], "fr-FR", default="ru") == "ru"


# What a message's templates see: known names that were not given read as empty, unknown ones fail.

WELCOME = Occasion(id="welcome-thanks", title="Welcome", category="trigger", priority=60,
                   validity=timedelta(days=2), quiet_hours=True, templates={})
NOW = datetime(2026, 3, 1, 9, tzinfo=UTC)


def context(attributes: dict | None = None, variables: dict | None = None, events: tuple[str, ...] = ()) -> dict:
    return message_context(WELCOME, attributes or {}, variables or {}, NOW, events)


def text(source: str, ctx: dict) -> str:
    return TemplateRenderer().render_field("text", source, ctx)


def test_none_prints_as_nothing() -> None:
    assert text("[{{ contact.first_name }}]", context({"first_name": None})) == "[]"


@pytest.mark.parametrize("source", [
    '{{ contact.first_name or "Hello" }}!', '{{ contact.first_name|default("Hello") }}!',
    '{% if contact.first_name %}{{ contact.first_name }}{% else %}Hello{% endif %}!',
])
def test_a_known_attribute_not_given_falls_back(source: str) -> None:
    assert text(source, context()) == "Hello!"
    assert text(source, context({"first_name": "Anna"})) == "Anna!"


def test_an_explicit_none_falls_back_with_or() -> None:
    assert text('{{ contact.first_name or "Hello" }}', context({"first_name": None})) == "Hello"


def test_a_known_attribute_not_given_prints_as_nothing() -> None:
    assert text("Hi {{ contact.first_name }}, {{ contact.offer.promo_code }}.", context()) == "Hi , ."


@pytest.mark.parametrize(("source", "unknown"), [
    ("{{ contact.frist_name }}", "contact.frist_name is unknown (known: birthday, first_name"),
    ('{{ contact.frist_name or "Hello" }}', "contact.frist_name is unknown"),
    ("{% if contact.frist_name %}x{% endif %}", "contact.frist_name is unknown"),
    ("{{ survey_ur }}", "survey_ur is unknown here"),
    ("{{ offer.promo }}", "offer.promo is unknown (known: discount, expires_on, promo_code)"),
    ("{{ product.name }}", "product is unknown here"),  # no chain started by a product event
])
def test_an_unknown_name_is_an_error_naming_it(source: str, unknown: str) -> None:
    with pytest.raises(TemplateRenderError) as caught:
        text(source, context())
    assert unknown in str(caught.value) and caught.value.field == "text"


def test_an_event_with_only_its_required_properties_renders_its_optional_ones_empty() -> None:
    variables = chain_context("product_viewed", {"sku": "A1"})
    ctx = context(variables=variables, events=("product_viewed",))
    assert text('{{ product.sku }}|{{ product.name or "a product" }}|{{ product.url }}|{{ name }}', ctx) == (
        "A1|a product||")
    with pytest.raises(TemplateRenderError, match=r"product.colour is unknown \(known: name, sku, url\)"):
        text("{{ product.colour }}", ctx)


def test_order_items_are_the_field_not_the_dict_method_and_items_have_known_fields() -> None:
    variables = chain_context("order_placed", {"amount": 10, "items": [{"sku": "A1"}], "order_number": 2})
    ctx = context(variables=variables, events=("order_placed",))
    source = "{% for item in order.items %}{{ item.sku }}:{{ item.name or '?' }}{% endfor %} #{{ order.number }}"
    assert text(source, ctx) == "A1:? #2"
    assert text("{% for item in items %}{{ item.sku }}{% endfor %}", ctx) == "A1"


def test_a_personal_offer_wins_over_the_occasions_and_recommendations_are_items() -> None:
    ctx = context({"offer": {"promo_code": "ANNA5"}, "recommendations": [{"sku": "B2"}]})
    assert text("{{ offer.promo_code }} {% for r in recommendations %}{{ r.sku }}{{ r.url }}{% endfor %}", ctx) == (
        "ANNA5 B2")


def test_known_names_are_still_escaped_in_html_and_the_sandbox_still_holds() -> None:
    ctx = context({"first_name": "<b>Tom & Jerry</b>"})
    html = render({"html": "<p>{{ contact.first_name }}</p>"}, ctx)["html"]
    assert html == "<p>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</p>"
    for source in ("{{ contact._values }}", "{{ contact.__class__.__mro__ }}"):
        with pytest.raises(TemplateRenderError):
            text(source, ctx)
