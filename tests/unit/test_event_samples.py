"""Every sample under events/ is in events/index.json and parses with the schema(s) it claims.

A claim is a Powertools parser model (`model`, checked with `model_validate`) and/or a JSON Schema from
events/schemas (`schema`), and `inner` claims for values inside the sample (an API body, an SQS body, the SNS
Message inside it). The samples also carry only fake personal data.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import importlib
import ipaddress
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

EVENTS = Path(__file__).resolve().parents[2] / "events"
NOT_SAMPLES = {"index.json", "README.md"}


@cache
def manifest() -> dict[str, Any]:
    return json.loads((EVENTS / "index.json").read_text(encoding="utf-8"))["samples"]


@cache
def schema_registry() -> Registry:
    resources = []
    for path in sorted((EVENTS / "schemas").glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append(
            (contents["$id"], Resource.from_contents(contents, default_specification=DRAFT202012))
        )
    return Registry().with_resources(resources)


def validator(schema_path: str) -> Draft202012Validator:
    schema = json.loads((EVENTS / schema_path).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, registry=schema_registry())


def load_model(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def sample_files() -> list[str]:
    return sorted(
        p.relative_to(EVENTS).as_posix()
        for p in EVENTS.rglob("*")
        if p.is_file() and p.name not in NOT_SAMPLES and "schemas" not in p.relative_to(EVENTS).parts
    )


def load_sample(rel: str) -> Any:
    return json.loads((EVENTS / rel).read_text(encoding="utf-8"))


def select(doc: Any, path: str) -> Iterator[tuple[Any, Any]]:
    """Yields (value, the object holding it) for a dotted path; `name[*]` iterates a list."""
    current: list[tuple[Any, Any]] = [(doc, None)]
    for segment in path.split("."):
        many = segment.endswith("[*]")
        key = segment.removesuffix("[*]")
        found = []
        for value, _ in current:
            child = value[key]
            if many:
                found.extend((item, child) for item in child)
            else:
                found.append((child, value))
        current = found
    for value, holder in current:
        # for `Records[*].body` the holder of the body is the record; for `body` it is the event
        yield value, holder


def header(event: dict[str, Any], name: str) -> str:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    raise KeyError(name)


def decode(raw: Any, how: str, holder: Any) -> Any:
    assert isinstance(raw, str), f"expected a string to decode as {how}, got {type(raw).__name__}"
    if how == "json":
        return json.loads(raw)
    if how == "form":
        return dict(parse_qsl(raw, keep_blank_values=True, strict_parsing=True))
    if how == "multipart":
        content_type = header(holder, "content-type")
        assert content_type.startswith("multipart/form-data; boundary=")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw.encode()
        )
        assert message.is_multipart(), "body is not a well-formed multipart/form-data document"
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[name] = part.get_content().strip("\r\n")
        return fields
    raise AssertionError(f"unknown decode {how!r}")


def check_claim(value: Any, claim: dict[str, Any], where: str) -> int:
    """Validates `value` against a claim and its inner claims; returns how many checks ran."""
    checks = 0
    if "model" in claim:
        load_model(claim["model"]).model_validate(value)
        checks += 1
    if "schema" in claim:
        errors = sorted(validator(claim["schema"]).iter_errors(value), key=lambda e: list(e.path))
        assert not errors, f"{where}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors)
        checks += 1
    for inner in claim.get("inner", []):
        matches = list(select(value, inner["path"]))
        assert matches, f"{where}: nothing at {inner['path']}"
        for raw, holder in matches:
            decoded = decode(raw, inner.get("decode", "json"), holder)
            checks += check_claim(decoded, inner, f"{where} -> {inner['path']}")
    return checks


# ---------------------------------------------------------------- the manifest


def test_every_sample_is_listed_in_the_manifest_and_every_entry_exists():
    assert sample_files() == sorted(manifest())


def test_every_schema_is_valid_draft_2020_12_and_used():
    used: set[str] = set()

    def collect(claim: dict[str, Any]) -> None:
        if "schema" in claim:
            used.add(claim["schema"])
        for inner in claim.get("inner", []):
            collect(inner)

    for claim in manifest().values():
        collect(claim)
    on_disk = {f"schemas/{p.name}" for p in (EVENTS / "schemas").glob("*.json")}
    assert used <= on_disk
    # ses-common and api-event are referenced by other schemas, not named by samples directly
    assert on_disk - used <= {"schemas/ses-common.json", "schemas/api-event.json"}
    for rel in on_disk:
        schema = json.loads((EVENTS / rel).read_text(encoding="utf-8"))
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"].endswith("/" + rel)
        Draft202012Validator.check_schema(schema)


def test_every_entry_claims_a_model_or_a_schema_and_names_a_handler_or_none():
    from app import app

    handlers = {None, "api_handler"} | {source.name for source in app.event_sources}
    for rel, claim in manifest().items():
        assert "model" in claim or "schema" in claim, rel
        assert claim.get("handler") in handlers, rel
        assert claim.get("description"), rel


# ---------------------------------------------------------------- each sample parses with what it claims


@pytest.mark.parametrize("rel", sample_files())
def test_sample_validates_against_its_claims(rel):
    claim = manifest()[rel]
    assert check_claim(load_sample(rel), claim, rel) >= 1 + len(claim.get("inner", []))


@pytest.mark.parametrize("rel", [r for r in sample_files() if r.startswith("sqs/")])
def test_sqs_records_carry_the_md5_of_their_body(rel):
    for record in load_sample(rel)["Records"]:
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode(), usedforsecurity=False).hexdigest()


@pytest.mark.parametrize("rel", [r for r in sample_files() if r.startswith("apigw/")])
def test_api_gateway_samples_are_consistent(rel):
    event = load_sample(rel)
    assert event["requestContext"]["httpMethod"] == event["httpMethod"]
    assert event["requestContext"]["resourcePath"] == event["resource"]
    assert event["requestContext"]["path"] == "/" + event["requestContext"]["stage"] + event["path"]
    assert {k: [v] for k, v in event["headers"].items()} == event["multiValueHeaders"]
    if event["queryStringParameters"]:
        assert {k: [v] for k, v in event["queryStringParameters"].items()} == event[
            "multiValueQueryStringParameters"
        ]


def test_the_permanent_bounce_has_two_recipients_and_the_touch_tags():
    record = load_sample("ses/event-publishing/bounce-permanent.json")
    assert record["bounce"]["bounceType"] == "Permanent"
    assert len(record["bounce"]["bouncedRecipients"]) == 2
    assert {"touch_id", "contact_id", "chain", "step"} <= set(record["mail"]["tags"])


def test_the_feedback_queue_sample_wraps_the_ses_bounce_sample():
    body = json.loads(load_sample("sqs/feedback-bounce-permanent.json")["Records"][0]["body"])
    assert body["Type"] == "Notification"
    assert json.loads(body["Message"]) == load_sample("ses/event-publishing/bounce-permanent.json")


def test_the_sms_inbound_queue_sample_wraps_the_sns_stop_sample():
    body = json.loads(load_sample("sqs/sms-inbound-stop.json")["Records"][0]["body"])
    assert json.loads(body["Message"]) == load_sample("sns/sms-inbound.json")
    assert load_sample("sns/sms-inbound.json")["messageBody"] == "STOP"


# ---------------------------------------------------------------- the schemas catch broken copies


@pytest.mark.parametrize(
    ("rel", "schema", "mutate"),
    [
        (
            "ses/event-publishing/bounce-permanent.json",
            "schemas/ses-event-publishing.json",
            lambda d: d.pop("bounce"),
        ),
        (
            "ses/event-publishing/bounce-permanent.json",
            "schemas/ses-event-publishing.json",
            lambda d: d["bounce"].update(bounceType="Hard"),
        ),
        (
            "ses/event-publishing/click.json",
            "schemas/ses-event-publishing.json",
            lambda d: d.update(eventType="Clicked"),
        ),
        (
            "ses/event-publishing/complaint.json",
            "schemas/ses-event-publishing.json",
            lambda d: d["complaint"].update(complainedRecipients=[]),
        ),
        (
            "ses/event-publishing/delivery.json",
            "schemas/ses-event-publishing.json",
            lambda d: d["mail"]["tags"].update(touch_id=[]),
        ),
        (
            "ses/notification/bounce.json",
            "schemas/ses-notification.json",
            lambda d: d.update(notificationType="Open"),
        ),
        (
            "sns/sms-inbound.json",
            "schemas/sms-inbound.json",
            lambda d: d.update(originationNumber="07700 900123"),
        ),
    ],
)
def test_schema_rejects_a_broken_copy(rel, schema, mutate):
    doc = load_sample(rel)
    assert validator(schema).is_valid(doc)
    mutate(doc)
    assert not validator(schema).is_valid(doc)


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        (
            "schemas/queue-step.json",
            {"kind": "step", "contact_id": "c-0001", "chain_id": "welcome", "step": 1},
        ),
        ("schemas/queue-doi.json", {"kind": "doi", "contact_id": "c-0001", "channel": "fax", "attempt": 0}),
        (
            "schemas/api-events-request.json",
            {
                "type": "order_placed",
                "id": "o-1",
                "contact": {"email": "anna@example.com"},
                "occurred_at": "2026-11-20T10:15:00",
                "properties": {"amount": 1, "items": []},
            },
        ),
        (
            "schemas/api-events-request.json",
            {
                "type": "order_placed",
                "id": "o-1",
                "contact": {"email": "anna@example.com", "phone": "+447700900123"},
                "occurred_at": "2026-11-20T10:15:00Z",
                "properties": {"amount": 1, "items": []},
            },
        ),
        ("schemas/api-events-request.json", {"events": []}),
        (
            "schemas/api-subscription-request.json",
            {
                "phone": "+447700900123",
                "consents": [{"channel": "email", "purpose": "marketing", "text_id": "t"}],
            },
        ),
        ("schemas/api-one-click-unsubscribe.json", {"List-Unsubscribe": "one-click"}),
    ],
)
def test_contract_schema_rejects(schema, body):
    assert not validator(schema).is_valid(body)


def test_the_extra_fields_ses_may_add_are_tolerated():
    doc = load_sample("ses/event-publishing/delivery.json")
    doc["delivery"]["someNewField"] = {"x": 1}
    doc["mail"]["someNewMailField"] = True
    doc["brandNewTopLevel"] = []
    assert validator("schemas/ses-event-publishing.json").is_valid(doc)


# ---------------------------------------------------------------- fake personal data only

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})")
FAKE_EMAIL_DOMAIN = re.compile(r"^(?:[a-z0-9-]+\.)*example\.(?:com|org|net)$", re.IGNORECASE)
PHONE = re.compile(r"(?<![A-Za-z0-9/=+])\+\d{7,15}\b")
FAKE_PHONES = [
    re.compile(r"^\+447700900\d{3}$"),  # Ofcom numbers reserved for drama
    re.compile(r"^\+1[2-9]\d{2}55501\d{2}$"),  # NANP 555-0100..0199, fictional use
    re.compile(r"^\+7916(?:1234567|0000000)$"),  # the placeholders of DESIGN.md
]
IPV4 = re.compile(r"(?<![\w./])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
DOC_NETS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]


@pytest.mark.parametrize("rel", sample_files())
def test_sample_holds_only_fake_personal_data(rel):
    text = (EVENTS / rel).read_text(encoding="utf-8")
    for match in EMAIL.finditer(text):
        assert FAKE_EMAIL_DOMAIN.match(match.group(1)), f"{rel}: real-looking address {match.group(0)}"
    for match in PHONE.finditer(text):
        assert any(p.match(match.group(0)) for p in FAKE_PHONES), (
            f"{rel}: real-looking phone {match.group(0)}"
        )
    for match in IPV4.finditer(text):
        ip = ipaddress.ip_address(match.group(0))
        assert any(ip in net for net in DOC_NETS), (
            f"{rel}: IP {ip} outside the documentation ranges (RFC 5737)"
        )
