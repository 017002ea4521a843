"""API keys: generated once, shown once, stored as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from chalicelib.roles import POINT_MANAGER, ROLES
from chalicelib.store.models import ApiKeyModel


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    role: str
    point_id: str | None
    label: str | None = None  # the key's name: who made a manual touch or an occasion edit


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(role: str, point_id: str | None) -> tuple[str, str]:
    """A fresh key id and key for `role` (both stores generate keys the same way)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if (role == POINT_MANAGER) != bool(point_id):
        raise ValueError("a point-manager key needs --point, and only a point-manager key takes one")
    key_id = secrets.token_hex(4)
    return key_id, f"tp_{key_id}_{secrets.token_urlsafe(32)}"


class ApiKeyRepository:
    def create(self, role: str, point_id: str | None, label: str | None, now: datetime) -> tuple[ApiKey, str]:
        key_id, key = new_key(role, point_id)
        ApiKeyModel(
            key_hash=hash_key(key), key_id=key_id, role=role, point_id=point_id, label=label, created_at=now
        ).save(condition=ApiKeyModel.key_hash.does_not_exist())
        return ApiKey(key_id=key_id, role=role, point_id=point_id, label=label), key

    def find(self, key: str) -> ApiKey | None:
        return self.find_hashed(hash_key(key))

    def find_hashed(self, key_hash: str) -> ApiKey | None:
        """The key stored under `key_hash` unless revoked: a console session re-checks its key by the hash."""
        try:
            row = ApiKeyModel.get(key_hash, consistent_read=True)
        except ApiKeyModel.DoesNotExist:
            return None
        if row.revoked:
            return None
        return ApiKey(key_id=row.key_id, role=row.role, point_id=row.point_id, label=row.label)
