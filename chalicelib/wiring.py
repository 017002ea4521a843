"""The composition root: the only place that builds real boto3 clients, repositories and services.

Everything is built on first use (cold start stays lean) and cached for the life of the Lambda container.
Tests call `reset()` after changing the environment.

The repositories are pynamodb's unless settings say `store="memory"` (TOUCHPLAN_STORE=memory): then every
service is built on one chalicelib.store.memory database, and the providers (SES, SNS, SQS) stay as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from chalicelib.clock import Clock, ScaledClock, SystemClock
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.delivery.audiences import AudiencePublisher
    from chalicelib.delivery.email import EmailSender
    from chalicelib.delivery.sms import SmsSender
    from chalicelib.domain.model import Strategy
    from chalicelib.services.audiences import Audiences
    from chalicelib.services.campaigns import CampaignsService
    from chalicelib.services.catalog import CatalogUploads, LiveCatalog
    from chalicelib.services.chain_events import ChainEvents
    from chalicelib.services.checklist import Checklist
    from chalicelib.services.console_sessions import ConsoleSessions
    from chalicelib.services.contact_events import EventWorker
    from chalicelib.services.doi import DoubleOptIn
    from chalicelib.services.erasure import Erasure
    from chalicelib.services.feedback import FeedbackService, ProviderWithdrawal
    from chalicelib.services.inbound_sms import InboundSmsService
    from chalicelib.services.live_campaigns import LiveCampaigns
    from chalicelib.services.manual_touches import ManualTouches
    from chalicelib.services.occasions import OccasionsService
    from chalicelib.services.outbound import Outbound
    from chalicelib.services.preferences import PreferenceCentre
    from chalicelib.services.push import PushTokens
    from chalicelib.services.stats import StatsService
    from chalicelib.services.steps import StepWorker
    from chalicelib.services.subscriptions import CaptchaVerifier, Subscriptions
    from chalicelib.services.tokens import Links, TokenKeys
    from chalicelib.store.audiences import AudienceRepository
    from chalicelib.store.campaigns import CampaignRepository
    from chalicelib.store.catalog import CatalogRepository
    from chalicelib.store.contacts import ContactRepository
    from chalicelib.store.enrollments import EnrollmentRepository
    from chalicelib.store.feedback import FeedbackRecords
    from chalicelib.store.keys import ApiKeyRepository
    from chalicelib.store.ledger import LedgerRepository
    from chalicelib.store.memory import MemoryStore
    from chalicelib.store.occasions import OccasionRepository
    from chalicelib.store.profiles import ProfileRepository
    from chalicelib.store.queues import QueuePublisher
    from chalicelib.store.snapshots import ContactSnapshot
    from chalicelib.store.stats import StatsRepository
    from chalicelib.store.suppressions import SuppressionRepository
    from chalicelib.store.timers import TimerRepository
    from chalicelib.store.touches import TouchRepository


def session() -> Any:
    """The container's botocore session, the one every pynamodb model uses too: botocore loads its endpoint and
    service data once per session, which costs more than building a client. Clients are built on it directly,
    so a handler never imports boto3."""
    from chalicelib.store.models import CONNECTION

    return CONNECTION.session


@cache
def client(service: Any) -> Any:
    """A client for `service`, built on its first call."""
    from chalicelib.delivery.clients import LazyClient

    return LazyClient(lambda: session().create_client(service, region_name=get_settings().region))


@cache
def sns_for_sending() -> Any:
    """The one SNS client of SMS and push, built on the first SMS or push."""
    from chalicelib.delivery.clients import LazyClient, sns_client_for_sending

    return LazyClient(lambda: sns_client_for_sending(session(), region_name=get_settings().region))


@cache
def clock() -> Clock:
    settings = get_settings()
    if settings.clock_speed != 1:
        return ScaledClock(settings.clock_speed, settings.clock_epoch)
    return SystemClock()


def _in_memory() -> bool:
    return get_settings().store == "memory"


@cache
def memory_store() -> MemoryStore:
    """The one memory database of this process (`reset()` starts an empty one)."""
    from chalicelib.store.memory import MemoryStore

    return MemoryStore(get_settings().due_shards)


@cache
def api_keys() -> ApiKeyRepository:
    if _in_memory():
        return memory_store().api_keys
    from chalicelib.store.keys import ApiKeyRepository

    return ApiKeyRepository()


@cache
def queues() -> QueuePublisher:
    from chalicelib.observability import logger
    from chalicelib.store.queues import QueuePublisher

    return QueuePublisher(client("sqs"), get_settings(), lambda: logger.get_current_keys().get("correlation_id"))


@cache
def email_sender() -> EmailSender:
    from chalicelib.delivery.clients import LazyClient, ses_client_for_sending
    from chalicelib.delivery.email import EmailSender

    settings = get_settings()
    ses = LazyClient(lambda: ses_client_for_sending(session(), region_name=settings.region))
    return EmailSender(ses, settings.configuration_set)


@cache
def sms_sender() -> SmsSender:
    from decimal import Decimal

    from chalicelib.delivery.sms import SmsSender
    from chalicelib.store.sms_state import StoredOptOutCache, StoredSpendCounter

    settings = get_settings()
    spend: StoredSpendCounter = memory_store().spend if _in_memory() else StoredSpendCounter()
    opt_outs: StoredOptOutCache = memory_store().opt_out_cache(clock()) if _in_memory() else StoredOptOutCache(clock())
    return SmsSender(
        sns_for_sending(),
        sender_id=settings.sms_sender_id,
        price_per_segment=Decimal(str(settings.sms_price_per_segment_usd)),
        monthly_limit=Decimal(str(settings.sms_monthly_limit_usd)),
        spend=spend,
        opt_out_cache=opt_outs,
    )


@cache
def strategy() -> Strategy:
    """The strategy file's, with the occasions a service manager edited (re-read every 60 s: LiveOccasions)."""
    from dataclasses import replace

    from chalicelib.services.live_occasions import LiveOccasions
    from chalicelib.strategy.loader import load_strategy

    base = load_strategy(get_settings().strategy_path)

    def edits() -> dict[str, Any]:  # read on first use, not at start-up
        return occasion_edits().edits(list(base.occasions))

    return replace(base, occasions=LiveOccasions(strategy_document, base.occasions, edits, clock()))


