"""pynamodb models, one per table of infra/template.yaml (names `<stage>-<table>` from settings).

The store package is the only pynamodb importer; repositories map these models to plain values.
"""

from __future__ import annotations

import threading
from typing import Any

import botocore.session
from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.connection import Connection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, LocalSecondaryIndex, Projection
from pynamodb.models import Model

from chalicelib.delivery.clients import new_session
from chalicelib.settings import get_settings

_settings = get_settings()


def _meta(table: str) -> type:
    class Meta:
        table_name = _settings.table(table)
        region = _settings.region

    return Meta


def _index_meta(name: str, projection: Projection | None = None) -> type:
    """An index's Meta; `projection` ALL unless given. An index write costs per KB of what it projects, and
    only a change to a projected attribute writes the index at all."""

    chosen = projection or AllProjection()

    class Meta:
        index_name = name
        projection = chosen

    return Meta


class PointIndex(GlobalSecondaryIndex["ContactModel"]):
    Meta = _index_meta("point-index")
    point_id = UnicodeAttribute(hash_key=True)
    contact_id = UnicodeAttribute(range_key=True)


class ContactModel(Model):
    Meta = _meta("contacts")
    contact_id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute(default="pending")  # pending | active | erased
    email = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute(null=True)
    locale = UnicodeAttribute(null=True)
    point_id = UnicodeAttribute(null=True)
    external_id = UnicodeAttribute(null=True)
    b2b = BooleanAttribute(default=False)
    attributes = MapAttribute[str, object](default=dict)
    # "<channel>:<purpose>" -> {"state": granted|pending|revoked, "at": iso, "text_id": ..., "source": ...}
    consents = MapAttribute[str, object](default=dict)
    # Asked for, not yet confirmed: "<channel>:<purpose>" -> {"at", "text_id", "source"}. Kept apart from
    # `consents` so an unconfirmed (possibly forged) sign-up never touches a consent already given.
    requested = MapAttribute[str, object](default=dict)
    pending_request = UnicodeAttribute(null=True)  # the open double opt-in request; its id is the DOI token id
    confirmed_at = UTCDateTimeAttribute(null=True)
    segment = UnicodeAttribute(null=True)
    orders_count = NumberAttribute(default=0)
    revenue = NumberAttribute(default=0)
    first_order_at = UTCDateTimeAttribute(null=True)
    last_order_at = UTCDateTimeAttribute(null=True)
    last_activity_at = UTCDateTimeAttribute(null=True)
    push_endpoint_arn = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute(null=True)
    version = VersionAttribute()
    point_index = PointIndex()


class IdentityModel(Model):
    """`email:<normalised>`, `phone:<E.164>` or `ext:<shop id>` -> contact. Also holds DOI send times."""

    Meta = _meta("identities")
    identity = UnicodeAttribute(hash_key=True)
    contact_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    doi_sent_at = ListAttribute[float](of=NumberAttribute, default=list)


class ConsentEventModel(Model):
    """Append-only proof. Written with attribute_not_exists, never updated, no TTL."""

    Meta = _meta("consent-ledger")
    contact_id = UnicodeAttribute(hash_key=True)
    event_key = UnicodeAttribute(range_key=True)  # "<iso at>#<event id>"
    event_id = UnicodeAttribute()
    kind = UnicodeAttribute()  # requested | confirmed | granted | revoked | bounced | complained | erased
    at = UTCDateTimeAttribute()
    channel = UnicodeAttribute(null=True)
    purpose = UnicodeAttribute(null=True)
    source = UnicodeAttribute(null=True)
    ip_hash = UnicodeAttribute(null=True)
    user_agent_hash = UnicodeAttribute(null=True)
    text_id = UnicodeAttribute(null=True)
    text_sha256 = UnicodeAttribute(null=True)
    token_id = UnicodeAttribute(null=True)
    detail = MapAttribute[str, object](default=dict)


class ProviderMessageIndex(GlobalSecondaryIndex["TouchModel"]):
    """Feedback's way from a provider message id to its touch. It projects only what never changes after the
    send (touches.SentTouch), so a delivery, open or click writes no index entry."""

    Meta = _index_meta("provider-message-index", IncludeProjection(["touch_id", "chain_id", "step", "variant"]))
    provider_message_id = UnicodeAttribute(hash_key=True)


