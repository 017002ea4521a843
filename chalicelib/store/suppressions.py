"""Suppressed addresses (hard bounce, complaint, SMS STOP, stop list): nothing goes to them."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import PutError

from chalicelib.store.models import SuppressionModel


def address_key(channel: str, address: str) -> str:
    """`email:<normalised>` or `phone:<E.164>`, as the identities table spells them."""
    return f"email:{address.strip().lower()}" if channel == "email" else f"phone:{address.strip()}"


class SuppressionRepository:
    def is_suppressed(self, key: str) -> bool:
        try:
            SuppressionModel.get(key, consistent_read=True)
        except SuppressionModel.DoesNotExist:
            return False
        return True

    def suppress(
        self, key: str, reason: str, at: datetime, source: str | None = None, feedback_id: str | None = None
    ) -> bool:
        """Suppresses `key`; True when this call added it. An address suppressed before keeps its first reason
        and time: that is when and why it stopped."""
        row = SuppressionModel(key, reason=reason, at=at, source=source, feedback_id=feedback_id)
        try:
            row.save(condition=SuppressionModel.address.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def records(self, keys: list[str]) -> list[dict[str, str | None]]:
        """Each suppressed address of `keys` with why, when and from where (the data-subject export)."""
        rows = SuppressionModel.batch_get(keys) if keys else []
        return sorted(({"address": r.address, "reason": r.reason, "at": r.at.isoformat(), "source": r.source}
                       for r in rows), key=lambda r: str(r["address"]))

    def reasons(self, keys: list[str]) -> dict[str, str]:
        return {row.address: row.reason for row in SuppressionModel.batch_get(keys)} if keys else {}
