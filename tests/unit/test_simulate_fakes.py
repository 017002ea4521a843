"""The memory simulation's in-memory providers (cli/simulate/fakes.py) keep the promises of SQS, SES v2, SNS and
Secrets Manager that the app and the engine's drain lean on, on a virtual clock, and fail as botocore does."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from chalicelib.clock import FixedClock
from chalicelib.delivery.email import EmailSender, OutboundEmail, build_mime
from chalicelib.delivery.errors import PermanentSendError
from chalicelib.delivery.feedback import FeedbackEvent, parse_feedback
from chalicelib.delivery.sms import SmsMessage, SmsSender
from chalicelib.services.tokens import TokenKeys
from chalicelib.settings import Settings, from_environ
from chalicelib.store.queues import QueuePublisher
from cli.outbox import _parse_raw, ses_event
from cli.simulate.fakes import FakeCloud, parse_sent_mail

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STAGE = "sim"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def cloud(clock: FixedClock) -> FakeCloud:
    return FakeCloud.from_template(clock, STAGE, "eu-west-1")


@pytest.fixture
def settings() -> Settings:
    return from_environ({"TOUCHPLAN_STAGE": STAGE, "AWS_REGION": "eu-west-1"})


def url(cloud: FakeCloud, name: str) -> str:
    return str(cloud.sqs.get_queue_url(QueueName=f"{STAGE}-{name}")["QueueUrl"])


def receive(cloud: FakeCloud, queue: str, **options: object) -> list[dict]:
    found = cloud.sqs.receive_message(QueueUrl=url(cloud, queue), MaxNumberOfMessages=10, AttributeNames=["All"],
                                      MessageAttributeNames=["All"], **options)
    return list(found.get("Messages", []))


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_the_cloud_has_every_queue_topic_and_secret_of_the_template(cloud: FakeCloud) -> None:
    for queue in ("steps", "events", "feedback", "sms-inbound"):
        attributes = cloud.sqs.get_queue_attributes(QueueUrl=url(cloud, queue), AttributeNames=["All"])["Attributes"]
        assert attributes["VisibilityTimeout"] == "360"
        assert json.loads(attributes["RedrivePolicy"]) == {
            "deadLetterTargetArn": f"arn:aws:sqs:eu-west-1:123456789012:{STAGE}-{queue}-dlq", "maxReceiveCount": 5}
        assert url(cloud, f"{queue}-dlq")
    secret = cloud.secretsmanager.get_secret_value(SecretId=f"{STAGE}/touchplan/token-keys")
    assert TokenKeys.from_secret(secret["SecretString"])


def test_a_received_message_comes_back_when_its_visibility_ends_on_the_virtual_clock(cloud, clock) -> None:
    cloud.sqs.send_message(QueueUrl=url(cloud, "steps"), MessageBody='{"kind": "step"}')

    first = receive(cloud, "steps")
    clock.advance(seconds=359)
    hidden = receive(cloud, "steps")
    clock.advance(seconds=1)
    again = receive(cloud, "steps")

    assert [m["Attributes"]["ApproximateReceiveCount"] for m in first + again] == ["1", "2"]
    assert hidden == [] and first[0]["MessageId"] == again[0]["MessageId"]
    assert first[0]["ReceiptHandle"] != again[0]["ReceiptHandle"]


def test_the_receive_after_max_receive_count_moves_the_message_to_the_dead_letter_queue(cloud, clock) -> None:
    cloud.sqs.send_message(QueueUrl=url(cloud, "events"), MessageBody="poison")
    for _ in range(5):
        assert len(receive(cloud, "events", VisibilityTimeout=0)) == 1

    assert receive(cloud, "events") == []
    assert cloud.sqs.depth(f"{STAGE}-events") == 0
    assert [m["Body"] for m in receive(cloud, "events-dlq")] == ["poison"]


def test_a_delayed_message_shows_up_after_its_delay(cloud, clock) -> None:
    cloud.sqs.send_message(QueueUrl=url(cloud, "steps"), MessageBody="later", DelaySeconds=60)

    assert receive(cloud, "steps") == []
    clock.advance(seconds=60)
    assert [m["Body"] for m in receive(cloud, "steps")] == ["later"]


def test_only_the_latest_receipt_deletes_and_a_deleted_message_is_gone(cloud, clock) -> None:
    cloud.sqs.send_message(QueueUrl=url(cloud, "steps"), MessageBody="once")
    stale = receive(cloud, "steps", VisibilityTimeout=0)[0]["ReceiptHandle"]
    latest = receive(cloud, "steps")[0]["ReceiptHandle"]

    cloud.sqs.delete_message(QueueUrl=url(cloud, "steps"), ReceiptHandle=stale)
    assert cloud.sqs.depth(f"{STAGE}-steps") == 1
    answer = cloud.sqs.delete_message_batch(QueueUrl=url(cloud, "steps"),
                                            Entries=[{"Id": "0", "ReceiptHandle": latest}])

    assert answer == {"Successful": [{"Id": "0"}], "Failed": []}
    assert cloud.sqs.depth(f"{STAGE}-steps") == 0
    with pytest.raises(ClientError) as error:
        cloud.sqs.change_message_visibility(QueueUrl=url(cloud, "steps"), ReceiptHandle=latest, VisibilityTimeout=5)
    assert code(error) == "AWS.SimpleQueueService.MessageNotInflight"


def test_sqs_refuses_what_aws_refuses_with_its_codes(cloud) -> None:
    steps = url(cloud, "steps")
    cases = [
        (lambda: cloud.sqs.get_queue_url(QueueName="nope"), "AWS.SimpleQueueService.NonExistentQueue"),
        (lambda: cloud.sqs.send_message(QueueUrl=steps, MessageBody="x", DelaySeconds=901), "InvalidParameterValue"),
        (lambda: cloud.sqs.send_message(QueueUrl=steps, MessageBody="x" * 262_145), "InvalidParameterValue"),
        (lambda: cloud.sqs.send_message(QueueUrl=steps, MessageBody=""), "MissingParameter"),
        (lambda: cloud.sqs.receive_message(QueueUrl=steps, MaxNumberOfMessages=11), "InvalidParameterValue"),
        (lambda: cloud.sqs.send_message_batch(QueueUrl=steps, Entries=[]),
         "AWS.SimpleQueueService.EmptyBatchRequest"),
        (lambda: cloud.sqs.send_message_batch(QueueUrl=steps, Entries=[{"Id": "a", "MessageBody": "x"}] * 2),
         "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"),
        (lambda: cloud.sqs.send_message_batch(
            QueueUrl=steps, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(11)]),
         "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"),
        (lambda: cloud.sqs.delete_message(QueueUrl=steps, ReceiptHandle="garbage"), "ReceiptHandleIsInvalid"),
    ]
    for call, expected in cases:
        with pytest.raises(ClientError) as error:
            call()
        assert code(error) == expected


def test_the_queue_publisher_runs_unchanged_over_the_fake(cloud, settings) -> None:
    publisher = QueuePublisher(cloud.create_client("sqs"), settings, lambda: "corr-1")

    assert publisher.send_many("steps", [{"kind": "step", "n": n} for n in range(23)]) == 23
    messages = receive(cloud, "steps") + receive(cloud, "steps") + receive(cloud, "steps")

    assert sorted(json.loads(m["Body"])["n"] for m in messages) == list(range(23))
    assert messages[0]["MessageAttributes"] == {"correlation_id": {"DataType": "String", "StringValue": "corr-1"}}
    assert "MD5OfMessageAttributes" in messages[0]


def mail(**overrides: object) -> OutboundEmail:
    fields: dict[str, object] = {
        "touch_id": "t-1", "contact_id": "c-1", "chain": "welcome", "step": 0, "to": "anna@example.com",
        "from_address": "no-reply@example.com", "reply_to": None, "subject": "Hello", "preheader": "",
        "html": "<p>Hello</p>", "text": "Hello", "marketing": False,
    }
    return OutboundEmail(**{**fields, **overrides})  # type: ignore[arg-type]


def test_ses_captures_a_sent_mail_as_the_outbox_parser_reads_it(cloud, settings) -> None:
    sender = EmailSender(cloud.create_client("sesv2"), settings.configuration_set)
    full = mail(to="Анна Петрова <anna@example.com>", subject="Добро пожаловать! " * 6, reply_to="help@example.com",
                text="Подтвердите: https://example.com/v1/confirm?token=abc", marketing=True,
                unsubscribe_url="https://example.com/v1/unsubscribe?token=xyz")

    ids = [sender.send(mail()), sender.send(full)]
    captured = cloud.sent_mail()

    assert [m.message_id for m in captured] == ids
    for message, sent in zip((mail(), full), captured, strict=True):
        raw = build_mime(message)
        assert sent == _parse_raw(sent.message_id, sent.source, [sent.to[0]], raw.decode())
        assert parse_sent_mail(sent.message_id, sent.source, [], raw) == sent
    assert captured[1].subject.startswith("Добро пожаловать!") and "confirm?token=abc" in captured[1].text
    assert cloud.sent_mail(since=1) == captured[1:]


def test_ses_refuses_an_unverified_sender_and_an_unknown_configuration_set(cloud, settings) -> None:
    with pytest.raises(PermanentSendError) as refused:
        EmailSender(cloud.create_client("sesv2"), settings.configuration_set).send(
            mail(from_address="someone@elsewhere.org"))
    with pytest.raises(ClientError) as unknown:
        cloud.sesv2.send_email(FromEmailAddress="no-reply@example.com", Destination={"ToAddresses": ["a@b.org"]},
                               Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}}},
                               ConfigurationSetName="missing")

    assert refused.value.provider_code == "MessageRejected"
    assert code(unknown) == "NotFoundException"
    assert cloud.sent_mail() == []


def test_feedback_published_to_the_topic_reaches_the_feedback_queue_in_an_sns_envelope(cloud, settings) -> None:
    sender = EmailSender(cloud.create_client("sesv2"), settings.configuration_set)
    sender.send(mail())
    record = ses_event("delivery", cloud.sent_mail()[0], NOW, configuration_set=settings.configuration_set)
    topic = f"arn:aws:sns:eu-west-1:123456789012:{settings.topic('ses-feedback')}"

    cloud.sns.publish(TopicArn=topic, Message=json.dumps(record))
    (delivered,) = receive(cloud, "feedback")

    envelope = json.loads(delivered["Body"])
    assert envelope["Type"] == "Notification" and envelope["TopicArn"] == topic
    event = parse_feedback(delivered["Body"])
    assert isinstance(event, FeedbackEvent) and event.provider_message_id == cloud.sent_mail()[0].message_id
    with pytest.raises(ClientError) as error:
        cloud.sns.publish(TopicArn=topic + "-nope", Message="{}")
    assert code(error) == "NotFound"


def test_sms_is_captured_and_an_opted_out_number_is_refused_before_publish(cloud) -> None:
    sender = SmsSender(cloud.create_client("sns"))
    cloud.sns.opted_out.add("+79160000002")

    result = sender.send(SmsMessage("t-1", "c-1", "+79160000001", "Код: 1234", "service"), now=NOW)
    with pytest.raises(PermanentSendError) as opted_out:
        sender.send(SmsMessage("t-2", "c-2", "+79160000002", "Акция", "promo"), now=NOW)
    with pytest.raises(ClientError) as bad:
        cloud.sns.publish(PhoneNumber="8916", Message="x")

    assert [(s.message_id, s.phone, s.text) for s in cloud.sent_sms()] == [(result.message_id, "+79160000001",
                                                                            "Код: 1234")]
    assert opted_out.value.code == "opted_out"
    assert code(bad) == "InvalidParameter"


def test_an_unknown_secret_or_service_is_a_clear_error(cloud) -> None:
    with pytest.raises(ClientError) as error:
        cloud.secretsmanager.get_secret_value(SecretId="nope")
    assert code(error) == "ResourceNotFoundException"
    with pytest.raises(ValueError, match="no dynamodb"):
        cloud.create_client("dynamodb")
