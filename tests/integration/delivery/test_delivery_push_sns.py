import json

import pytest

from chalicelib.delivery.errors import PermanentSendError
from chalicelib.delivery.push import PushSender


@pytest.fixture
def platform_app(sns):
    response = sns.create_platform_application(
        Name="touchplan-android", Platform="GCM", Attributes={"PlatformCredential": "fake-fcm-key"}
    )
    return response["PlatformApplicationArn"]


def endpoint(sns, arn):
    return sns.get_endpoint_attributes(EndpointArn=arn)["Attributes"]


def test_push_token_registration_creates_an_endpoint(sns, platform_app):
    arn = PushSender(sns).register_endpoint(platform_app, "token-1", "c-42")
    assert endpoint(sns, arn)["Token"] == "token-1"
    assert endpoint(sns, arn)["Enabled"] == "true"


def test_registering_again_reuses_the_endpoint_and_updates_its_token(sns, platform_app):
    push = PushSender(sns)
    arn = push.register_endpoint(platform_app, "token-1", "c-42")
    assert push.register_endpoint(platform_app, "token-1", "c-42", existing_arn=arn) == arn
    assert push.register_endpoint(platform_app, "token-2", "c-42", existing_arn=arn) == arn
    assert endpoint(sns, arn)["Token"] == "token-2"
    listed = sns.list_endpoints_by_platform_application(PlatformApplicationArn=platform_app)["Endpoints"]
    assert len(listed) == 1


def test_a_disabled_endpoint_is_re_enabled_on_registration(sns, platform_app):
    push = PushSender(sns)
    arn = push.register_endpoint(platform_app, "token-1", "c-42")
    sns.set_endpoint_attributes(EndpointArn=arn, Attributes={"Enabled": "false"})
    with pytest.raises(PermanentSendError) as caught:
        push.publish(arn, "Hi", "Body")
    assert caught.value.code == "endpoint_disabled"

    push.register_endpoint(platform_app, "token-1", "c-42", existing_arn=arn)
    assert endpoint(sns, arn)["Enabled"] == "true"
    assert push.publish(arn, "Hi", "Body")


def test_a_deleted_endpoint_is_recreated(sns, platform_app):
    push = PushSender(sns)
    arn = push.register_endpoint(platform_app, "token-1", "c-42")
    sns.delete_endpoint(EndpointArn=arn)
    new_arn = push.register_endpoint(platform_app, "token-1", "c-42", existing_arn=arn)
    assert new_arn != arn
    assert endpoint(sns, new_arn)["Token"] == "token-1"


def test_publish_sends_fcm_and_apns_payloads(sns, platform_app, call_log):
    push = PushSender(sns)
    arn = push.register_endpoint(platform_app, "token-1", "c-42")
    log = call_log(sns)
    message_id = push.publish(arn, "Корзина ждёт", "Вы забыли 2 товара", {"touch_id": "t-1", "count": 2})

    assert message_id
    [params] = log.named("Publish")
    assert params["TargetArn"] == arn
    assert params["MessageStructure"] == "json"
    message = json.loads(params["Message"])
    assert message["default"] == "Вы забыли 2 товара"
    fcm = json.loads(message["GCM"])["fcmV1Message"]["message"]
    assert fcm["notification"] == {"title": "Корзина ждёт", "body": "Вы забыли 2 товара"}
    assert fcm["data"] == {"touch_id": "t-1", "count": "2"}  # FCM data values are strings
    apns = json.loads(message["APNS"])
    assert apns["aps"]["alert"] == {"title": "Корзина ждёт", "body": "Вы забыли 2 товара"}
    assert apns["touch_id"] == "t-1"
