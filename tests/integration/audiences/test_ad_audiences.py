"""Ad audiences on moto: the retargeting chain's hook joins contacts for 14 days; the export holds the hashes of
consented members only; withdrawal, an order, erasure and expiry take members out; every join and leave reaches
the audiences topic (read here through an SQS queue subscribed to it)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from chalicelib import wiring
from chalicelib.delivery.errors import RetryableSendError
from chalicelib.domain.chains import CONSENT_CHANGED, start
from chalicelib.services.tokens import Links
from chalicelib.store.keys import ApiKeyRepository
from chalicelib.store.models import ContactModel, IdentityModel
from tests.integration.helpers import NOW, due_messages

EXPORT = "/v1/admin/audiences/retargeting/export"
DAY = timedelta(days=1, minutes=1)  # past the chain's one-day branch


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def add_contact(contact_id: str, email: str | None = None, phone: str | None = None, **consents: str) -> None:
    """An active contact with only what is given: no name, no attributes, no time zone."""
    states = {"any:data_processing": "granted", **consents}
    ContactModel(contact_id, status="active", email=email, phone=phone, created_at=NOW,
                 consents={key: {"state": state, "at": NOW.isoformat()} for key, state in states.items()}).save()
    for key in ([f"email:{email.lower()}"] if email else []) + ([f"phone:{phone}"] if phone else []):
        IdentityModel(key, contact_id=contact_id, created_at=NOW).save()


def enter_retargeting(*contact_ids: str) -> None:
    """As a confirmation enrols: with the contact's suppression keys, which the tick hands the step."""
    for contact_id in contact_ids:
        state = start(wiring.strategy().chains["retargeting"], None, contact_id, wiring.clock().now())
        snapshot = wiring.snapshot_loader()(contact_id)
        assert state is not None and snapshot is not None
        wiring.enrollments().save(state, None, wiring.clock().now(), addresses=snapshot.address_keys())


def run_due_steps() -> list[Any]:
    worker = wiring.step_worker()
    return [worker.handle(message) for message in due_messages(wiring.clock().now())]


def export(api: Any, path: str = EXPORT, role: str = "service-manager", point: str | None = None) -> Any:
    key = ApiKeyRepository().create(role, point, None, NOW)[1]
    return api.http.get(path, headers={"Authorization": f"Bearer {key}"})


def rows(response: Any) -> list[str]:
    assert response.status_code == 200, response.body
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    lines = response.body.decode().split("\r\n")
    assert lines[0] == "email_sha256,phone_sha256" and lines[-1] == ""
    return sorted(lines[1:-1])


@pytest.fixture
def topic_queue(aws: Any) -> str:
    """An SQS queue subscribed (raw) to the stage's audiences topic."""
    sqs, sns = wiring.client("sqs"), wiring.client("sns")
    url = sqs.create_queue(QueueName="audience-listener")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="test-audiences")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return str(url)


def published(url: str) -> list[dict[str, Any]]:
    sqs, found = wiring.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return sorted(found, key=lambda m: (m["contact_id"], m["action"]))


def summary(messages: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(m["contact_id"], m["action"], m["reason"]) for m in messages]


def test_the_export_holds_consented_members_and_withdrawal_an_order_and_expiry_take_them_out(
        api, clock, topic_queue) -> None:
    add_contact("both", " Anna@Example.COM ", "+79161234567", **{"email:marketing": "granted",
                                                                  "sms:marketing": "granted"})
    add_contact("email-only", "boris@example.com", **{"email:marketing": "granted"})
    add_contact("phone-only", phone="+12125550123", **{"sms:marketing": "granted"})
    add_contact("sms-consent", "vera@example.com", "+79161234500", **{"email:marketing": "revoked",
                                                                       "sms:marketing": "granted"})
    add_contact("push-only", "gleb@example.com", **{"push:marketing": "granted"})
    enter_retargeting("both", "email-only", "phone-only", "sms-consent", "push-only")
    clock.at = NOW + DAY
    run_due_steps()

    anna, boris = sha("anna@example.com"), sha("boris@example.com")
    assert rows(export(api)) == sorted([f"{anna},{sha('+79161234567')}", f"{boris},", f",{sha('+12125550123')}",
                                        f",{sha('+79161234500')}"])
    joins = published(topic_queue)
    assert summary(joins) == [(c, "join", "retargeting/step-1")
                              for c in ("both", "email-only", "phone-only", "sms-consent")]
    assert joins[0]["email_sha256"] == anna and joins[0]["at"] == clock.now().isoformat()
    assert joins[0]["expires_at"] == (clock.now() + timedelta(days=14)).isoformat()
    assert joins[3]["email_sha256"] is None  # no email marketing consent: the email is never handed over
    [touch] = [t for t in wiring.touches().for_contact("push-only") if t.decision == "hook"]
    assert "not joined" in (touch.reason or "")

    # Boris unsubscribes (his only marketing consent): he leaves at once.
    links = Links(wiring.token_keys(), "https://touchplan.example.com", clock)
    url = urlsplit(links.unsubscribe_url("email-only", "email"))
    assert api.http.post(f"{url.path}?{url.query}", headers={"Content-Type": "application/json"},
                         body="{}").status_code == 200
    # The phone-only member orders: the chain's goal.
    wiring.event_worker().handle({"kind": "event", "event": {
        "type": "order_placed", "id": "o-1", "contact": {"contact_id": "phone-only"},
        "occurred_at": clock.now().isoformat(), "properties": {"amount": 10}}})
    assert rows(export(api)) == sorted([f"{anna},{sha('+79161234567')}", f",{sha('+79161234500')}"])
    assert summary(published(topic_queue)) == [("email-only", "leave", "consent_withdrawn"),
                                               ("phone-only", "leave", "goal:order_placed")]

    clock.at = NOW + DAY + timedelta(days=14)
    run_due_steps()
    assert rows(export(api)) == []  # a known audience with no members: an empty CSV
    leaves = published(topic_queue)
    assert summary(leaves) == [("both", "leave", "expired"), ("sms-consent", "leave", "expired")]
    # A leave names every identifier the contact has, so the platform removes whatever it holds.
    assert leaves[1]["email_sha256"] == sha("vera@example.com")