class CountedIndex(LocalSecondaryIndex["TouchModel"]):
    """A contact's touches that count toward the caps, in the order they began to: the cap windows read a key
    range, not the contact's lifetime. Sparse (only counted touches carry `counted_at`), and it projects only
    what is fixed while a touch counts, so marking it sent and its delivery, open or click write no entry."""

    Meta = _index_meta("counted-index", IncludeProjection(["channel", "category", "occasion_id", "counted_as"]))
    contact_id = UnicodeAttribute(hash_key=True)
    counted_at = UTCDateTimeAttribute(range_key=True)  # ISO-8601 UTC with fixed width: sorts as it reads


class TouchHistoryEntry(MapAttribute[str, object]):
    """One decision or status change of a touch, in the order they happened."""

    at = UTCDateTimeAttribute()
    decision = UnicodeAttribute()  # send | defer | skip | exit | hook
    status = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    rule = UnicodeAttribute(null=True)
    until = UTCDateTimeAttribute(null=True)  # a defer: when the step is decided again
    error_code = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)


class TouchModel(Model):
    """Every touch. `touch_key` is the idempotency key of the send: reserved before the provider call.
    The top-level status, decision, reason and error are the latest; `history` keeps every one in order."""

    Meta = _meta("touches")
    contact_id = UnicodeAttribute(hash_key=True)
    touch_key = UnicodeAttribute(range_key=True)
    touch_id = UnicodeAttribute()
    channel = UnicodeAttribute()
    occasion_id = UnicodeAttribute()
    category = UnicodeAttribute()
    chain_id = UnicodeAttribute(null=True)
    step = NumberAttribute(null=True)
    variant = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    decision = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    rule = UnicodeAttribute(null=True)
    provider_message_id = UnicodeAttribute(null=True)
    cost = NumberAttribute(null=True)
    error_code = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    history = ListAttribute[TouchHistoryEntry](of=TouchHistoryEntry, default=list)
    actor = UnicodeAttribute(null=True)
    comment = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute(null=True)
    # While the touch counts toward the caps (reserved, sent or later; a manager's mark): when it began to (its
    # created_at then) and with which status. Absent while deferred, skipped, held or failed.
    counted_at = UTCDateTimeAttribute(null=True)
    counted_as = UnicodeAttribute(null=True)
    provider_message_index = ProviderMessageIndex()
    counted_index = CountedIndex()


class DueIndex(GlobalSecondaryIndex["EnrollmentModel"]):
    """Sparse: only waiting enrolments carry due_shard/due_at, so the tick reads only due work. It projects
    just what the tick hands the step (a reaction flag or a context change then writes no index entry)."""

    Meta = _index_meta("due-index", IncludeProjection(["step", "addresses"]))
    due_shard = NumberAttribute(hash_key=True)
    due_at = NumberAttribute(range_key=True)


class EnrollmentModel(Model):
    Meta = _meta("enrollments")
    contact_id = UnicodeAttribute(hash_key=True)
    chain_id = UnicodeAttribute(range_key=True)
    step = NumberAttribute(default=0)
    status = UnicodeAttribute()  # running | paused | exited | completed
    reactions = MapAttribute[str, object](default=dict)
    entered_at = UTCDateTimeAttribute()
    step_started_at = UTCDateTimeAttribute(null=True)
    due_shard = NumberAttribute(null=True)
    due_at = NumberAttribute(null=True)
    claim = UnicodeAttribute(null=True)
    exit_reason = UnicodeAttribute(null=True)
    ended_at = UTCDateTimeAttribute(null=True)
    # Bumped on every write: concurrent writers (a step, an event) never overwrite each other unseen.
    revision = NumberAttribute(default=0)
    updated_at = UTCDateTimeAttribute(null=True)
    # Lifecycle timers live here too (chain_id "timer:<kind>"), so the same due index drives them.
    timer_key = UnicodeAttribute(null=True)  # the occurrence the timer stands for: fires once per key
    timer_event = UnicodeAttribute(null=True)
    timer_properties = MapAttribute[str, object](null=True)
    # The triggering event's properties (cart, product, search, order): what the chain's templates show.
    context = MapAttribute[str, object](null=True)
    # The contact's suppression keys when last written: the tick hands them to the step, whose one read then
    # fetches the contact and its suppressions together (a contact whose addresses changed costs one more).
    addresses = ListAttribute[str](of=UnicodeAttribute, null=True)
    due_index = DueIndex()


class OccasionVersionEntry(MapAttribute[str, object]):
    version = NumberAttribute()
    definition = UnicodeAttribute()  # JSON, exactly as the PUT gave it
    updated_at = UTCDateTimeAttribute()
    updated_by = UnicodeAttribute()


