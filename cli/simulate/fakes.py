"""In-memory providers for a memory-store simulation: SQS, SES v2, SNS and Secrets Manager, without moto.

Each fake is shaped like the botocore client the app builds: the same operation names, keyword parameters and
response dicts, and botocore's `ClientError` with the code AWS returns for the mistakes the app could make, so
the delivery adapters, the queue publisher and the engine's drain run unchanged. Time is the run's virtual
clock: a message delayed 300 s shows up five virtual minutes later, as it would in AWS.

`FakeCloud` is the session the simulation puts in wiring's place (`create_client` answers with the fakes); it
is built from infra/template.yaml like the moto stack, and it keeps what was sent for `Engine.captured`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import secrets
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import getaddresses
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.clock import Clock
from cli.outbox import ACCOUNT, CapturedMail, CapturedSms
from cli.simulate.meter import provider_call

MAX_BYTES = 262_144  # SQS and SNS take 256 KiB a message (a batch, for SQS)
E164 = re.compile(r"\+[1-9]\d{1,14}")
TAG = re.compile(r"[A-Za-z0-9_\-.@]{1,256}")


def client_error(operation: str, code: str, message: str, status: int = 400) -> ClientError:
    """The exception botocore raises for an error response: what the app's taxonomy sorts by code."""
    return ClientError({"Error": {"Code": code, "Message": message, "Type": "Sender" if status < 500 else "Receiver"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _md5_of_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> str:
    """MD5OfMessageAttributes as SQS computes it (names sorted, each part length-prefixed)."""
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        value = attributes[name]
        data_type = str(value["DataType"])
        for part in (name, data_type):
            encoded = part.encode("utf-8")
            digest.update(struct.pack("!I", len(encoded)) + encoded)
        if "BinaryValue" in value:
            payload, kind = bytes(value["BinaryValue"]), 2
        else:
            payload, kind = str(value["StringValue"]).encode("utf-8"), 1
        digest.update(bytes([kind]) + struct.pack("!I", len(payload)) + payload)
    return digest.hexdigest()


_CLEARED = ~(0xC000 << 48 | 0xF000 << 64)  # the variant and version bits
_VERSION_4 = 0x8000 << 48 | 4 << 76  # RFC 4122's variant, version 4


class Ids:
    """Message ids and receipt handles from the cloud's own Random, the same every run: the app's seeded uuid4
    draws stay the ones a moto run makes (moto does not draw from them either)."""

    def __init__(self) -> None:
        self._rng = random.Random("cloud")

    def uuid(self) -> str:
        """str(uuid.UUID(int=..., version=4)) of the next draw, without building the UUID (a run draws one per
        message and per receive)."""
        digits = f"{self._rng.getrandbits(128) & _CLEARED | _VERSION_4:032x}"
        return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


# --- SQS -----------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Message:
    id: str
    body: str
    attributes: dict[str, dict[str, Any]]
    sent_at: float
    visible_at: float
    receive_count: int = 0
    first_received_at: float | None = None
    receipt: str | None = None  # the latest; only it deletes or changes visibility, as in SQS
    md5: str = ""
    md5_attributes: str = ""

    def __post_init__(self) -> None:
        self.md5 = _md5(self.body)
        self.md5_attributes = _md5_of_attributes(self.attributes) if self.attributes else ""


@dataclass(eq=False)
class _Queue:
    name: str
    url: str
    arn: str
    visibility_timeout: int = 30
    delay_seconds: int = 0
    retention_seconds: int = 345_600
    redrive: dict[str, Any] | None = None
    messages: dict[str, _Message] = field(default_factory=dict)  # by id, in the order they were sent

    @property
    def max_receive_count(self) -> int | None:
        return int(self.redrive["maxReceiveCount"]) if self.redrive else None


class FakeSqs:
    """A standard queue's promises: at-least-once, a visibility timeout per receive, a receive count, delays,
    and the move to the dead-letter queue on the receive after `maxReceiveCount` receives."""

    def __init__(self, clock: Clock, ids: Ids, region: str) -> None:
        self._clock = clock
        self._ids = ids
        self._region = region
        self._queues: dict[str, _Queue] = {}  # by URL
        self._by_arn: dict[str, _Queue] = {}
        self._by_name: dict[str, _Queue] = {}

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def create_queue(self, *, QueueName: str, Attributes: Mapping[str, Any] | None = None) -> dict[str, Any]:
        attributes = dict(Attributes or {})
        if QueueName not in self._by_name:
            url = f"https://sqs.{self._region}.amazonaws.com/{ACCOUNT}/{QueueName}"
            queue = _Queue(QueueName, url, f"arn:aws:sqs:{self._region}:{ACCOUNT}:{QueueName}")
            self._queues[url] = self._by_arn[queue.arn] = self._by_name[QueueName] = queue
        queue = self._by_name[QueueName]
        queue.visibility_timeout = int(attributes.get("VisibilityTimeout", queue.visibility_timeout))
        queue.delay_seconds = int(attributes.get("DelaySeconds", queue.delay_seconds))
        queue.retention_seconds = int(attributes.get("MessageRetentionPeriod", queue.retention_seconds))
        if "RedrivePolicy" in attributes:
            redrive = attributes["RedrivePolicy"]
            queue.redrive = json.loads(redrive) if isinstance(redrive, str) else dict(redrive)
        return {"QueueUrl": queue.url}

    def _queue(self, operation: str, url: str) -> _Queue:
        queue = self._queues.get(url)
        if queue is None:
            raise client_error(operation, "AWS.SimpleQueueService.NonExistentQueue",
                               "The specified queue does not exist.")
        return queue

    def get_queue_url(self, *, QueueName: str, QueueOwnerAWSAccountId: str | None = None) -> dict[str, Any]:
        queue = self._by_name.get(QueueName)
        if queue is None:
            raise client_error("GetQueueUrl", "AWS.SimpleQueueService.NonExistentQueue",
                               "The specified queue does not exist.")
        return {"QueueUrl": queue.url}

    def get_queue_attributes(self, *, QueueUrl: str, AttributeNames: Sequence[str] = ()) -> dict[str, Any]:
        queue = self._queue("GetQueueAttributes", QueueUrl)
        now = self._now()
        waiting = [m for m in queue.messages.values() if m.visible_at <= now]
        received = [m for m in queue.messages.values() if m.visible_at > now and m.receipt is not None]
        everything: dict[str, str] = {
            "QueueArn": queue.arn,
            "ApproximateNumberOfMessages": str(len(waiting)),
            "ApproximateNumberOfMessagesNotVisible": str(len(received)),
            "ApproximateNumberOfMessagesDelayed": str(len(queue.messages) - len(waiting) - len(received)),
            "VisibilityTimeout": str(queue.visibility_timeout),
            "DelaySeconds": str(queue.delay_seconds),
            "MessageRetentionPeriod": str(queue.retention_seconds),
            "MaximumMessageSize": str(MAX_BYTES),
        }
        if queue.redrive:
            everything["RedrivePolicy"] = json.dumps(queue.redrive)
        names = set(AttributeNames)
        unknown = names - set(everything) - {"All", "RedrivePolicy"}
        if unknown:
            raise client_error("GetQueueAttributes", "InvalidAttributeName",
                               f"Unknown Attribute {sorted(unknown)[0]}.")
        return {"Attributes": everything if "All" in names else {k: v for k, v in everything.items() if k in names}}

    def _accept(self, operation: str, queue: _Queue, body: str, delay: int | None,
                attributes: Mapping[str, Any] | None) -> _Message:
        if not body:
            raise client_error(operation, "MissingParameter", "The request must contain the parameter MessageBody.")
        delay = queue.delay_seconds if delay is None else delay
        if not 0 <= delay <= 900:
            raise client_error(operation, "InvalidParameterValue",
                               f"Value {delay} for parameter DelaySeconds is invalid. Reason: must be between 0 "
                               "and 900, if provided.")
        message_attributes = {name: dict(value) for name, value in (attributes or {}).items()}
        for name, value in message_attributes.items():
            if not value.get("DataType") or ("StringValue" not in value and "BinaryValue" not in value):
                raise client_error(operation, "InvalidParameterValue",
                                   f"The message attribute '{name}' must contain non-empty message attribute value.")
        size = len(body.encode("utf-8")) + sum(
            len(name) + len(str(v.get("DataType"))) + len(str(v.get("StringValue", v.get("BinaryValue", ""))))
            for name, v in message_attributes.items())
        if size > MAX_BYTES:
            raise client_error(operation, "InvalidParameterValue",
                               f"One or more parameters are invalid. Reason: Message must be shorter than "
                               f"{MAX_BYTES} bytes.")
        now = self._now()
        return _Message(self._ids.uuid(), body, message_attributes, now, now + delay)

    def _reply(self, message: _Message) -> dict[str, Any]:
        reply = {"MessageId": message.id, "MD5OfMessageBody": message.md5}
        if message.attributes:
            reply["MD5OfMessageAttributes"] = message.md5_attributes
        return reply

    def enqueue(self, queue: _Queue, message: _Message) -> None:
        queue.messages[message.id] = message

    def deliver(self, operation: str, queue_arn: str, body: str) -> None:
        """A message from another service (an SNS subscription), held to the queue's own limits."""
        queue = self._by_arn[queue_arn]
        self.enqueue(queue, self._accept(operation, queue, body, None, None))

    def send_message(self, *, QueueUrl: str, MessageBody: str, DelaySeconds: int | None = None,
                     MessageAttributes: Mapping[str, Any] | None = None) -> dict[str, Any]:
        queue = self._queue("SendMessage", QueueUrl)
        message = self._accept("SendMessage", queue, MessageBody, DelaySeconds, MessageAttributes)
        self.enqueue(queue, message)
        return self._reply(message)

    def _batch(self, operation: str, entries: Sequence[Mapping[str, Any]]) -> None:
        if not entries:
            raise client_error(operation, "AWS.SimpleQueueService.EmptyBatchRequest",
                               "There should be at least one SendMessageBatchRequestEntry in the request.")
        if len(entries) > 10:
            raise client_error(operation, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                               f"Maximum number of entries per request are 10. You have sent {len(entries)}.")
        ids = [str(entry["Id"]) for entry in entries]
        if len(set(ids)) != len(ids):
            raise client_error(operation, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                               "Two or more batch entries in the request have the same Id.")

    def send_message_batch(self, *, QueueUrl: str, Entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        queue = self._queue("SendMessageBatch", QueueUrl)
        self._batch("SendMessageBatch", Entries)
        total = sum(len(str(entry.get("MessageBody", "")).encode("utf-8")) for entry in Entries)
        if total > MAX_BYTES:
            raise client_error("SendMessageBatch", "AWS.SimpleQueueService.BatchRequestTooLong",
                               f"Batch requests cannot be longer than {MAX_BYTES} bytes. You have sent {total} bytes.")
        accepted = [
            (str(entry["Id"]), self._accept("SendMessageBatch", queue, str(entry.get("MessageBody", "")),
                                            entry.get("DelaySeconds"), entry.get("MessageAttributes")))
            for entry in Entries
        ]
        for _, message in accepted:
            self.enqueue(queue, message)
        return {"Successful": [{"Id": entry_id, **self._reply(message)} for entry_id, message in accepted],
                "Failed": []}

    def receive_message(self, *, QueueUrl: str, MaxNumberOfMessages: int = 1, WaitTimeSeconds: int = 0,
                        VisibilityTimeout: int | None = None, AttributeNames: Sequence[str] = (),
                        MessageSystemAttributeNames: Sequence[str] = (),
                        MessageAttributeNames: Sequence[str] = ()) -> dict[str, Any]:
        queue = self._queue("ReceiveMessage", QueueUrl)
        if not 1 <= MaxNumberOfMessages <= 10:
            raise client_error("ReceiveMessage", "InvalidParameterValue",
                               f"Value {MaxNumberOfMessages} for parameter MaxNumberOfMessages is invalid. Reason: "
                               "Must be between 1 and 10, if provided.")
        timeout = queue.visibility_timeout if VisibilityTimeout is None else VisibilityTimeout
        if not 0 <= timeout <= 43_200:
            raise client_error("ReceiveMessage", "InvalidParameterValue",
                               f"Value {timeout} for parameter VisibilityTimeout is invalid.")
        now = self._now()
        taken: list[_Message] = []
        for message in list(queue.messages.values()):
            if message.visible_at > now:
                continue
            if now - message.sent_at > queue.retention_seconds:
                del queue.messages[message.id]
                continue
            limit = queue.max_receive_count
            if limit is not None and message.receive_count >= limit and queue.redrive:
                del queue.messages[message.id]
                message.receipt, message.visible_at = None, now
                self.enqueue(self._by_arn[queue.redrive["deadLetterTargetArn"]], message)
                continue
            message.receive_count += 1
            message.first_received_at = message.first_received_at or now
            message.receipt = f"{message.id}#{self._ids.uuid()}"
            message.visible_at = now + timeout
            taken.append(message)
            if len(taken) == MaxNumberOfMessages:
                break
        if not taken:
            return {}
        system = set(AttributeNames) | set(MessageSystemAttributeNames)
        return {"Messages": [self._delivered(m, system, set(MessageAttributeNames)) for m in taken]}

    def _delivered(self, message: _Message, system: set[str], names: set[str]) -> dict[str, Any]:
        assert message.receipt is not None
        delivered: dict[str, Any] = {"MessageId": message.id, "ReceiptHandle": message.receipt,
                                     "MD5OfBody": message.md5, "Body": message.body}
        stamps = {"SenderId": ACCOUNT, "SentTimestamp": str(int(message.sent_at * 1000)),
                  "ApproximateReceiveCount": str(message.receive_count),
                  "ApproximateFirstReceiveTimestamp": str(int((message.first_received_at or 0) * 1000))}
        chosen = stamps if "All" in system else {k: v for k, v in stamps.items() if k in system}
        if chosen:
            delivered["Attributes"] = chosen
        wanted = {k: v for k, v in message.attributes.items()
                  if "All" in names or ".*" in names or k in names}
        if wanted:
            delivered["MessageAttributes"] = wanted
            everything = len(wanted) == len(message.attributes)
            delivered["MD5OfMessageAttributes"] = message.md5_attributes if everything else _md5_of_attributes(wanted)
        return delivered

    def _received(self, operation: str, queue: _Queue, receipt: str) -> _Message | None:
        """The message `receipt` names while it is still the latest receipt; None for one already deleted."""
        message_id, mark, _ = receipt.partition("#")
        if not mark or not message_id:
            raise client_error(operation, "ReceiptHandleIsInvalid",
                               f'The input receipt handle "{receipt}" is not a valid receipt handle.')
        message = queue.messages.get(message_id)
        return message if message is not None and message.receipt == receipt else None

    def delete_message(self, *, QueueUrl: str, ReceiptHandle: str) -> dict[str, Any]:
        queue = self._queue("DeleteMessage", QueueUrl)
        message = self._received("DeleteMessage", queue, ReceiptHandle)
        if message is not None:
            del queue.messages[message.id]
        return {}

    def delete_message_batch(self, *, QueueUrl: str, Entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        self._queue("DeleteMessageBatch", QueueUrl)
        self._batch("DeleteMessageBatch", Entries)
        successful, failed = [], []
        for entry in Entries:
            try:
                self.delete_message(QueueUrl=QueueUrl, ReceiptHandle=str(entry["ReceiptHandle"]))
            except ClientError as exc:
                failed.append({"Id": entry["Id"], "SenderFault": True, "Code": exc.response["Error"]["Code"],
                               "Message": exc.response["Error"]["Message"]})
            else:
                successful.append({"Id": entry["Id"]})
        return {"Successful": successful, "Failed": failed}

    def change_message_visibility(self, *, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int) -> dict[str, Any]:
        queue = self._queue("ChangeMessageVisibility", QueueUrl)
        message = self._received("ChangeMessageVisibility", queue, ReceiptHandle)
        now = self._now()
        if message is None or message.visible_at <= now:
            raise client_error("ChangeMessageVisibility", "AWS.SimpleQueueService.MessageNotInflight",
                               "Message does not exist or is not available for visibility timeout change.")
        if not 0 <= VisibilityTimeout <= 43_200:
            raise client_error("ChangeMessageVisibility", "InvalidParameterValue",
                               f"Value {VisibilityTimeout} for parameter VisibilityTimeout is invalid.")
        message.visible_at = now + VisibilityTimeout
        return {}

    def depth(self, name: str) -> int:
        """Every message the queue holds, visible or not (the DLQ checks of fault runs read this)."""
        return len(self._by_name[name].messages)

    def bodies(self, name: str) -> Iterator[str]:
        return (message.body for message in self._by_name[name].messages.values())


# --- SES v2 --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SentEmail:
    message_id: str
    source: str
    destinations: list[str]
    raw: bytes | None  # Raw content; Simple content keeps subject and text instead
    subject: str = ""
    text: str = ""

    def captured(self) -> CapturedMail:
        if self.raw is not None:
            return parse_sent_mail(self.message_id, self.source, self.destinations, self.raw)
        return CapturedMail(self.message_id, self.source, list(self.destinations), self.subject, self.text, {})


def _address(value: str) -> str:
    found = [address for _, address in getaddresses([value]) if address]
    return found[0].lower() if found else ""


class FakeSesV2:
    """`send_email` with Simple or Raw content: verified senders, existing configuration sets, SES's tag rules."""

    def __init__(self, ids: Ids, region: str) -> None:
        self._ids = ids
        self._region = region
        self.identities: set[str] = set()
        self.configuration_sets: set[str] = set()
        self.sent: list[SentEmail] = []

    def _verified(self, address: str) -> bool:
        return address in self.identities or address.rpartition("@")[2] in self.identities

    def send_email(self, *, Content: Mapping[str, Any], FromEmailAddress: str | None = None,
                   Destination: Mapping[str, Sequence[str]] | None = None,
                   ReplyToAddresses: Sequence[str] = (), EmailTags: Sequence[Mapping[str, str]] = (),
                   ConfigurationSetName: str | None = None) -> dict[str, Any]:
        operation = "SendEmail"
        kinds = [kind for kind in ("Simple", "Raw", "Template") if kind in Content]
        if len(kinds) != 1:
            raise client_error(operation, "BadRequestException", "Exactly one of Simple, Raw or Template is required.")
        if kinds[0] == "Template":
            raise client_error(operation, "BadRequestException", "The simulation sends no SES templates.")
        raw: bytes | None = None
        subject = text = ""
        if kinds[0] == "Raw":
            data = Content["Raw"]["Data"]
            raw = data if isinstance(data, bytes) else str(data).encode("utf-8")
            headers = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("utf-8", "replace")
            source = FromEmailAddress or next(
                (line[5:].strip() for line in headers.splitlines() if line.lower().startswith("from:")), "")
        else:
            simple = Content["Simple"]
            subject = str(simple.get("Subject", {}).get("Data", ""))
            body = simple.get("Body", {})
            text = str((body.get("Text") or body.get("Html") or {}).get("Data", ""))
            source = FromEmailAddress or ""
        destinations = [*(Destination or {}).get("ToAddresses", ()), *(Destination or {}).get("CcAddresses", ()),
                        *(Destination or {}).get("BccAddresses", ())]
        if not destinations and raw is None:
            raise client_error(operation, "BadRequestException", "Missing required field: Destination.")
        sender = _address(source)
        if not sender:
            raise client_error(operation, "BadRequestException", "Missing required field: FromEmailAddress.")
        if not self._verified(sender):
            raise client_error(operation, "MessageRejected",
                               f"Email address is not verified. The following identities failed the check in "
                               f"region {self._region.upper()}: {sender}")
        if ConfigurationSetName is not None and ConfigurationSetName not in self.configuration_sets:
            raise client_error(operation, "NotFoundException", f"Configuration set <{ConfigurationSetName}> does "
                                                               "not exist.", status=404)
        for tag in EmailTags:
            if not TAG.fullmatch(str(tag.get("Name", ""))) or not TAG.fullmatch(str(tag.get("Value", ""))):
                raise client_error(operation, "BadRequestException",
                                   "Tag names and values may contain only ASCII letters, digits, _, -, . and @.")
        message_id = f"{self._ids.uuid()}-000000"
        self.sent.append(SentEmail(message_id, source, [str(d) for d in destinations], raw, subject, text))
        return {"MessageId": message_id}


# --- SNS -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Subscription:
    arn: str
    protocol: str
    endpoint: str
    raw: bool


class FakeSns:
    """Topics whose SQS subscriptions get SNS's envelope (or the raw message), SMS to E.164 numbers, and the
    opt-out check; numbers in `opted_out` are the ones the carrier reports opted out."""

    def __init__(self, clock: Clock, ids: Ids, sqs: FakeSqs, region: str) -> None:
        self._clock = clock
        self._ids = ids
        self._sqs = sqs
        self._region = region
        self.topics: dict[str, list[_Subscription]] = {}  # by ARN
        self.sms: list[CapturedSms] = []
        self.opted_out: set[str] = set()

    def create_topic(self, *, Name: str) -> dict[str, Any]:
        arn = f"arn:aws:sns:{self._region}:{ACCOUNT}:{Name}"
        self.topics.setdefault(arn, [])
        return {"TopicArn": arn}

    def subscribe(self, *, TopicArn: str, Protocol: str, Endpoint: str,
                  Attributes: Mapping[str, str] | None = None) -> dict[str, Any]:
        if TopicArn not in self.topics:
            raise client_error("Subscribe", "NotFound", "Topic does not exist", status=404)
        if Protocol != "sqs":
            raise client_error("Subscribe", "InvalidParameter",
                               f"Invalid parameter: the simulation delivers to sqs only, not {Protocol}")
        raw = str((Attributes or {}).get("RawMessageDelivery", "false")).lower() == "true"
        subscription = _Subscription(f"{TopicArn}:{self._ids.uuid()}", Protocol, Endpoint, raw)
        self.topics[TopicArn].append(subscription)
        return {"SubscriptionArn": subscription.arn}

    def _envelope(self, topic: str, subscription: _Subscription, message_id: str, message: str,
                  subject: str | None, attributes: Mapping[str, Any]) -> str:
        if subscription.raw:
            return message
        stamp = self._clock.now().astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        envelope: dict[str, Any] = {
            "Type": "Notification", "MessageId": message_id, "TopicArn": topic, "Message": message,
            "Timestamp": stamp, "SignatureVersion": "1",
            "Signature": base64.b64encode(hashlib.sha256(message.encode("utf-8")).digest()).decode("ascii"),
            "SigningCertURL": f"https://sns.{self._region}.amazonaws.com/SimpleNotificationService.pem",
            "UnsubscribeURL": f"https://sns.{self._region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
                              f"{subscription.arn}",
        }
        if subject:
            envelope["Subject"] = subject
        if attributes:
            envelope["MessageAttributes"] = {name: {"Type": value["DataType"], "Value": value.get("StringValue")}
                                             for name, value in attributes.items()}
        return json.dumps(envelope)

    def publish(self, *, Message: str, TopicArn: str | None = None, TargetArn: str | None = None,
                PhoneNumber: str | None = None, Subject: str | None = None, MessageStructure: str | None = None,
                MessageAttributes: Mapping[str, Any] | None = None) -> dict[str, Any]:
        operation = "Publish"
        targets = [t for t in (TopicArn, TargetArn, PhoneNumber) if t is not None]
        if len(targets) != 1:
            raise client_error(operation, "InvalidParameter",
                               "Invalid parameter: exactly one of TopicArn, TargetArn or PhoneNumber is required")
        if not Message:
            raise client_error(operation, "InvalidParameter", "Invalid parameter: Empty message")
        if len(Message.encode("utf-8")) > MAX_BYTES:
            raise client_error(operation, "InvalidParameter", "Invalid parameter: Message too long")
        if MessageStructure == "json":
            try:
                structured = json.loads(Message)
            except ValueError as exc:
                raise client_error(operation, "InvalidParameter", "Invalid parameter: Message Structure - JSON "
                                                                  "message body failed to parse") from exc
            if not isinstance(structured, dict) or "default" not in structured:
                raise client_error(operation, "InvalidParameter",
                                   "Invalid parameter: Message Structure - No default entry in JSON message body")
        message_id = self._ids.uuid()
        if PhoneNumber is not None:
            if not E164.fullmatch(PhoneNumber):
                raise client_error(operation, "InvalidParameter",
                                   "Invalid parameter: PhoneNumber Reason: input incorrectly formatted")
            if PhoneNumber in self.opted_out:
                raise client_error(operation, "OptedOut", "Phone number is opted out")
            self.sms.append(CapturedSms(message_id, PhoneNumber, Message))
            return {"MessageId": message_id}
        if TargetArn is not None:
            raise client_error(operation, "NotFound", "Invalid parameter: TargetArn Reason: No endpoint found for "
                                                      "the target arn specified", status=404)
        assert TopicArn is not None
        subscriptions = self.topics.get(TopicArn)
        if subscriptions is None:
            raise client_error(operation, "NotFound", "Topic does not exist", status=404)
        for subscription in subscriptions:
            body = self._envelope(TopicArn, subscription, message_id, Message, Subject, MessageAttributes or {})
            self._sqs.deliver(operation, subscription.endpoint, body)
        return {"MessageId": message_id}

    def check_if_phone_number_is_opted_out(self, *, phoneNumber: str) -> dict[str, Any]:
        if not E164.fullmatch(phoneNumber):
            raise client_error("CheckIfPhoneNumberIsOptedOut", "InvalidParameter",
                               "Invalid parameter: PhoneNumber Reason: input incorrectly formatted")
        return {"isOptedOut": phoneNumber in self.opted_out}


# --- Secrets Manager -----------------------------------------------------------------------------------


class FakeSecretsManager:
    def __init__(self, ids: Ids, region: str) -> None:
        self._ids = ids
        self._region = region
        self._secrets: dict[str, dict[str, Any]] = {}

    def create_secret(self, *, Name: str, SecretString: str, Description: str = "") -> dict[str, Any]:
        if Name in self._secrets:
            raise client_error("CreateSecret", "ResourceExistsException",
                               f"The operation failed because the secret {Name} already exists.")
        arn = f"arn:aws:secretsmanager:{self._region}:{ACCOUNT}:secret:{Name}-{self._ids.uuid()[:6]}"
        self._secrets[Name] = {"ARN": arn, "Name": Name, "VersionId": self._ids.uuid(), "SecretString": SecretString,
                               "VersionStages": ["AWSCURRENT"], "CreatedDate": datetime(2026, 1, 1, tzinfo=UTC)}
        return {"ARN": arn, "Name": Name, "VersionId": self._secrets[Name]["VersionId"]}

    def get_secret_value(self, *, SecretId: str, VersionId: str | None = None,
                         VersionStage: str | None = None) -> dict[str, Any]:
        secret = self._secrets.get(SecretId) or next(
            (s for s in self._secrets.values() if s["ARN"] == SecretId), None)
        if secret is None or (VersionId is not None and VersionId != secret["VersionId"]) or (
                VersionStage not in (None, "AWSCURRENT")):
            raise client_error("GetSecretValue", "ResourceNotFoundException",
                               "Secrets Manager can't find the specified secret.")
        return dict(secret)


# --- the cloud -----------------------------------------------------------------------------------------


class Metered:
    """A fake client whose calls the run's meter counts as it counts botocore's (cli/simulate/meter.py)."""

    def __init__(self, service: str, client: Any) -> None:
        self._service = service
        self._client = client

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if name.startswith("_") or not callable(call):
            return call
        operation = "".join(part.title() for part in name.split("_"))

        def metered(**params: Any) -> Any:
            answer = call(**params)
            provider_call(self._service, operation, params, answer)
            return answer

        setattr(self, name, metered)  # built once: the next look-up finds it without coming here
        return metered




class FakeCloud:
    """The session of a memory-store simulation: `create_client` answers with the in-memory providers."""

    def __init__(self, clock: Clock, region: str) -> None:
        ids = Ids()
        self.region = region
        self.sqs = FakeSqs(clock, ids, region)
        self.sesv2 = FakeSesV2(ids, region)
        self.sns = FakeSns(clock, ids, self.sqs, region)
        self.secretsmanager = FakeSecretsManager(ids, region)
        self._clients: dict[str, Any] = {"sqs": self.sqs, "sesv2": self.sesv2, "sns": self.sns,
                                         "secretsmanager": self.secretsmanager}

    def create_client(self, service_name: str, region_name: str | None = None, **_: Any) -> Any:
        """botocore's `Session.create_client`; config and endpoint do not matter in memory."""
        if service_name not in self._clients:
            raise ValueError(f"the simulation's in-memory cloud has no {service_name}; it has "
                             f"{', '.join(sorted(self._clients))}")
        return Metered(service_name, self._clients[service_name])

    def sent_mail(self, since: int = 0) -> list[CapturedMail]:
        return [mail.captured() for mail in self.sesv2.sent[since:]]

    def sent_sms(self, since: int = 0) -> list[CapturedSms]:
        return self.sns.sms[since:]

    @classmethod
    def from_template(cls, clock: Clock, stage: str, region: str) -> FakeCloud:
        """The queues (with redrive), topics and their queue subscriptions, SES identities and configuration sets,
        and secrets of infra/template.yaml, as the moto stack has them."""
        from cli import provision

        template = _template()
        parameters = {name: str(spec.get("Default", "")) for name, spec in (template.get("Parameters") or {}).items()}
        parameters["Stage"] = stage
        stack = provision.Stack(stage, region, None, template, parameters)
        resources: dict[str, list[dict[str, Any]]] = {}
        for resource in template["Resources"].values():
            resources.setdefault(resource["Type"], []).append(provision.resolve(stack, resource.get("Properties", {})))
        cloud = cls(clock, region)
        build: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
            ("AWS::SQS::Queue", lambda p: cloud.sqs.create_queue(
                QueueName=p["QueueName"],
                Attributes={k: v for k, v in p.items() if k in ("VisibilityTimeout", "DelaySeconds",
                                                                 "MessageRetentionPeriod", "RedrivePolicy")})),
            ("AWS::SNS::Topic", lambda p: cloud.sns.create_topic(Name=p["TopicName"])),
            ("AWS::SNS::Subscription", lambda p: cloud.sns.subscribe(
                TopicArn=p["TopicArn"], Protocol=p["Protocol"], Endpoint=p["Endpoint"],
                Attributes={"RawMessageDelivery": str(p.get("RawMessageDelivery", False)).lower()})),
            ("AWS::SES::ConfigurationSet", lambda p: cloud.sesv2.configuration_sets.add(p["Name"])),
            ("AWS::SES::EmailIdentity", lambda p: cloud.sesv2.identities.add(p["EmailIdentity"].lower())),
            ("AWS::SecretsManager::Secret", lambda p: cloud.secretsmanager.create_secret(
                Name=p["Name"], SecretString=_generated(p.get("GenerateSecretString") or {}))),
        ]
        for kind, create in build:
            for props in resources.get(kind, []):
                create(props)
        if parameters.get("SenderEmail"):
            cloud.sesv2.identities.add(parameters["SenderEmail"].lower())
        return cloud


def _template() -> dict[str, Any]:
    """infra/template.yaml as cli.provision reads it (short-form tags as their long forms), with PyYAML alone:
    cfn-lint's reader costs a second of imports."""
    import yaml

    from cli.provision import TEMPLATE

    class Loader(yaml.SafeLoader):
        pass

    def intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}

    Loader.add_multi_constructor("!", intrinsic)
    return dict(yaml.load(TEMPLATE.read_text(), Loader=Loader))  # noqa: S506  (a SafeLoader with tags added)


def _generated(spec: Mapping[str, Any]) -> str:
    """A GenerateSecretString value, drawn as cli.provision draws it (so a seeded run draws the same bytes)."""
    value = json.loads(spec.get("SecretStringTemplate", "{}"))
    if spec.get("GenerateStringKey"):
        value[spec["GenerateStringKey"]] = secrets.token_urlsafe(48)
    return json.dumps(value)


def parse_sent_mail(message_id: str, source: str, destinations: list[str], raw: bytes) -> CapturedMail:
    """What `cli.outbox`'s parser reads from a mail (the same fields, the same text), at a tenth of its cost:
    the header registry of `email.policy.default` was a third of a memory run."""
    from email import message_from_bytes
    from email.header import decode_header, make_header
    from email.policy import compat32

    parsed = message_from_bytes(raw, policy=compat32)
    headers = {name: str(make_header(decode_header(value))) if "=?" in value or "\n" in value else value
               for name, value in parsed.items()}
    text = ""
    parts = [part for part in parsed.walk() if part.get_content_maintype() == "text"]
    for subtype in ("plain", "html"):
        body = next((part for part in parts if part.get_content_subtype() == subtype), None)
        if body is not None:
            payload = body.get_payload(decode=True)
            assert isinstance(payload, bytes)
            text = payload.decode(body.get_content_charset() or "utf-8", "replace")
            break
    return CapturedMail(message_id=message_id, source=source,
                        to=[headers["To"]] if headers.get("To") else list(destinations),
                        subject=headers.get("Subject", ""), text=text, headers=headers)
