"""The shared samples under events/ parse with the delivery feedback parser."""

import json
from pathlib import Path

import pytest

from chalicelib.delivery.feedback import FeedbackEvent, InboundSms, parse_feedback

EVENTS = Path(__file__).resolve().parents[3] / "events"
SES_SAMPLES = sorted((EVENTS / "ses").rglob("*.json"))
SQS_FEEDBACK_SAMPLES = sorted(
    p for p in (EVENTS / "sqs").glob("*.json") if p.name.startswith(("feedback-", "sms-inbound"))
)
INBOUND_SMS_SAMPLES = sorted((EVENTS / "sns").glob("sms-inbound*.json"))


def load(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def expected_kind(path: Path) -> str:
    stem = path.stem.replace("-", "_")
    for suffix in ("_permanent", "_transient"):
        stem = stem.removesuffix(suffix)
    return stem


@pytest.mark.skipif(not SES_SAMPLES, reason="no events/ses samples")
@pytest.mark.parametrize("path", SES_SAMPLES, ids=lambda p: str(p.relative_to(EVENTS)))
def test_ses_samples_parse(path):
    event = parse_feedback(load(path))
    assert isinstance(event, FeedbackEvent)
    assert event.kind == expected_kind(path)
    assert event.recipients
    assert event.source_format == ("notification" if "notification" in path.parts else "event")
    if path.stem == "bounce-permanent":
        assert event.permanent
    if path.stem == "bounce-transient":
        assert not event.permanent


@pytest.mark.skipif(not SQS_FEEDBACK_SAMPLES, reason="no events/sqs feedback samples")
@pytest.mark.parametrize("path", SQS_FEEDBACK_SAMPLES, ids=lambda p: p.name)
def test_sqs_feedback_samples_parse_record_and_body(path):
    for record in load(path)["Records"]:
        from_record = parse_feedback(record)
        assert from_record == parse_feedback(record["body"])
        if path.name.startswith("sms-inbound"):
            assert isinstance(from_record, InboundSms)
            assert from_record.is_stop == ("stop" in path.stem)
        else:
            assert isinstance(from_record, FeedbackEvent)


@pytest.mark.skipif(not INBOUND_SMS_SAMPLES, reason="no events/sns inbound SMS samples")
@pytest.mark.parametrize("path", INBOUND_SMS_SAMPLES, ids=lambda p: p.name)
def test_inbound_sms_samples_parse(path):
    assert isinstance(parse_feedback(load(path)), InboundSms)
