"""Delivery, open and click move the touch forward, count once, and reach the enrolment's reaction flags."""

from __future__ import annotations

from datetime import timedelta

from chalicelib import wiring
from cli.outbox import publish_feedback, sent_mail
from tests.integration.feedback.conftest import NOW, add_contact, drain, enrol, run_due_steps


def _survey_sent(contact_id: str) -> str:
    """The activation chain's survey mail is out and the chain waits a day on its `first-reaction` branch."""
    add_contact(contact_id)
    enrol(contact_id, "activation", at=NOW - timedelta(days=14))
    for _ in range(3):  # the 14-day wait, then the send
        run_due_steps()
        if sent_mail():
            break
    [mail] = sent_mail()
    stored = wiring.enrollments().get(contact_id, "activation")
    assert stored.state.step == 2 and stored.state.due_at == NOW + timedelta(days=1)
    assert not stored.state.opened
    return mail.message_id


def test_an_open_sets_the_flag_on_that_chain_and_wakes_the_waiting_branch(feedback_handlers, clock) -> None:
    message_id = _survey_sent("c-1")
    enrol("c-1", "welcome")  # another chain of the same contact: the open is not about it
    clock.advance(hours=1)
    publish_feedback("open", message_id, at=clock.now())
    drain("feedback", feedback_handlers.on_feedback)

    activation = wiring.enrollments().get("c-1", "activation").state
    assert activation.opened and not activation.clicked
    assert activation.due_at is not None and activation.due_at < NOW + timedelta(days=1)  # woken, not a day later
    assert not wiring.enrollments().get("c-1", "welcome").state.opened
    touch = wiring.touches().by_provider_message(message_id)
    assert wiring.touches().get(touch.contact_id, touch.touch_key).status == "opened"


def test_a_click_sets_opened_and_clicked(feedback_handlers) -> None:
    message_id = _survey_sent("c-1")
    publish_feedback("click", message_id, at=NOW + timedelta(hours=2))
    drain("feedback", feedback_handlers.on_feedback)

    activation = wiring.enrollments().get("c-1", "activation").state
    assert activation.opened and activation.clicked
    assert _status(message_id) == "clicked"


def test_engagement_counts_once_per_touch_whatever_the_order_and_repeats(feedback_handlers) -> None:
    message_id = _survey_sent("c-1")
    for kind in ("click", "open", "delivery", "open", "click"):  # out of order, and opened twice
        publish_feedback(kind, message_id, at=NOW + timedelta(hours=3))
    drain("feedback", feedback_handlers.on_feedback)

    [row] = wiring.stats().read("activation", NOW.date(), NOW.date())
    assert (row.step, row.variant) == (1, None)
    counts = {k: int(v) for k, v in row.counts.items()}
    assert counts == {"sent": 1, "delivered": 1, "opened": 1, "clicked": 1, "bounced": 0, "complained": 0,
                      "unsubscribed": 0, "converted": 0, "revenue": 0}
    assert _status(message_id) == "clicked"


def test_a_touch_never_marked_sent_is_found_by_its_tags_and_reconciled(feedback_handlers) -> None:
    from cli.outbox import ses_event
    from functions.feedback import handle_feedback

    message_id = _survey_sent("c-1")
    touch = wiring.touches().by_provider_message(message_id)
    [mail] = sent_mail()
    record = ses_event("delivery", mail, NOW + timedelta(minutes=1))
    record["mail"]["messageId"] = "lost-before-mark-sent"  # as if the worker died before storing SES's id
    record["mail"]["tags"] |= {"touch_id": [touch.touch_id], "contact_id": ["c-1"]}
    handle_feedback(record)

    assert wiring.touches().get("c-1", touch.touch_key).status == "delivered"


def _status(message_id: str) -> str:
    touch = wiring.touches().by_provider_message(message_id)
    assert touch is not None
    found = wiring.touches().get(touch.contact_id, touch.touch_key)
    assert found is not None
    return found.status
