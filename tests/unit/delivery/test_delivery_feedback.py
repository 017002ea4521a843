"""SES feedback and inbound SMS parsing. Payload shapes follow the AWS SES developer guide examples
("Examples of event data that Amazon SES publishes to Amazon SNS" and "Amazon SNS notification examples")
and the End User Messaging two-way SMS payload; addresses are fake."""

import copy
import json
from datetime import UTC, datetime

import pytest

from chalicelib.delivery.feedback import (
    FeedbackEvent,
    FeedbackParseError,
    InboundSms,
    UnsupportedFeedbackError,
    is_stop_keyword,
    parse_feedback,
)

MESSAGE_ID = "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000"


def event_mail(destination=("anna@example.com",)):
    return {
        "timestamp": "2026-03-05T09:00:01.012Z",
        "source": "Shop <news@shop.example>",
        "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/shop.example",
        "sendingAccountId": "123456789012",
        "messageId": MESSAGE_ID,
        "destination": list(destination),
        "headersTruncated": False,
        "headers": [{"name": "From", "value": "Shop <news@shop.example>"}],
        "commonHeaders": {"from": ["Shop <news@shop.example>"], "to": list(destination), "subject": "Hi"},
        "tags": {
            "ses:configuration-set": ["touchplan-test"],
            "ses:source-ip": ["192.0.2.0"],
            "ses:from-domain": ["shop.example"],
            "ses:caller-identity": ["touchplan"],
            "touch_id": ["t-01HQZ"],
            "contact_id": ["c-42"],
            "chain": ["welcome"],
            "step": ["2"],
        },
    }


def notification_mail(destination=("anna@example.com",)):
    return {
        "timestamp": "2026-03-05T09:00:01.012Z",
        "messageId": MESSAGE_ID,
        "source": "news@shop.example",
        "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/shop.example",
        "sourceIp": "192.0.2.0",
        "sendingAccountId": "123456789012",
        "callerIdentity": "touchplan",
        "destination": list(destination),
    }


BOUNCE = {
    "bounceType": "Permanent",
    "bounceSubType": "General",
    "bouncedRecipients": [
        {
            "emailAddress": "anna@example.com",
            "action": "failed",
            "status": "5.1.1",
            "diagnosticCode": "smtp; 550 5.1.1 user unknown",
        },
        {
            "emailAddress": "boris@example.com",
            "action": "failed",
            "status": "5.1.1",
            "diagnosticCode": "smtp; 550 5.1.1 user unknown",
        },
    ],
    "timestamp": "2026-03-05T09:00:03.669Z",
    "feedbackId": "0102017f-bounce-feedback-000000",
    "reportingMTA": "dsn; mta.example.com",
}
COMPLAINT = {
    "complainedRecipients": [{"emailAddress": "anna@example.com"}],
    "timestamp": "2026-03-05T10:00:00.000Z",
    "feedbackId": "0102017f-complaint-feedback-000000",
    "userAgent": "Mozilla/5.0",
    "complaintFeedbackType": "abuse",
    "arrivalDate": "2026-03-05T09:59:00.000Z",
}
DELIVERY = {
    "timestamp": "2026-03-05T09:00:02.500Z",
    "processingTimeMillis": 546,
    "recipients": ["anna@example.com"],
    "smtpResponse": "250 ok:  Message 64111812 accepted",
    "reportingMTA": "a8-70.smtp-out.amazonses.com",
    "remoteMtaIp": "127.0.2.0",
}


def event_record(event_type: str, **details):
    record = {"eventType": event_type, "mail": event_mail(details.pop("destination", ("anna@example.com",)))}
    record.update(details)
    return record


EVENTS = {
    "bounce": event_record("Bounce", bounce=BOUNCE, destination=("anna@example.com", "boris@example.com")),
    "complaint": event_record("Complaint", complaint=COMPLAINT),
    "delivery": event_record("Delivery", delivery=DELIVERY),
    "send": event_record("Send", send={}),
    "reject": event_record("Reject", reject={"reason": "Bad content"}),
    "open": event_record(
        "Open",
        open={"ipAddress": "192.0.2.1", "timestamp": "2026-03-05T11:00:00.000Z", "userAgent": "Mozilla/5.0"},
    ),
    "click": event_record(
        "Click",
        click={
            "ipAddress": "192.0.2.1",
            "link": "https://shop.example/sale",
            "linkTags": {"samplekey0": ["v"]},
            "timestamp": "2026-03-05T11:01:00.000Z",
            "userAgent": "Mozilla/5.0",
        },
    ),
    "rendering_failure": event_record(
        "Rendering Failure",
        failure={
            "errorMessage": "Attribute 'name' is not present in the rendering data.",
            "templateName": "t",
        },
    ),
    "delivery_delay": event_record(
        "DeliveryDelay",
        deliveryDelay={
            "timestamp": "2026-03-05T09:30:00.000Z",
            "delayType": "TransientCommunicationFailure",
            "expirationTime": "2026-03-06T09:00:00.000Z",
            "delayedRecipients": [
                {
                    "emailAddress": "anna@example.com",
                    "status": "4.4.1",
                    "diagnosticCode": "smtp; 421 4.4.1 Unable to connect",
                }
            ],
        },
    ),
}

