"""DynamoDB-backed state of the SMS sender: the monthly spend and SNS's opt-out answers.

Spend: the stats table's row `counter_key = "sms-spend"`, `day = "YYYY-MM"`, attribute `spend`, added to
with ADD, so concurrent senders never lose an amount.

Opt-out answers live in the suppressions table, the home of "may we text this number" facts:
- "opted out" becomes a suppression `phone:<E.164>` with reason `sns_opted_out`, so the contact rules skip
  the number from then on and support sees why (an existing suppression and its reason are kept);
- "not opted out" is remembered as `sns-checked:phone:<E.164>`, a key the contact rules never read.
Any suppression of the number also answers "opted out": no marketing SMS goes to a suppressed number.
"""

from __future__ import annotations

from decimal import Decimal

from chalicelib.clock import Clock
from chalicelib.store.models import StatsModel, SuppressionModel
from chalicelib.store.suppressions import SuppressionRepository, address_key

SPEND_KEY = "sms-spend"
OPTED_OUT = "sns_opted_out"
CHECKED_PREFIX = "sns-checked:"
NOT_OPTED_OUT = "sns_not_opted_out"


class StoredSpendCounter:
    """`SpendCounter` over the stats table."""

    def month_spend(self, month: str) -> Decimal:
        try:
            row = StatsModel.get(SPEND_KEY, month, consistent_read=True)
        except StatsModel.DoesNotExist:
            return Decimal(0)
        return Decimal(str(row.spend or 0))

    def add(self, month: str, amount: Decimal) -> None:
        StatsModel(SPEND_KEY, month).update(actions=[StatsModel.spend.add(float(amount))])


class StoredOptOutCache:
    """`OptOutCache` over the suppressions table (see the module docstring)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def get(self, phone_number: str) -> bool | None:
        keys = [address_key("sms", phone_number), CHECKED_PREFIX + address_key("sms", phone_number)]
        found = {row.address for row in SuppressionModel.batch_get(keys, consistent_read=True)}
        if keys[0] in found:
            return True
        return False if keys[1] in found else None

    def set(self, phone_number: str, opted_out: bool) -> None:
        at = self._clock.now()
        if not opted_out:
            SuppressionModel(CHECKED_PREFIX + address_key("sms", phone_number), reason=NOT_OPTED_OUT, at=at,
                             source="sns").save()
            return
        SuppressionRepository().suppress(address_key("sms", phone_number), OPTED_OUT, at, "sns")