class OccasionModel(Model):
    """A service manager's edit of a strategy-file occasion; the file's own occasion is version 0.
    `definition` is the occasion as JSON text in the strategy file's shape (numbers and nesting kept exact)."""

    Meta = _meta("occasions")
    occasion_id = UnicodeAttribute(hash_key=True)
    category = UnicodeAttribute()
    priority = NumberAttribute(null=True)
    definition = UnicodeAttribute()
    version = NumberAttribute(default=0)
    versions = ListAttribute[OccasionVersionEntry](of=OccasionVersionEntry, default=list)  # newest last
    updated_at = UTCDateTimeAttribute(null=True)
    updated_by = UnicodeAttribute(null=True)


class SuppressionModel(Model):
    Meta = _meta("suppressions")
    address = UnicodeAttribute(hash_key=True)  # "email:<normalised>" or "phone:<E.164>"
    reason = UnicodeAttribute()  # hard_bounce | complaint | sms_stop | stop_list | manual
    at = UTCDateTimeAttribute()
    source = UnicodeAttribute(null=True)
    feedback_id = UnicodeAttribute(null=True)


class ApiKeyModel(Model):
    """Bearer keys, stored as the SHA-256 of the whole key: a leaked table does not leak keys."""

    Meta = _meta("api-keys")
    key_hash = UnicodeAttribute(hash_key=True)
    key_id = UnicodeAttribute()
    role = UnicodeAttribute()
    point_id = UnicodeAttribute(null=True)
    label = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    revoked = BooleanAttribute(default=False)


class StatsModel(Model):
    """Per chain x step x variant x day counters, incremented with ADD."""

    Meta = _meta("stats")
    counter_key = UnicodeAttribute(hash_key=True)  # "<chain>#<step>#<variant>"
    day = UnicodeAttribute(range_key=True)  # YYYY-MM-DD
    sent = NumberAttribute(default=0)
    delivered = NumberAttribute(default=0)
    opened = NumberAttribute(default=0)
    clicked = NumberAttribute(default=0)
    bounced = NumberAttribute(default=0)
    complained = NumberAttribute(default=0)
    unsubscribed = NumberAttribute(default=0)
    converted = NumberAttribute(default=0)
    revenue = NumberAttribute(default=0)
    skipped = NumberAttribute(default=0)
    deferred = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    spend = NumberAttribute(default=0)  # the month's SMS spend, on the "sms-spend" x "YYYY-MM" row only


ALL_MODELS: tuple[type[Model], ...] = (
    ContactModel,
    IdentityModel,
    ConsentEventModel,
    TouchModel,
    EnrollmentModel,
    OccasionModel,
    SuppressionModel,
    ApiKeyModel,
    StatsModel,
)


class SharedConnection(Connection):
    """The one pynamodb Connection of every model and transaction in the process, on one botocore session.

    pynamodb gives each model its own Connection, botocore session and DynamoDB client, and botocore loads its
    endpoint and service data once per session: that was most of a cold start (10 clients, 6 sessions). The
    boto3 clients (wiring) are built on this session too. botocore builds clients unsafely across threads, so
    building one here holds a lock.
    """

    def __init__(self, region: str) -> None:
        super().__init__(region=region)
        self._lock = threading.RLock()
        self._botocore: botocore.session.Session | None = None

    @property
    def session(self) -> botocore.session.Session:
        with self._lock:
            if self._botocore is None:
                shared = new_session()
                build = shared.create_client

                def create_client(*args: Any, **kwargs: Any) -> Any:
                    with self._lock:
                        return build(*args, **kwargs)

                shared.create_client = create_client  # type: ignore[method-assign]
                self._botocore = shared
            return self._botocore

    @property
    def client(self) -> Any:
        with self._lock:
            return super().client

    def reset(self) -> None:
        """A new session and client on next use (a new container, or an environment the tests changed)."""
        with self._lock:
            self._botocore = None
            self._client = None


CONNECTION = SharedConnection(_settings.region)


def share_connection(*models: type[Model]) -> None:
    """Point each model's table at CONNECTION, keeping the table schema pynamodb derived from the model."""
    for model in models:
        table = model._get_connection()
        CONNECTION.add_meta_table(table.connection.get_meta_table(model.Meta.table_name))
        table.connection = CONNECTION


share_connection(*ALL_MODELS)
