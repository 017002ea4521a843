"""Test-wide environment: set before anything imports the app (pynamodb reads table names at import), and the
wall clock moved when TOUCHPLAN_TEST_TRAVEL asks for it (`make test-any-date`)."""

import os

from tests import travel

travel.start()

for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "TOUCHPLAN_STAGE": "test",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "POWERTOOLS_METRICS_NAMESPACE": "touchplan",
        "POWERTOOLS_DEV": "false",
    }
)
