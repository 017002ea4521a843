import pytest
from moto import mock_aws

REGION = "eu-west-1"
IDENTITY = "shop.example"


@pytest.fixture
def aws(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def ses(aws):
    from chalicelib.delivery.clients import ses_client_for_sending

    client = ses_client_for_sending(region_name=REGION)
    client.create_email_identity(EmailIdentity=IDENTITY)
    return client


@pytest.fixture
def sns(aws):
    from chalicelib.delivery.clients import sns_client_for_sending

    return sns_client_for_sending(region_name=REGION)


class CallLog:
    """Records every API call a client makes (operation name and parameters), stubbed or not."""

    def __init__(self, client):
        self.calls: list[tuple[str, dict]] = []
        client.meta.events.register("provide-client-params.*.*", self._record)

    def _record(self, params, model, **_):
        self.calls.append((model.name, dict(params)))

    def named(self, operation: str) -> list[dict]:
        return [params for name, params in self.calls if name == operation]


@pytest.fixture
def call_log():
    return CallLog


@pytest.fixture
def sent_mail(aws):
    return _sent_mail


@pytest.fixture
def sent_sms(aws):
    return _sent_sms


def _sent_mail():
    """Raw messages moto's SES (v1 and v2 share it) accepted, oldest first."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def _sent_sms():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return list(sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values())
