"""Domain errors: each carries a machine ``code`` and an HTTP ``status``."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A command was refused; ``code`` and ``status`` travel to the JSON error body."""

    code = "domain_error"
    status = 422

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class NotFound(DomainError):
    """The object does not exist or belongs to another customer."""

    code = "not_found"
    status = 404


class Unauthorized(DomainError):
    """Missing or unknown API key."""

    code = "unauthorized"
    status = 401


class Forbidden(DomainError):
    """The account may not do this (suspended, tier)."""

    code = "forbidden"
    status = 403


class Conflict(DomainError):
    """The object already exists."""

    code = "conflict"
    status = 409