@cache
def strategy_document() -> dict[str, Any]:
    """The strategy file as read, before validation: occasion edits are validated on it."""
    from pathlib import Path

    from chalicelib.strategy.loader import DEFAULT_PATH, read_document

    path = get_settings().strategy_path
    document = read_document(Path(path) if path else DEFAULT_PATH)
    return document if isinstance(document, dict) else {}


@cache
def occasion_edits() -> OccasionRepository:
    if _in_memory():
        return memory_store().occasions
    from chalicelib.store.occasions import OccasionRepository

    return OccasionRepository()


@cache
def occasions() -> OccasionsService:
    from chalicelib.services.live_occasions import LiveOccasions
    from chalicelib.services.occasions import OccasionsService

    live = strategy().occasions
    return OccasionsService(strategy(), strategy_document(), occasion_edits(), clock(),
                            on_saved=live.refresh if isinstance(live, LiveOccasions) else lambda: None)


@cache
def manual_touches() -> ManualTouches:
    from chalicelib.services.manual_touches import ManualTouches

    return ManualTouches(strategy(), contacts(), touches(), snapshot_loader(), step_worker, timers(), clock())


@cache
def checklist() -> Checklist:
    from chalicelib.services.checklist import Checklist

    return Checklist(strategy(), contacts(), touches(), clock())


@cache
def enrollments() -> EnrollmentRepository:
    if _in_memory():
        return memory_store().enrollments
    from chalicelib.store.enrollments import EnrollmentRepository

    return EnrollmentRepository(get_settings().due_shards)


@cache
def touches() -> TouchRepository:
    if _in_memory():
        return memory_store().touches
    from chalicelib.store.touches import TouchRepository

    return TouchRepository()


@cache
def ledger() -> LedgerRepository:
    if _in_memory():
        return memory_store().ledger
    from chalicelib.store.ledger import LedgerRepository

    return LedgerRepository()


@cache
def suppressions() -> SuppressionRepository:
    if _in_memory():
        return memory_store().suppressions
    from chalicelib.store.suppressions import SuppressionRepository

    return SuppressionRepository()


@cache
def feedback_records() -> FeedbackRecords:
    if _in_memory():
        return memory_store().feedback_records
    from chalicelib.store.feedback import FeedbackRecords

    return FeedbackRecords()


@cache
def profiles() -> ProfileRepository:
    if _in_memory():
        return memory_store().profiles
    from chalicelib.store.profiles import ProfileRepository

    return ProfileRepository()


@cache
def counters() -> StatsRepository:
    """The stats counters (`stats()` is the service over them)."""
    if _in_memory():
        return memory_store().stats
    from chalicelib.store.stats import StatsRepository

    return StatsRepository()


@cache
def snapshot_loader() -> Callable[[str], ContactSnapshot | None]:
    """What the contact rules read about one contact (chalicelib.store.snapshots.load_snapshot)."""
    if _in_memory():
        return memory_store().load_snapshot
    from chalicelib.store.snapshots import load_snapshot

    return load_snapshot


