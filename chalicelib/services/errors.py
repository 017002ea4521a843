"""Errors a client caused, carried up to the handler that turns them into the contract's JSON errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ClientError(Exception):
    def __init__(self, code: str, message: str, field: str | None, status: int = 400,
                 detail: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.detail = detail  # more of the answer beside the error, e.g. the mark that stands on a 409
        self.code = code
        self.message = message
        self.field = field
        self.status = status
