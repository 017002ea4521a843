"""Configuration from the environment, read once. The only reader of os.environ in the app."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

VERSION = "0.1.0"


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    version: str = VERSION
    public_base_url: str = "http://127.0.0.1:8000"
    cors_origins: tuple[str, ...] = ()
    sender_email: str = "no-reply@example.com"
    reply_to: str | None = None
    sms_sender_id: str | None = None
    sms_monthly_limit_usd: float = 100.0
    # What SNS charges per SMS segment, for the spend guard (the strategy's channel costs are in its own
    # currency and rank channels; they are not the bill). Set it per stage to the destination country's price.
    sms_price_per_segment_usd: float = 0.05
    push_platform_application_arn: str | None = None
    tracing: bool = False
    log_level: str = "INFO"
    clock_speed: float = 1.0
    clock_epoch: float | None = None
    due_shards: int = 16
    strategy_path: str | None = None  # None: the shipped chalicelib/strategy/default.yaml
    # "dynamodb": pynamodb on DynamoDB (or moto); "memory": chalicelib.store.memory (the simulator, tests).
    store: str = "dynamodb"
    # Inside AWS Lambda (it sets AWS_LAMBDA_FUNCTION_NAME): chalicelib.runtime's cold-start collector pause.
    in_lambda: bool = False
    # The ad audiences topic; unset, its ARN is looked up by name (`topic("audiences")`) on the first publish.
    audiences_topic_arn: str | None = None

    def table(self, name: str) -> str:
        return f"{self.stage}-{name}"

    def queue(self, name: str) -> str:
        return f"{self.stage}-{name}"

    def topic(self, name: str) -> str:
        return f"{self.stage}-{name}"

    @property
    def configuration_set(self) -> str:
        return f"{self.stage}-touchplan"

    @property
    def token_secret_id(self) -> str:
        return f"{self.stage}/touchplan/token-keys"


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _optional(value: str | None) -> str | None:
    return value.strip() or None if value else None


def from_environ(env: dict[str, str] | os._Environ[str] | None = None) -> Settings:
    env = os.environ if env is None else env
    epoch = env.get("TOUCHPLAN_CLOCK_EPOCH")
    return Settings(
        stage=env.get("TOUCHPLAN_STAGE", "local"),
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "eu-west-1",
        public_base_url=env.get("TOUCHPLAN_PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        cors_origins=tuple(o.strip() for o in env.get("TOUCHPLAN_CORS_ORIGINS", "").split(",") if o.strip()),
        sender_email=env.get("TOUCHPLAN_SENDER_EMAIL", "no-reply@example.com"),
        reply_to=_optional(env.get("TOUCHPLAN_REPLY_TO")),
        sms_sender_id=_optional(env.get("TOUCHPLAN_SMS_SENDER_ID")),
        sms_monthly_limit_usd=float(env.get("TOUCHPLAN_SMS_MONTHLY_LIMIT_USD", "100")),
        sms_price_per_segment_usd=float(env.get("TOUCHPLAN_SMS_PRICE_PER_SEGMENT_USD", "0.05")),
        push_platform_application_arn=_optional(env.get("TOUCHPLAN_PUSH_PLATFORM_APPLICATION_ARN")),
        tracing=_flag(env.get("TOUCHPLAN_TRACING")),
        log_level=env.get("TOUCHPLAN_LOG_LEVEL", "INFO"),
        clock_speed=float(env.get("TOUCHPLAN_CLOCK_SPEED", "1")),
        clock_epoch=float(epoch) if epoch else None,
        strategy_path=_optional(env.get("TOUCHPLAN_STRATEGY")),
        store=_store(env.get("TOUCHPLAN_STORE")),
        in_lambda=bool(env.get("AWS_LAMBDA_FUNCTION_NAME")),
        audiences_topic_arn=_optional(env.get("TOUCHPLAN_AUDIENCES_TOPIC_ARN")),
    )


STORES = ("dynamodb", "memory")


def _store(value: str | None) -> str:
    store = (value or "").strip().lower() or "dynamodb"
    if store not in STORES:
        raise ValueError(f"TOUCHPLAN_STORE must be one of {', '.join(STORES)}, not {value!r}")
    return store


@cache
def get_settings() -> Settings:
    return from_environ()
