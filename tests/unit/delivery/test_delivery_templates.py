import pytest

from chalicelib.delivery.errors import TemplateRenderError
from chalicelib.delivery.templates import TemplateRenderer, pick_locale, render


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
