"""The shipped samples through the real handlers; the SMS sender's state in DynamoDB; push endpoints."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from botocore.stub import Stubber

from chalicelib import wiring
from chalicelib.clock import FixedClock
from chalicelib.delivery.sms import SmsMessage, SmsSender
from chalicelib.services.push import PushTokens
from chalicelib.store.feedback import FeedbackRecords
from chalicelib.store.models import ContactModel, SuppressionModel
from chalicelib.store.sms_state import StoredOptOutCache, StoredSpendCounter
from cli.outbox import sent_sms
from tests.integration.feedback.conftest import NOW, add_contact

EVENTS = Path(__file__).resolve().parents[3] / "events"


def _sample(rel: str) -> dict:
    return json.loads((EVENTS / rel).read_text(encoding="utf-8"))


def test_the_permanent_bounce_sample_suppresses_both_recipients_through_on_feedback(feedback_handlers) -> None:
    result = feedback_handlers.on_feedback(_sample("sqs/feedback-bounce-permanent.json"), None)

    assert result == {"done": 1, "retried": 0, "dead_lettered": 0}
    for address in ("email:nobody@example.com", "email:gone@example.org"):
        assert SuppressionModel.get(address).reason == "hard_bounce"


def test_the_stop_sample_suppresses_the_number_and_confirms_to_its_contact_through_on_sms_inbound(
    feedback_handlers,
) -> None:
    add_contact("c-0001", phone="+447700900123")
    event = _sample("sqs/sms-inbound-stop.json")
    for _ in range(2):
        assert feedback_handlers.on_sms_inbound(event, None) == {"done": 1, "retried": 0, "dead_lettered": 0}

    assert SuppressionModel.get("phone:+447700900123").reason == "sms_stop"
    assert ContactModel.get("c-0001").consents.as_dict()["sms:marketing"]["state"] == "revoked"
    assert [s.phone for s in sent_sms()] == ["+447700900123"]


def test_the_monthly_spend_is_kept_in_dynamodb_and_the_guard_reads_it(aws) -> None:
    spend = StoredSpendCounter()
    spend.add("2026-11", Decimal("0.35"))
    spend.add("2026-11", Decimal("0.35"))
    assert spend.month_spend("2026-11") == Decimal("0.7")
    assert spend.month_spend("2026-12") == Decimal(0)


def test_opt_out_answers_are_asked_once_and_an_opted_out_number_becomes_a_suppression(aws) -> None:
    cache = StoredOptOutCache(FixedClock(NOW))
    sns = wiring.client("sns")
    sender = SmsSender(sns, opt_out_cache=cache)
    message = SmsMessage("t-1", "c-1", "+79161234567", "Скидка 10%", "promo")
    with Stubber(sns) as stub:
        stub.add_response("check_if_phone_number_is_opted_out", {"isOptedOut": False},
                          {"phoneNumber": "+79161234567"})
        stub.add_response("publish", {"MessageId": "m-1"})
        stub.add_response("publish", {"MessageId": "m-2"})
        stub.add_response("check_if_phone_number_is_opted_out", {"isOptedOut": True},
                          {"phoneNumber": "+79160000099"})
        sender.send(message, now=NOW)
        sender.send(message, now=NOW)  # asked once: the answer is in the table
        assert sender.is_opted_out("+79160000099")
        stub.assert_no_pending_responses()

    assert cache.get("+79161234567") is False
    assert cache.get("+79160000099") is True
    assert SuppressionModel.get("phone:+79160000099").reason == "sns_opted_out"
    assert cache.get("+79990000000") is None


def test_a_registered_push_token_becomes_the_contacts_endpoint_and_a_new_token_updates_it(aws) -> None:
    add_contact("c-1")
    sns = wiring.client("sns")
    app_arn = sns.create_platform_application(
        Name="touchplan-test", Platform="GCM", Attributes={"PlatformCredential": "fake-fcm-key"}
    )["PlatformApplicationArn"]
    from chalicelib.delivery.push import PushSender

    tokens = PushTokens(PushSender(sns), FeedbackRecords(), app_arn, FixedClock(NOW))
    arn = tokens.register_push_token("c-1", "android", "token-1")
    again = tokens.register_push_token("c-1", "android", "token-2")

    assert arn is not None and again == arn
    assert ContactModel.get("c-1").push_endpoint_arn == arn
    assert sns.get_endpoint_attributes(EndpointArn=arn)["Attributes"]["Token"] == "token-2"
    assert tokens.register_push_token("nobody", "ios", "token-3") is None
    unconfigured = PushTokens(PushSender(sns), FeedbackRecords(), None, FixedClock(NOW + timedelta(1)))
    assert unconfigured.register_push_token("c-1", "ios", "token-4") is None


def test_the_outbox_buttons_publish_ses_events_and_sms_replies_that_the_handlers_process(feedback_handlers) -> None:
    from cli import outbox
    from tests.integration.feedback.conftest import drain, send_welcome

    add_contact("c-1", phone="+79161234567")
    mail = send_welcome("c-1")
    page = outbox.handle("GET", "/_local/outbox", b"")[2].decode()
    assert f"value='{mail.message_id}'" in page and "bounce-permanent" in page

    status, _, body = outbox.handle("POST", "/_local/outbox/feedback",
                                    f"message_id={mail.message_id}&kind=complaint".encode())
    assert status == 200 and b"Published" in body
    status, _, body = outbox.handle("POST", "/_local/outbox/sms-reply", b'{"phone": "+79161234567", "text": "STOP"}')
    assert status == 200 and json.loads(body)["published"]["messageBody"] == "STOP"
    assert outbox.handle("POST", "/_local/outbox/feedback", b"message_id=nope&kind=open")[0] == 400
    drain("feedback", feedback_handlers.on_feedback)
    drain("sms-inbound", feedback_handlers.on_sms_inbound)

    assert SuppressionModel.get("email:c-1@example.com").reason == "complaint"
    assert SuppressionModel.get("phone:+79161234567").reason == "sms_stop"
