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
    refused: tuple[str, ...] = ()  # recipients refused for good by an earlier attempt


@dataclass(frozen=True)
class RecipientOutcome:
    """One recipient refused while the message went on (``kind``: bounced or failed)."""

    recipient: str
    kind: str
    code: int
    detail: str
    status: str | None  # the RFC 3463 enhanced status code of the reply, if it had one
    bounce_type: str  # hard (the address is suppressed) or soft


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one attempt, as recorded (rules in ``outcomes.py``).

    ``outcome`` is delivered, deferred, bounced or failed; ``recipients`` the accepted ones
    (delivered); ``refused`` the recipients refused on their own, recorded before the
    outcome; ``status``/``bounce_type``/``recipient`` describe a bounced message (its
    enhanced status code, hard or soft, and the recipient it is about, None when unknown).
    """

    outcome: str
    code: int
    detail: str
    retry_at: datetime | None = None
    status: str | None = None
    bounce_type: str = "hard"
    recipient: str | None = None
    recipients: tuple[str, ...] = ()
    refused: tuple[RecipientOutcome, ...] = ()


class MessageStore(Protocol):
    """The event store as the worker sees it (the command bus in production)."""

    def load(self, message_id: UUID) -> LoadedMessage:
        """The message and its state; raises if it does not exist."""

    def record(self, results: Sequence[tuple[UUID, DeliveryResult]]) -> list[str]:
        """Durably append the outcomes (one commit) unless final; each message's status after."""


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
