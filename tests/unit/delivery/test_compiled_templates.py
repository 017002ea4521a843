"""The templates a deployment package ships compiled (COMPILED_PATH): used for exactly their sources, rendering
as the sources compiled at first use render; anything else is compiled as before."""

from __future__ import annotations

import marshal
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from jinja2.sandbox import SandboxedEnvironment

from chalicelib.delivery import templates
from chalicelib.delivery.templates import TemplateRenderer
from chalicelib.domain.model import EmailTemplate, SmsTemplate, SubjectVariant

EMAIL = EmailTemplate(variants=(SubjectVariant("a", "{{ first_name }}, 10% off", "For {{ first_name }}"),),
                      html="<p>Hi {{ first_name }}</p>", text="Hi {{ first_name or 'there' }}")
STRATEGY = SimpleNamespace(occasions={"welcome": SimpleNamespace(templates={
    "email": {"en": EMAIL}, "sms": {"ru": SmsTemplate("Привет, {{ first_name }}")}})})
FIELDS = {"subject": EMAIL.variants[0].subject, "preheader": EMAIL.variants[0].preheader, "html": EMAIL.html,
          "text": EMAIL.text}


@pytest.fixture
def table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(templates, "COMPILED_PATH", tmp_path / "templates.marshal")
    templates._compiled.cache_clear()
    yield templates.COMPILED_PATH
    templates._compiled.cache_clear()


def test_a_shipped_template_is_not_compiled_again_and_renders_the_same(table: Path, monkeypatch) -> None:
    table.write_bytes(templates.compiled_templates([STRATEGY]))  # type: ignore[list-item]
    context = {"first_name": "<Anna>"}
    expected = TemplateRenderer().render(FIELDS, context)  # no table read yet: compiled from the sources
    assert len(templates._compiled()) == 5  # four email fields and the SMS
    compiled: list[str] = []
    original = SandboxedEnvironment.from_string

    def from_string(self: SandboxedEnvironment, source: str, *args: object, **kwargs: object) -> object:
        compiled.append(source)
        return original(self, source, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(SandboxedEnvironment, "from_string", from_string)
    renderer = TemplateRenderer()
    assert renderer.render(FIELDS, context) == expected
    assert expected["html"] == "<p>Hi &lt;Anna&gt;</p>" and expected["subject"] == "<Anna>, 10% off"
    assert renderer.render_field("sms", "Привет, {{ first_name }}", context) == "Привет, <Anna>"
    assert compiled == []
    # The same source in a field of the other escaping, or a source nobody shipped, compiles as before.
    assert renderer.render_field("html", EMAIL.text, {"first_name": "<A>"}) == "Hi &lt;A&gt;"
    assert renderer.render_field("text", "{{ 1 + 1 }}", {}) == "2"
    assert compiled == [EMAIL.text, "{{ 1 + 1 }}"]


def test_a_table_another_jinja2_built_is_not_used(table: Path) -> None:
    table.write_bytes(marshal.dumps((("3.0", "2.0"), {(False, "x"): compile("", "<template>", "exec")})))
    assert templates._compiled() == {}


def test_without_a_table_every_template_compiles_at_first_use(table: Path) -> None:
    assert TemplateRenderer().render_field("text", "n={{ n }}", {"n": 1}) == "n=1"
    assert templates._compiled() == {}