def test_an_expired_member_is_not_exported_even_before_the_timer_runs(api, clock, topic_queue) -> None:
    add_contact("c-1", "anna@example.com", **{"email:marketing": "granted"})
    enter_retargeting("c-1")
    clock.at = NOW + DAY
    run_due_steps()
    clock.at += timedelta(days=14, seconds=1)
    assert rows(export(api)) == []


def test_erasure_takes_the_member_out_and_the_leave_names_the_erased_hashes(api, clock, topic_queue) -> None:
    add_contact("c-1", phone="+79161234567", **{"sms:marketing": "granted"})
    enter_retargeting("c-1")
    clock.at = NOW + DAY
    run_due_steps()
    key = ApiKeyRepository().create("service-manager", None, None, NOW)[1]
    card = json.loads(api.http.get("/v1/admin/contacts/c-1/export", headers={"Authorization": f"Bearer {key}"}).body)
    assert [(m["audience"], m["source"]) for m in card["audiences"]] == [("retargeting", "retargeting/step-1")]
    assert api.http.delete("/v1/admin/contacts/c-1", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert wiring.audience_memberships().for_contact("c-1") == []
    [join, leave] = published(topic_queue)
    assert join["action"] == "join"
    assert (leave["action"], leave["reason"], leave["phone_sha256"]) == ("leave", "erased", sha("+79161234567"))


def test_a_join_sns_refuses_is_parked_and_published_by_the_next_tick(api, clock, topic_queue, monkeypatch) -> None:
    add_contact("c-1", "anna@example.com", **{"email:marketing": "granted"})
    enter_retargeting("c-1")
    clock.at = NOW + DAY
    publisher = wiring.audience_publisher()
    real = publisher.publish

    def refused(message: Any) -> str:
        raise RetryableSendError("throttled", "SNS throttled")

    monkeypatch.setattr(publisher, "publish", refused)
    run_due_steps()
    assert rows(export(api)) == [f"{sha('anna@example.com')},"]  # the membership is stored all the same
    assert published(topic_queue) == []
    # Still refused when the parked message falls due: the step fails, and the queue redelivers it.
    [message] = due_messages(clock.now())
    with pytest.raises(RetryableSendError):
        wiring.step_worker().handle(message)
    monkeypatch.setattr(publisher, "publish", real)
    assert wiring.step_worker().handle(message) is not None
    assert summary(published(topic_queue)) == [("c-1", "join", "retargeting/step-1")]
    assert run_due_steps() == []


def test_only_a_service_manager_exports_and_bad_input_is_named(api, clock) -> None:
    add_contact("c-1", "anna@example.com", **{"email:marketing": "granted"})
    assert export(api, role="point-manager", point="msk-01").status_code == 403
    assert api.http.get(EXPORT).status_code == 401
    for path, field in ((EXPORT + "?limit=0", "limit"), (EXPORT + "?cursor=nope", "cursor"),
                        (EXPORT + "?sort=1", "sort"), ("/v1/admin/audiences/Bad%20Name/export", "name")):
        response = export(api, path)
        assert response.status_code == 400, path
        body = json.loads(response.body)
        assert (body["error"] in ("invalid_field", "unknown_field"), body["field"]) == (True, field), path
    missing = export(api, "/v1/admin/audiences/lookalike/export")
    assert missing.status_code == 404
    assert json.loads(missing.body) == {"error": "not_found", "message": "No audience with this name.", "field": None}


def test_a_big_audience_comes_in_pages_that_follow_the_cursor(api, clock) -> None:
    for n in range(5):
        add_contact(f"c-{n}", f"c{n}@example.com", **{"email:marketing": "granted"})
    enter_retargeting(*(f"c-{n}" for n in range(5)))
    clock.at = NOW + DAY
    run_due_steps()
    seen, path = [], EXPORT + "?limit=2"
    while True:
        response = export(api, path)
        seen += rows(response)
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            break
        path = f"{EXPORT}?limit=2&cursor={cursor}"
    assert sorted(seen) == sorted(f"{sha(f'c{n}@example.com')}," for n in range(5))


def test_the_meta_export_hashes_the_phone_as_digits(api, clock) -> None:
    add_contact("c-1", phone="+12125550123", **{"sms:marketing": "granted"})
    enter_retargeting("c-1")
    clock.at = NOW + DAY
    run_due_steps()
    assert rows(export(api, EXPORT + "?platform=meta")) == [f",{sha('12125550123')}"]
    assert export(api, EXPORT + "?platform=tiktok").status_code == 400


def test_a_join_costs_the_hook_step_two_writes_and_one_publish(aws, clock, topic_queue) -> None:
    from collections import Counter

    from chalicelib.store.models import CONNECTION

    add_contact("c-1", "anna@example.com", **{"email:marketing": "granted"})
    enter_retargeting("c-1")
    clock.at = NOW + DAY
    [message] = due_messages(clock.now())
    worker = wiring.step_worker()
    # Built before counting, as a warm container has it, with this minute's reads of the occasions and of the
    # sending campaigns done.
    wiring.audiences()
    assert wiring.strategy().occasions
    wiring.live_campaigns()()
    calls: Counter[str] = Counter()
    CONNECTION.client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.update([model.name]))
    wiring.client("sns").meta.events.register("before-call.sns.*", lambda model, **_: calls.update([model.name]))
    assert worker.handle(message) is not None
    # The step's own read and transaction, the membership's put, its expiry timer's put; and the SNS publish
    # (the topic's ARN is looked up once per container).
    assert calls == {"BatchGetItem": 1, "TransactWriteItems": 1, "PutItem": 2, "CreateTopic": 1, "Publish": 1}