@cache
def contact_suppressor() -> Callable[[ContactSnapshot, str, datetime], None]:
    """Suppresses every address of a contact (chalicelib.store.snapshots.suppress_contact)."""
    if _in_memory():
        return memory_store().suppress_contact
    from chalicelib.store.snapshots import suppress_contact

    return suppress_contact


@cache
def outbound() -> Outbound:
    from chalicelib.delivery.push import PushSender
    from chalicelib.delivery.templates import default_renderer
    from chalicelib.services.outbound import Outbound

    settings = get_settings()
    return Outbound(
        email=email_sender(), sms=sms_sender(),
        push=PushSender(sns_for_sending()),
        renderer=default_renderer(), sender_address=settings.sender_email, reply_to=settings.reply_to,
        default_locale=strategy().locales[0],
        # Read when a message first shows its recommendations: a mail without them reads no catalogue.
        catalogue=lambda categories: live_catalog().products_in(categories),
    )


@cache
def chain_events() -> ChainEvents:
    from chalicelib.services.chain_events import ChainEvents

    # Ad audiences are built on the first event applied, not with the chains.
    return ChainEvents(strategy(), enrollments(), snapshot_loader(),
                       on_event=lambda snapshot, event, now: audiences().on_event(snapshot, event, now))


@cache
def event_worker() -> EventWorker:
    from chalicelib.services.contact_events import EventWorker

    return EventWorker(
        strategy(), profiles(), chain_events(), timers(), clock(),
        on_order=stats().attribute_order, on_push_token=push_tokens().register_push_token,
        on_erasure_due=erasure().erase_withdrawn,
    )


@cache
def token_keys() -> TokenKeys:
    """The link-signing keys, fetched once per container (rotation: a new container, or reset())."""
    from chalicelib.services.tokens import TokenKeys

    secret = client("secretsmanager").get_secret_value(SecretId=get_settings().token_secret_id)
    return TokenKeys.from_secret(secret["SecretString"])


@cache
def links() -> Links:
    """confirm / preferences / unsubscribe URLs; the step worker uses `links().for_contact(contact_id)`."""
    from chalicelib.services.tokens import Links

    return Links(token_keys(), get_settings().public_base_url, clock())


@cache
def contacts() -> ContactRepository:
    if _in_memory():
        return memory_store().contacts
    from chalicelib.store.contacts import ContactRepository

    return ContactRepository(get_settings().due_shards)


@cache
def captcha() -> CaptchaVerifier:
    from chalicelib.services.subscriptions import NoCaptcha

    return NoCaptcha()


@cache
def subscriptions() -> Subscriptions:
    from chalicelib.services.subscriptions import Subscriptions

    return Subscriptions(contacts(), queues(), strategy(), token_keys(), clock(), captcha())


@cache
def double_opt_in() -> DoubleOptIn:
    from chalicelib.services.doi import DoubleOptIn

    return DoubleOptIn(contacts(), suppressions(), enrollments(), strategy(), token_keys(), links(),
                       outbound(), clock(), touches(), on_confirmed=event_worker().on_confirmed)


@cache
def preference_centre() -> PreferenceCentre:
    from chalicelib.services.preferences import PreferenceCentre

    return PreferenceCentre(contacts(), chain_events(), strategy(), token_keys(), links(), clock(), timers(),
                            ledger(), touches(), on_unsubscribed=stats().unsubscribed)


@cache
def erasure() -> Erasure:
    from chalicelib.services.erasure import Erasure

    return Erasure(contacts(), ledger(), enrollments(), touches(), suppressions(), timers(),
                   clock(), on_erased=lambda contact_id, had, now: audiences().on_erased(contact_id, had, now),
                   memberships=lambda contact_id: audience_memberships().for_contact(contact_id))


@cache
def timers() -> TimerRepository:
    if _in_memory():
        return memory_store().timers
    from chalicelib.store.timers import TimerRepository

    return TimerRepository(get_settings().due_shards)


@cache
def step_worker() -> StepWorker:
    from chalicelib.services.steps import StepWorker

    return StepWorker(
        strategy=strategy(), enrollments=enrollments(), touches=touches(),
        outbound=outbound(), links=links().for_contact, clock=clock(), timers=timers(),
        chain_events=chain_events(), suppress=contact_suppressor(), on_sent=stats().sent, on_decided=stats().decided,
        # The event worker (and the erasure, consent and push services behind it) is built on the first due
        # timer: a chain step never imports them. A manager's deferred send is a timer too.
        on_timer=lambda timer, now: (manual_touches().send_due(timer, now) if timer.kind == "manual_send"
                                     else audiences().on_timer(timer, now) if timer.kind in AUDIENCE_TIMERS
                                     else event_worker().on_timer(timer, now)),
        join_audience=lambda snapshot, action, now: audiences().join_from_chain(snapshot, action, now),
        rival_campaigns=live_campaigns(),
    )


