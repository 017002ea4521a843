"""Touches a manager makes by hand: which period of an occasion a mark belongs to, and whether it may stand.

A contact gets an occasion at most once per period. Periods are consecutive spans of the occasion's `period`
counted from PERIOD_EPOCH (a Monday, UTC): a 1w period runs Monday to Sunday UTC, 365d spans one year.
A mark is one row per contact, occasion and period, so a second mark of the period finds the first; a mark
of the previous period less than `period` ago also stands in the way (`too_soon`), so two marks are never
closer than the period, whatever the calendar.

A mark done by hand is judged by the rules that do not depend on the hour (a person chose when to call):
consent and suppression, the stop list, and the frequency caps whose channels include the mark's channel.
A personal channel (phone, messenger, meeting, post) has no consent record of its own: a purpose that needs
opt-in needs it granted on some channel, and a consent revoked for that very channel forbids it.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

from chalicelib.domain.model import CHANNEL_KINDS, PERSONAL_CHANNELS, Occasion, Strategy
from chalicelib.domain.reasons import Reason, Rule
from chalicelib.domain.rules import COUNTED, ContactView, Decision, Suppression, Touch

MANUAL_CHANNELS = (*PERSONAL_CHANNELS, "email", "sms")
SENDABLE = ("email", "sms")  # channels touchplan itself can send a manager's occasion on
PERIOD_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
MARK_PREFIX = "occasion#"
# A mark with one of these statuses does not stand: a later mark replaces it (a held send never reached the
# provider, a refusal or a touch not done reached nobody).
REPLACEABLE = ("not_done", "refused", "held")


def period_of(occasion: Occasion, at: datetime) -> tuple[datetime, datetime]:
    """The occasion's period holding `at`: [start, end)."""
    index = (at - PERIOD_EPOCH) // occasion.period
    start = PERIOD_EPOCH + index * occasion.period
    return start, start + occasion.period


def mark_key(occasion_id: str, period_start: datetime) -> str:
    """The touch key of the contact's one mark of the occasion in the period starting at `period_start`."""
    return f"{MARK_PREFIX}{occasion_id}#{period_start.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def previous_key(occasion: Occasion, at: datetime) -> str:
    """The key of the mark of the period before the one holding `at`."""
    return mark_key(occasion.id, period_of(occasion, at)[0] - occasion.period)


def too_soon(occasion: Occasion, marked_at: datetime, now: datetime) -> bool:
    """Whether a mark made at `marked_at` keeps the occasion from being marked again at `now`."""
    return now - marked_at < occasion.period


def judge_mark(
    strategy: Strategy, occasion: Occasion, channel: str, contact: ContactView, suppression: Suppression,
    history: Sequence[Touch], now: datetime,
) -> Decision | None:
    """None when a touch done by hand on `channel` may be recorded now; else the refusal and its rule."""
    category = strategy.categories[occasion.category]
    purpose = strategy.purposes[category.purpose]
    if not contact.data_processing:
        return Decision("skip", None, Reason.NO_DATA_PROCESSING_CONSENT, Rule.CONSENT, channel)
    if channel in CHANNEL_KINDS:
        if channel not in contact.addresses:
            return Decision("skip", None, Reason.NO_ADDRESS, Rule.CONSENT, channel)
        if not contact.may_receive(channel, purpose.id, purpose.opt_in):
            return Decision("skip", None, Reason.NO_CONSENT, Rule.CONSENT, channel)
    else:
        granted_somewhere = any(given for (_, p), given in contact.consents.items() if p == purpose.id)
        if contact.consents.get((channel, purpose.id)) is False or (purpose.opt_in and not granted_somewhere):
            return Decision("skip", None, Reason.NO_CONSENT, Rule.CONSENT, channel)
    if suppression.stop_listed and purpose.opt_in:
        return Decision("skip", None, Reason.STOP_LISTED, Rule.SUPPRESSION, channel)
    if channel in suppression.channels:
        return Decision("skip", None, Reason.SUPPRESSED, Rule.SUPPRESSION, channel)
    for cap in strategy.caps:
        if occasion.category not in cap.categories or channel not in cap.channels:
            continue
        counted = sum(1 for t in history if t.status in COUNTED and t.category in cap.categories
                      and t.channel in cap.channels and now - cap.per < t.at <= now)
        if counted >= cap.max:
            return Decision("skip", None, Reason.CAP_REACHED, Rule.FREQUENCY_CAP, channel, detail=cap.id)
    return None
