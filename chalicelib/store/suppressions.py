"""Suppressed addresses (hard bounce, complaint, SMS STOP, stop list): nothing goes to them."""

from __future__ import annotations

from datetime import datetime

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

    def add(self, key: str, reason: str, at: datetime, source: str | None = None) -> None:
        SuppressionModel(key, reason=reason, at=at, source=source).save()

    def reasons(self, keys: list[str]) -> dict[str, str]:
        return {row.address: row.reason for row in SuppressionModel.batch_get(keys)} if keys else {}
