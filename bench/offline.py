"""Imported first by the benches that run on in-memory AWS: fake credentials, no endpoint, the bench stage,
quiet logs and no metrics, set before boto3 or the app is imported."""

import os

for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update({"TOUCHPLAN_STAGE": "bench", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-west-1", "POWERTOOLS_METRICS_DISABLED": "true",
                   "TOUCHPLAN_LOG_LEVEL": "WARNING"})
