from datetime import UTC, datetime
from decimal import Decimal

import pytest
from botocore.stub import Stubber

from chalicelib.delivery.errors import CircuitOpenError, PermanentSendError, RetryableSendError
from chalicelib.delivery.sms import InMemoryOptOutCache, InMemorySpendCounter, SmsMessage, SmsSender

NOW = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
ANNA = "+79161234567"


def sms(category="marketing", to=ANNA, body="Анна, скидка 10% до пятницы") -> SmsMessage:
    return SmsMessage(touch_id="t-1", contact_id="c-42", to=to, body=body, category=category)


def attributes(params: dict) -> dict[str, str]:
    return {name: value["StringValue"] for name, value in params["MessageAttributes"].items()}


def test_marketing_sms_is_promotional_with_sender_id(sns, call_log, sent_sms):
    log = call_log(sns)
    result = SmsSender(sns, sender_id="Shop", price_per_segment=Decimal("0.04")).send(sms(), now=NOW)

    assert sent_sms() == [(ANNA, "Анна, скидка 10% до пятницы")]
    [publish] = log.named("Publish")
    assert attributes(publish) == {"AWS.SNS.SMS.SMSType": "Promotional", "AWS.SNS.SMS.SenderID": "Shop"}
    assert result.message_id
    assert (result.segments.encoding, result.segments.segments, result.cost) == ("UCS-2", 1, Decimal("0.04"))


def test_service_sms_is_transactional_and_skips_the_opt_out_check(sns, call_log):
    log = call_log(sns)
    SmsSender(sns).send(sms(category="service"), now=NOW)

    assert [name for name, _ in log.calls] == ["Publish"]
    assert attributes(log.named("Publish")[0]) == {"AWS.SNS.SMS.SMSType": "Transactional"}


def test_opted_out_number_gets_no_publish(sns):
    sender = SmsSender(sns)
    with Stubber(sns) as stub:
        stub.add_response("check_if_phone_number_is_opted_out", {"isOptedOut": True}, {"phoneNumber": ANNA})
        with pytest.raises(PermanentSendError) as caught:
            sender.send(sms(), now=NOW)
        with pytest.raises(PermanentSendError):
            sender.send(sms(), now=NOW)  # cached: no second check, still no publish
        stub.assert_no_pending_responses()
    assert caught.value.code == "opted_out"


def test_opt_out_answer_is_cached_so_the_check_runs_once_per_number(sns, call_log):
    cache = InMemoryOptOutCache()
    sender = SmsSender(sns, opt_out_cache=cache)
    log = call_log(sns)
    with Stubber(sns) as stub:
        stub.add_response("check_if_phone_number_is_opted_out", {"isOptedOut": False}, {"phoneNumber": ANNA})
        stub.add_response("publish", {"MessageId": "m-1"})
        stub.add_response("publish", {"MessageId": "m-2"})
        assert sender.send(sms(), now=NOW).message_id == "m-1"
        assert sender.send(sms(), now=NOW).message_id == "m-2"
        stub.assert_no_pending_responses()
    assert [name for name, _ in log.calls] == ["CheckIfPhoneNumberIsOptedOut", "Publish", "Publish"]
    assert cache.get(ANNA) is False


def test_a_shared_cache_spares_the_check_for_another_sender(sns):
    cache = InMemoryOptOutCache()
    cache.set(ANNA, False)
    with Stubber(sns) as stub:
        stub.add_response("publish", {"MessageId": "m-1"})
        SmsSender(sns, opt_out_cache=cache).send(sms(), now=NOW)
        stub.assert_no_pending_responses()


def test_spend_guard_trips_before_publish(sns, sent_sms):
    spend = InMemorySpendCounter()
    sender = SmsSender(sns, price_per_segment=Decimal("0.05"), monthly_limit=Decimal("0.10"), spend=spend)
    sender.send(sms(category="service"), now=NOW)
    sender.send(sms(category="service"), now=NOW)

    with Stubber(sns) as stub:  # no responses queued: any provider call would fail the test
        with pytest.raises(CircuitOpenError) as caught:
            sender.send(sms(category="service"), now=NOW)
        stub.assert_no_pending_responses()
    assert caught.value.code == "sms_spend_limit"
    assert len(sent_sms()) == 2
    assert spend.month_spend("2026-03") == Decimal("0.10")


def test_spend_guard_counts_per_month_and_per_segment(sns):
    spend = InMemorySpendCounter()
    sender = SmsSender(sns, price_per_segment=Decimal("0.05"), monthly_limit=Decimal("0.10"), spend=spend)
    with pytest.raises(CircuitOpenError):
        sender.send(sms(category="service", body="Ж" * 135), now=NOW)  # 3 segments = 0.15
    sender.send(sms(category="service", body="Ж" * 134), now=NOW)  # 2 segments = 0.10
    next_month = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
    sender.send(sms(category="service"), now=next_month)
    assert spend.month_spend("2026-03") == Decimal("0.10")
    assert spend.month_spend("2026-04") == Decimal("0.05")


def test_throttled_publish_is_retryable_after_one_call_and_costs_nothing(sns, call_log):
    spend = InMemorySpendCounter()
    sender = SmsSender(sns, price_per_segment=Decimal("0.05"), spend=spend)
    log = call_log(sns)
    with Stubber(sns) as stub:
        stub.add_client_error("publish", service_error_code="Throttled", http_status_code=429)
        with pytest.raises(RetryableSendError):
            sender.send(sms(category="service"), now=NOW)
        stub.assert_no_pending_responses()
    assert len(log.named("Publish")) == 1
    assert spend.month_spend("2026-03") == 0


@pytest.mark.parametrize("number", ["89161234567", "+7 916 123-45-67", "anna@example.com"])
def test_non_e164_number_is_refused_without_a_call(sns, call_log, number):
    log = call_log(sns)
    with pytest.raises(PermanentSendError) as caught:
        SmsSender(sns).send(sms(to=number), now=NOW)
    assert caught.value.code == "invalid_phone_number"
    assert log.calls == []


def test_too_long_text_is_refused_without_a_call(sns, call_log):
    log = call_log(sns)
    with pytest.raises(PermanentSendError) as caught:
        SmsSender(sns, max_segments=3).send(sms(body="Ж" * 202), now=NOW)
    assert caught.value.code == "message_too_long"
    assert log.calls == []


def test_moto_opt_out_stub_is_honoured_end_to_end(sns, sent_sms):
    """moto reports numbers ending in 99 as opted out."""
    with pytest.raises(PermanentSendError):
        SmsSender(sns).send(sms(to="+79161234599"), now=NOW)
    assert sent_sms() == []


def test_bad_sender_id_is_refused_at_construction(sns):
    with pytest.raises(ValueError, match="sender id"):
        SmsSender(sns, sender_id="Shop & Co Ltd")


def test_unknown_category_stops_the_touch_without_a_call(sns, call_log):
    log = call_log(sns)
    with pytest.raises(PermanentSendError) as caught:
        SmsSender(sns).send(sms(category="newsletter"), now=NOW)
    assert caught.value.code == "unknown_category"
    assert log.calls == []
