import email
import json
from email.policy import default as default_policy

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from chalicelib.delivery.clients import ses_client_for_sending
from chalicelib.delivery.email import EmailSender, OutboundEmail
from chalicelib.delivery.errors import (
    CircuitOpenError,
    InvalidMessageError,
    PermanentSendError,
    RetryableSendError,
)

CONFIG_SET = "touchplan-test"
UNSUBSCRIBE = "https://api.shop.example/v1/unsubscribe?token=k1.abc-DEF_123"


def marketing_email(**overrides) -> OutboundEmail:
    fields = {
        "touch_id": "t-01HQZ",
        "contact_id": "c-42",
        "chain": "welcome",
        "step": 2,
        "to": "anna@example.com",
        "from_address": "Магазин <news@shop.example>",
        "reply_to": "care@shop.example",
        "subject": "Анна, скидка 10%",
        "preheader": "Только до пятницы",
        "html": "<html><body><p>Привет, Анна!</p></body></html>",
        "text": "Привет, Анна!",
        "marketing": True,
        "unsubscribe_url": UNSUBSCRIBE,
    }
    return OutboundEmail(**(fields | overrides))


def doi_email() -> OutboundEmail:
    return marketing_email(
        touch_id="doi-c-42",
        chain=None,
        step=None,
        marketing=False,
        unsubscribe_url=None,
        subject="Confirm your subscription",
        preheader="",
    )


def parse(raw_data: str):
    return email.message_from_string(raw_data, policy=default_policy)


def test_marketing_send_carries_one_click_unsubscribe_headers(ses, sent_mail):
    message_id = EmailSender(ses, CONFIG_SET).send(marketing_email())

    [sent] = sent_mail()
    assert sent.id == message_id
    mime = parse(sent.raw_data)
    assert mime["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mime["Subject"] == "Анна, скидка 10%"
    assert mime["Reply-To"] == "care@shop.example"
    assert mime.get_content_type() == "multipart/alternative"
    text = mime.get_body(preferencelist=("plain",))
    html = mime.get_body(preferencelist=("html",))
    assert text.get_content().strip() == "Привет, Анна!"
    assert text.get_content_charset() == "utf-8"
    assert "Привет, Анна!" in html.get_content()
    assert "Только до пятницы" in html.get_content()  # preheader, hidden at the top of the body


def test_doi_send_carries_no_unsubscribe_headers(ses, sent_mail):
    EmailSender(ses, CONFIG_SET).send(doi_email())

    [sent] = sent_mail()
    mime = parse(sent.raw_data)
    assert "List-Unsubscribe" not in mime
    assert "List-Unsubscribe-Post" not in mime
    assert mime["Subject"] == "Confirm your subscription"


def test_transactional_mail_ignores_a_stray_unsubscribe_url(ses, sent_mail):
    EmailSender(ses, CONFIG_SET).send(marketing_email(marketing=False))
    assert "List-Unsubscribe" not in parse(sent_mail()[0].raw_data)


def test_every_send_sets_configuration_set_and_touch_tags(ses, call_log):
    log = call_log(ses)
    EmailSender(ses, CONFIG_SET).send(marketing_email(touch_id="t:01/ä", step=3))
    EmailSender(ses, CONFIG_SET).send(doi_email())

    marketing, doi = log.named("SendEmail")
    assert marketing["ConfigurationSetName"] == doi["ConfigurationSetName"] == CONFIG_SET
    assert {t["Name"]: t["Value"] for t in marketing["EmailTags"]} == {
        "touch_id": "t_01__",  # sanitised to SES's [A-Za-z0-9_-]
        "contact_id": "c-42",
        "chain": "welcome",
        "step": "3",
    }
    assert {t["Name"]: t["Value"] for t in doi["EmailTags"]} == {"touch_id": "doi-c-42", "contact_id": "c-42"}


def test_marketing_mail_without_https_unsubscribe_url_is_refused():
    with pytest.raises(ValueError, match="unsubscribe_url"):
        marketing_email(unsubscribe_url=None)
    with pytest.raises(ValueError, match="unsubscribe_url"):
        marketing_email(unsubscribe_url="http://api.shop.example/v1/unsubscribe")


def test_header_injection_is_refused_before_any_call():
    with pytest.raises(InvalidMessageError, match="line breaks"):
        marketing_email(to="anna@example.com\r\nBcc: victim@example.com")


def test_line_breaks_in_a_rendered_subject_fold_into_spaces(ses, sent_mail):
    EmailSender(ses, CONFIG_SET).send(marketing_email(subject="Hi\r\nBcc: victim@example.com\n"))
    mime = parse(sent_mail()[0].raw_data)
    assert mime["Subject"] == "Hi Bcc: victim@example.com"
    assert "Bcc" not in mime


def test_undeliverable_address_is_a_permanent_error_without_a_call(ses, call_log):
    log = call_log(ses)
    with pytest.raises(PermanentSendError) as caught:
        EmailSender(ses, CONFIG_SET).send(marketing_email(to="анна@example.com"))
    assert caught.value.code == "invalid_message"
    assert log.calls == []


def test_unverified_sender_is_a_permanent_error(ses, sent_mail):
    with pytest.raises(PermanentSendError) as caught:
        EmailSender(ses, CONFIG_SET).send(marketing_email(from_address="news@elsewhere.example"))
    assert caught.value.provider_code == "MessageRejected"
    assert sent_mail() == []


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("TooManyRequestsException", 429, RetryableSendError),
        ("LimitExceededException", 400, RetryableSendError),
        ("InternalFailure", 500, RetryableSendError),
        ("SendingPausedException", 400, CircuitOpenError),
        ("AccountSuspendedException", 400, CircuitOpenError),
        ("MessageRejected", 400, PermanentSendError),
        ("MailFromDomainNotVerifiedException", 400, PermanentSendError),
    ],
)
def test_provider_errors_are_sorted_after_exactly_one_call(ses, call_log, code, status, expected):
    log = call_log(ses)
    with Stubber(ses) as stub:
        stub.add_client_error("send_email", service_error_code=code, http_status_code=status)
        with pytest.raises(expected):
            EmailSender(ses, CONFIG_SET).send(marketing_email())
        stub.assert_no_pending_responses()
    assert len(log.named("SendEmail")) == 1


