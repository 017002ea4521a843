"""Errors a client caused, carried up to the handler that turns them into the contract's JSON errors."""

from __future__ import annotations


class ClientError(Exception):
    def __init__(self, code: str, message: str, field: str | None, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status