@cache
def stats() -> StatsService:
    """Counters behind GET /v1/admin/stats; `stats().sent` / `.decided` are the step worker's hooks and
    `stats().attribute_order` the event worker's `on_order`."""
    from chalicelib.services.stats import StatsService

    return StatsService(strategy(), counters(), touches())


@cache
def withdrawal() -> ProviderWithdrawal:
    from chalicelib.services.feedback import ProviderWithdrawal

    return ProviderWithdrawal(strategy(), contacts(), chain_events(), clock())


@cache
def feedback() -> FeedbackService:
    from chalicelib.services.feedback import FeedbackService

    return FeedbackService(touches(), feedback_records(), stats(), chain_events(), withdrawal(), clock())


@cache
def inbound_sms() -> InboundSmsService:
    from chalicelib.services.inbound_sms import InboundSmsService

    return InboundSmsService(strategy(), feedback_records(), touches(), snapshot_loader(), outbound(),
                             links().for_contact, withdrawal(), stats(), clock())


@cache
def push_tokens() -> PushTokens:
    """`push_tokens().register_push_token` is the event worker's `on_push_token`."""
    from chalicelib.delivery.push import PushSender
    from chalicelib.services.push import PushTokens

    settings = get_settings()
    return PushTokens(PushSender(sns_for_sending()), feedback_records(),
                      settings.push_platform_application_arn, clock())


@cache
def catalog() -> CatalogRepository:
    if _in_memory():
        return memory_store().catalog
    from chalicelib.store.catalog import CatalogRepository

    return CatalogRepository()


@cache
def live_catalog() -> LiveCatalog:
    """The catalogue the senders' recommendations read, by category, at most once a minute per container."""
    from chalicelib.services.catalog import LiveCatalog

    return LiveCatalog(catalog(), clock())


@cache
def catalog_uploads() -> CatalogUploads:
    from chalicelib.services.catalog import CatalogUploads

    return CatalogUploads(catalog(), clock(), on_saved=live_catalog().refresh)


@cache
def console_sessions() -> ConsoleSessions:
    from chalicelib.services.console_sessions import ConsoleSessions

    return ConsoleSessions(token_keys(), api_keys(), clock())
def campaign_store() -> CampaignRepository:
    if _in_memory():
        return memory_store().campaigns
    from chalicelib.store.campaigns import CampaignRepository

    return CampaignRepository()


@cache
def campaigns() -> CampaignsService:
    """The admin API's campaigns and, on the tick, their fan-out (`campaigns().work`)."""
    from chalicelib.services.campaigns import CampaignsService

    return CampaignsService(strategy(), campaign_store(), contacts(), enrollments(), counters(), clock())


@cache
def live_campaigns() -> LiveCampaigns:
    """The sending campaigns the step worker weighs as rivals, re-read once a minute per container."""
    from chalicelib.services.live_campaigns import LiveCampaigns

    return LiveCampaigns(lambda: campaign_store().active(), clock())


def reset() -> None:
    """Forget every built adapter and the botocore session (tests and the local stack change the environment
    between runs)."""
    from chalicelib.store.models import CONNECTION

    for name, value in list(globals().items()):
        if name != "get_settings" and callable(getattr(value, "cache_clear", None)):
            value.cache_clear()
    CONNECTION.reset()


# -- ad audiences ------------------------------------------------------------------------------------------
AUDIENCE_TIMERS = frozenset({"audience", "audience_publish"})  # services.audiences' EXPIRY and PARKED timers


@cache
def audience_memberships() -> AudienceRepository:
    if _in_memory():
        return memory_store().audiences
    from chalicelib.store.audiences import AudienceRepository

    return AudienceRepository()


@cache
def audience_publisher() -> AudiencePublisher:
    from chalicelib.delivery.audiences import AudiencePublisher

    settings = get_settings()
    return AudiencePublisher(client("sns"), settings.topic("audiences"), settings.audiences_topic_arn)


@cache
def audiences() -> Audiences:
    """Joins (the step worker's `join_audience`), leaves (ChainEvents' `on_event`, the erasure's `on_erased`,
    the audience timers) and the export."""
    from chalicelib.services.audiences import Audiences

    return Audiences(strategy(), audience_memberships(), audience_publisher(), timers(), snapshot_loader())