def test_throttled_then_accepted_sends_one_mail(ses, sent_mail, call_log):
    """The runtime retries a RetryableSendError by calling send again; the throttled call sent nothing."""
    sender = EmailSender(ses, CONFIG_SET)
    log = call_log(ses)
    with Stubber(ses) as stub:
        stub.add_client_error("send_email", service_error_code="TooManyRequestsException", http_status_code=429)
        with pytest.raises(RetryableSendError):
            sender.send(marketing_email())
    sender.send(marketing_email())
    assert len(log.named("SendEmail")) == 2
    assert len(sent_mail()) == 1


class _Body:
    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_):
        yield self._data


def _throttle_every_attempt(attempts: list):
    def before_send(request, **_):
        attempts.append(request.url)
        return AWSResponse(
            request.url,
            429,
            {"x-amzn-ErrorType": "TooManyRequestsException:", "Content-Type": "application/json"},
            _Body(json.dumps({"message": "Maximum sending rate exceeded."}).encode()),
        )

    return before_send


def test_send_client_makes_one_http_attempt_where_a_default_client_would_retry(monkeypatch):
    """Proves botocore's own retries are off at the HTTP layer (a Stubber would bypass them)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sending, default = [], []
    ours = ses_client_for_sending(region_name="eu-west-1")
    ours.meta.events.register("before-send.sesv2.SendEmail", _throttle_every_attempt(sending))
    plain = boto3.session.Session().client("sesv2", region_name="eu-west-1")
    plain.meta.events.register("before-send.sesv2.SendEmail", _throttle_every_attempt(default))
    monkeypatch.setattr("time.sleep", lambda _seconds: None)  # skip the default client's backoff

    with pytest.raises(RetryableSendError):
        EmailSender(ours, CONFIG_SET).send(marketing_email())
    with pytest.raises(RetryableSendError):
        EmailSender(plain, CONFIG_SET).send(marketing_email())

    assert len(sending) == 1
    assert len(default) > 1