NOTIFICATIONS = {
    "bounce": {
        "notificationType": "Bounce",
        "bounce": BOUNCE,
        "mail": notification_mail(("anna@example.com", "boris@example.com")),
    },
    "complaint": {"notificationType": "Complaint", "complaint": COMPLAINT, "mail": notification_mail()},
    "delivery": {"notificationType": "Delivery", "delivery": DELIVERY, "mail": notification_mail()},
}


def sns_envelope(message: dict) -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
            "TopicArn": "arn:aws:sns:eu-west-1:123456789012:touchplan-test-ses-feedback",
            "Subject": "Amazon SES Email Event Notification",
            "Message": json.dumps(message),
            "Timestamp": "2026-03-05T09:00:04.000Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-example.pem",
            "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
        }
    )


def wrappings(record: dict):
    yield "sns-envelope", sns_envelope(record)
    yield "raw-text", json.dumps(record)
    yield "raw-dict", record


@pytest.mark.parametrize("kind", sorted(EVENTS))
@pytest.mark.parametrize("wrapping", ["sns-envelope", "raw-text", "raw-dict"])
def test_every_event_publishing_kind_parses_in_every_wrapping(kind, wrapping):
    body = dict(wrappings(EVENTS[kind]))[wrapping]
    event = parse_feedback(body)
    assert isinstance(event, FeedbackEvent)
    assert event.kind == kind
    assert event.provider_message_id == MESSAGE_ID
    assert (event.touch_id, event.contact_id, event.chain, event.step) == ("t-01HQZ", "c-42", "welcome", "2")
    assert event.source_format == "event"
    assert event.at.tzinfo is not None
    assert "anna@example.com" in event.recipients


@pytest.mark.parametrize("kind", sorted(NOTIFICATIONS))
@pytest.mark.parametrize("wrapping", ["sns-envelope", "raw-text", "raw-dict"])
def test_every_notification_kind_parses_in_every_wrapping(kind, wrapping):
    body = dict(wrappings(NOTIFICATIONS[kind]))[wrapping]
    event = parse_feedback(body)
    assert isinstance(event, FeedbackEvent)
    assert event.kind == kind
    assert event.source_format == "notification"
    assert event.provider_message_id == MESSAGE_ID
    assert event.touch_id is None  # notifications carry no tags; reconcile by provider message id


@pytest.mark.parametrize("source", [EVENTS, NOTIFICATIONS])
def test_permanent_bounce_lists_every_recipient_with_its_own_key(source):
    event = parse_feedback(sns_envelope(source["bounce"]))
    assert event.permanent is True
    assert event.recipients == ("anna@example.com", "boris@example.com")
    assert event.feedback_id == "0102017f-bounce-feedback-000000"
    assert event.idempotency_keys == (
        "0102017f-bounce-feedback-000000:anna@example.com",
        "0102017f-bounce-feedback-000000:boris@example.com",
    )
    assert (event.bounce_type, event.bounce_subtype) == ("Permanent", "General")
    assert event.at == datetime(2026, 3, 5, 9, 0, 3, 669000, tzinfo=UTC)


@pytest.mark.parametrize("bounce_type", ["Transient", "Undetermined"])
def test_transient_or_undetermined_bounce_is_not_permanent(bounce_type):
    record = copy.deepcopy(EVENTS["bounce"])
    record["bounce"]["bounceType"] = bounce_type
    event = parse_feedback(record)
    assert event.kind == "bounce"
    assert event.permanent is False


def test_complaint_is_permanent_and_keyed_by_feedback_id():
    event = parse_feedback(sns_envelope(EVENTS["complaint"]))
    assert event.permanent is True
    assert event.complaint_type == "abuse"
    assert event.feedback_id == "0102017f-complaint-feedback-000000"


def test_same_event_delivered_twice_has_the_same_keys():
    first = parse_feedback(sns_envelope(EVENTS["open"]))
    second = parse_feedback(sns_envelope(EVENTS["open"]))
    assert first.idempotency_keys == second.idempotency_keys
    assert first.feedback_id == f"{MESSAGE_ID}:open"


def test_click_carries_its_link_and_time():
    event = parse_feedback(EVENTS["click"])
    assert event.link == "https://shop.example/sale"
    assert event.at == datetime(2026, 3, 5, 11, 1, tzinfo=UTC)
    assert event.permanent is False


