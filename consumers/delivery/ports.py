"""The ports of the delivery worker: the message store, the retry schedule, and what they carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from datetime import timedelta
    from uuid import UUID

    from consumers.delivery.render import DkimSigner
    from consumers.delivery.render import OutboundMessage


@dataclass(frozen=True)
class LoadedMessage:
    """A stored message ready to render, with its lifecycle state; no signer if its domain is gone."""

    message: OutboundMessage
    signer: DkimSigner | None
    status: str
    attempts: int
    retry_at: datetime | None = None
    suppressed: str | None = None  # set when a recipient was suppressed after queueing


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one attempt, as recorded (``status``: a bounce's enhanced status code)."""

    outcome: str
    code: int
    detail: str
    retry_at: datetime | None = None
    suppressed: str | None = None  # set when a recipient was suppressed after queueing
    status: str | None = None


class MessageStore(Protocol):
    """The event store as the worker sees it (the command bus in production)."""

    def load(self, message_id: UUID) -> LoadedMessage:
        """The message and its state; raises if it does not exist."""

    def record(self, message_id: UUID, result: DeliveryResult) -> str:
        """Durably append the outcome unless the message is final; the status afterwards."""


class RetrySchedule(Protocol):
    """The durable schedule of deferred messages (see ``retry_store.py``)."""

    def upsert(self, message_id: UUID, due_at: datetime) -> None:
        """Schedule (or reschedule) a retry."""

    def ensure(self, message_id: UUID, due_at: datetime) -> None:
        """Schedule a retry unless one is already scheduled."""

    def delete(self, message_id: UUID) -> None:
        """Forget a message's retry."""

    def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[UUID]:
        """Up to ``limit`` due messages, each pushed ``lease`` into the future for this claimer."""

    def release(self, message_ids: Sequence[UUID], now: datetime) -> None:
        """Make claimed but unattempted entries due again."""