def test_one_channel_withdrawn_sends_a_leave_of_its_hash_and_given_again_a_join(api, clock, topic_queue) -> None:
    add_contact("c-1", "anna@example.com", "+79161234567", **{"email:marketing": "granted",
                                                                "sms:marketing": "granted"})
    enter_retargeting("c-1")
    clock.at = NOW + DAY
    run_due_steps()
    published(topic_queue)
    links = Links(wiring.token_keys(), "https://touchplan.example.com", clock)
    url = urlsplit(links.unsubscribe_url("c-1", "email"))
    assert api.http.post(f"{url.path}?{url.query}", headers={"Content-Type": "application/json"},
                         body="{}").status_code == 200
    assert rows(export(api)) == [f",{sha('+79161234567')}"]
    [leave] = published(topic_queue)
    assert (leave["action"], leave["reason"]) == ("leave", "consent_withdrawn")
    assert (leave["email_sha256"], leave["phone_sha256"]) == (sha("anna@example.com"), None)

    row = ContactModel.get("c-1")
    row.consents = {**row.consents.as_dict(), "email:marketing": {"state": "granted", "at": NOW.isoformat()}}
    row.save()
    wiring.chain_events().apply("c-1", CONSENT_CHANGED, clock.now(), clock.now())
    [join] = published(topic_queue)
    assert (join["action"], join["reason"], join["email_sha256"], join["phone_sha256"]) == (
        "join", "consent_given", sha("anna@example.com"), None)
    assert len(rows(export(api))) == 1 and rows(export(api))[0].startswith(sha("anna@example.com"))


def test_changes_parked_while_sns_refuses_are_published_in_order(api, clock, topic_queue, monkeypatch) -> None:
    add_contact("c-1", "anna@example.com", **{"email:marketing": "granted"})
    enter_retargeting("c-1")
    clock.at = NOW + DAY
    publisher = wiring.audience_publisher()
    real = publisher.publish

    def refused(message: Any) -> str:
        raise RetryableSendError("throttled", "SNS throttled")

    monkeypatch.setattr(publisher, "publish", refused)
    run_due_steps()
    clock.at += timedelta(minutes=1)
    wiring.event_worker().handle({"kind": "event", "event": {
        "type": "order_placed", "id": "o-1", "contact": {"contact_id": "c-1"},
        "occurred_at": clock.now().isoformat(), "properties": {"amount": 10}}})
    order: list[str] = []
    monkeypatch.setattr(publisher, "publish", lambda message: order.append(message["action"]) or real(message))
    run_due_steps()
    assert order == ["join", "leave"]
    assert summary(published(topic_queue)) == [("c-1", "join", "retargeting/step-1"),
                                               ("c-1", "leave", "goal:order_placed")]