def test_events_without_their_own_time_use_the_mail_time():
    assert parse_feedback(EVENTS["send"]).at == datetime(2026, 3, 5, 9, 0, 1, 12000, tzinfo=UTC)


def test_delivery_delay_names_the_delayed_recipients():
    event = parse_feedback(EVENTS["delivery_delay"])
    assert event.recipients == ("anna@example.com",)
    assert event.permanent is False


def test_unknown_fields_are_tolerated_everywhere():
    record = copy.deepcopy(EVENTS["bounce"])
    record["newTopLevelField"] = {"x": 1}
    record["mail"]["someFutureField"] = [1, 2]
    record["bounce"]["bouncedRecipients"][0]["newRecipientField"] = "y"
    record["bounce"]["newBounceField"] = True
    envelope = json.loads(sns_envelope(record))
    envelope["MessageAttributes"] = {"foo": {"Type": "String", "Value": "bar"}}
    event = parse_feedback(json.dumps(envelope))
    assert event.kind == "bounce"
    assert event.permanent is True


def test_a_whole_sqs_record_is_accepted():
    record = {"messageId": "m1", "eventSource": "aws:sqs", "body": sns_envelope(EVENTS["delivery"])}
    assert parse_feedback(record).kind == "delivery"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        json.dumps({"hello": "world"}),
        json.dumps({"eventType": "Bounce"}),  # no mail
        json.dumps({"eventType": "Bounce", "mail": {"messageId": MESSAGE_ID}, "bounce": {"bounceType": "Permanent"}}),
        json.dumps({"eventType": "Open", "mail": {"destination": ["a@example.com"]}}),  # no messageId
        json.dumps(
            {
                "eventType": "Open",
                "mail": {"messageId": "m", "destination": ["a@example.com"], "timestamp": "yesterday"},
            }
        ),
        json.dumps({"Type": "Notification", "TopicArn": "arn:aws:sns:eu-west-1:1:t", "Message": "{broken"}),
    ],
)
def test_unparseable_input_raises_feedback_parse_error(body):
    with pytest.raises(FeedbackParseError):
        parse_feedback(body)


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"Type": "SubscriptionConfirmation", "TopicArn": "arn:aws:sns:eu-west-1:1:t", "Message": "x"}),
        json.dumps({"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "ok"}),
        json.dumps({"eventType": "Subscription", "mail": event_mail(), "subscription": {}}),
    ],
)
def test_well_formed_but_unsupported_messages_are_marked_as_such(body):
    with pytest.raises(UnsupportedFeedbackError):
        parse_feedback(body)


INBOUND = {
    "originationNumber": "+79161234567",
    "destinationNumber": "+12125550101",
    "messageKeyword": "KEYWORD_123456789012",
    "messageBody": "СТОП",
    "inboundMessageId": "cae173d2-66b9-564c-8309-21f858e9fb84",
    "previousPublishedMessageId": "wJalrXUtnFEMI-K7MDENG",
}


@pytest.mark.parametrize("wrapping", ["sns-envelope", "raw-text", "raw-dict"])
def test_inbound_sms_parses(wrapping):
    sms = parse_feedback(dict(wrappings(INBOUND))[wrapping])
    assert isinstance(sms, InboundSms)
    assert sms.origination_number == "+79161234567"
    assert sms.destination_number == "+12125550101"
    assert sms.body == "СТОП"
    assert sms.message_id == "cae173d2-66b9-564c-8309-21f858e9fb84"
    assert sms.previous_published_message_id == "wJalrXUtnFEMI-K7MDENG"
    assert sms.is_stop


def test_inbound_sms_without_keyword_uses_its_text():
    payload = {k: v for k, v in INBOUND.items() if k != "messageKeyword"} | {"messageBody": " stop "}
    sms = parse_feedback(payload)
    assert sms.keyword == "STOP"
    assert sms.is_stop


def test_an_ordinary_reply_is_not_stop():
    sms = parse_feedback(INBOUND | {"messageBody": "Thanks, see you at the end of the week"})
    assert not sms.is_stop


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        "Stop ",
        "  STOP\n",
        "СТОП",
        "стоп",
        "Стоп",
        "ОТПИСКА",
        "отписка",
        "UNSUBSCRIBE",
        "Unsubscribe",
        "QUIT",
        "CANCEL",
        "END",
        "OPTOUT",
        "opt-out",
        "Opt out",
        "STOP!",
        "stop.",
        "STOP ALL",
    ],
)
def test_stop_keywords(text):
    assert is_stop_keyword(text)


@pytest.mark.parametrize("text", ["", None, "STOPPED", "please don't stop", "yes", "START", "HELP", "стопка"])
def test_not_stop_keywords(text):
    assert not is_stop_keyword(text)
