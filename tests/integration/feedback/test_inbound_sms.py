"""Inbound SMS through the real path: two-way SMS -> sms-inbound topic -> queue -> on_sms_inbound."""

from __future__ import annotations

from chalicelib import wiring
from chalicelib.store.models import ConsentEventModel, ContactModel, SuppressionModel
from chalicelib.store.touches import TouchRecord
from cli.outbox import publish_sms_reply, sent_sms
from tests.integration.feedback.conftest import NOW, add_contact, drain
from tests.integration.helpers import ProviderCalls

KEYWORDS = ("STOP", " stop ", "СТОП", "Отписка", "UNSUBSCRIBE", "quit", "Cancel", "END", "OPTOUT", "opt-out.")


def test_every_stop_keyword_suppresses_revokes_and_confirms_once_even_when_redelivered(feedback_handlers) -> None:
    publishes = ProviderCalls(wiring.outbound().sms._client)
    phones = {}
    for n, keyword in enumerate(KEYWORDS):
        phone = f"+7916000{n:04d}"
        phones[f"c-{n}"] = phone
        add_contact(f"c-{n}", phone=phone)
        for _ in range(2):  # the same inbound message, delivered twice
            publish_sms_reply(phone, keyword, message_id=f"in-{n}")
    drain("sms-inbound", feedback_handlers.on_sms_inbound)

    for contact_id, phone in phones.items():
        assert SuppressionModel.get(f"phone:{phone}").reason == "sms_stop", contact_id
        consent = ContactModel.get(contact_id).consents.as_dict()["sms:marketing"]
        assert (consent["state"], consent["source"]) == ("revoked", "sms-stop"), contact_id
        assert ContactModel.get(contact_id).consents.as_dict()["email:marketing"]["state"] == "granted"
        revoked = [e for e in ConsentEventModel.query(contact_id) if e.kind == "revoked"]
        assert [(e.channel, e.purpose) for e in revoked] == [("sms", "marketing")], contact_id
    confirmations = sorted(s.phone for s in sent_sms())
    assert confirmations == sorted(phones.values())  # one each, none for the redeliveries
    assert publishes.count("Publish") == len(KEYWORDS)


def test_a_reply_that_is_not_a_stop_keyword_changes_nothing(feedback_handlers) -> None:
    add_contact("c-1", phone="+79161234567")
    publish_sms_reply("+79161234567", "STOP sending me the wrong size please")
    [result] = drain("sms-inbound", feedback_handlers.on_sms_inbound)

    assert result["done"] == 1
    assert list(SuppressionModel.scan()) == []
    assert sent_sms() == []


def test_a_stop_from_an_unknown_number_is_suppressed_without_a_reply(feedback_handlers) -> None:
    publish_sms_reply("+79169999999", "STOP")
    drain("sms-inbound", feedback_handlers.on_sms_inbound)

    assert SuppressionModel.get("phone:+79169999999").reason == "sms_stop"
    assert sent_sms() == []


def test_a_stop_answering_a_chain_sms_counts_an_unsubscribe_for_that_step(feedback_handlers) -> None:
    add_contact("c-1", phone="+79161234567")
    touches = wiring.touches()
    touches.reserve(TouchRecord("c-1", "welcome#1#9", "t-sms-1", "sms", "welcome-promo-reminder", "trigger",
                                "reserved", NOW, chain_id="welcome", step=9))
    touches.mark("c-1", "welcome#1#9", "sent", NOW, provider_message_id="sns-msg-1")
    for _ in range(2):
        publish_sms_reply("+79161234567", "STOP", message_id="in-1", answered="sns-msg-1")
    drain("sms-inbound", feedback_handlers.on_sms_inbound)

    today = wiring.clock().now().date()  # the unsubscribe counts on the day the STOP arrived
    [row] = wiring.stats().read("welcome", today, today)
    assert (row.step, row.counts["unsubscribed"]) == (9, 1)
