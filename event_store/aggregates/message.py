"""One outbound email and its lifecycle."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.domain import event

#: ``sent`` is the final status of messages handed over before ``delivered`` existed.
FINAL = ("sent", "delivered", "bounced", "failed")


class Message(Aggregate):
    """One outbound email; its id is the ``message_id`` / ``email_id`` of the API.

    Lifecycle: queued -> (deferred)* -> delivered | bounced | failed; after ``delivered`` a
    report may still bring ``bounced`` (asynchronous bounce) or ``complained``. A repeated
    outcome is no new fact: it records nothing, so redelivered commands are harmless.

    Recipients: ``Delivered`` lists the recipients the relay accepted; a recipient the relay
    refused for good while others were accepted (or retried) is its own ``RecipientBounced``
    (or ``RecipientFailed``) with ``recipient`` set to that address, and is not sent to again.
    Messages recorded before ``Delivered`` existed end in ``Sent`` (status ``sent``).
    """

    class Queued(Aggregate.Created):
        customer_id: UUID
        to: str
        from_address: str
        subject: str
        html: str | None
        text: str | None
        reply_to: str | None
        cc: list[str]
        bcc: list[str]
        headers: dict[str, str]
        tag: str | None
        metadata: dict[str, Any]
        domain: str
        domain_id: UUID
        track_opens: bool
        track_clicks: bool

    class Outcome(Aggregate.Event):
        """Base of lifecycle events: the message's dimensions are copied into each."""

        customer_id: UUID
        recipient: str
        from_address: str
        domain: str
        domain_id: UUID
        tag: str | None

    class Sent(Outcome):
        smtp_code: int
        detail: str
        attempt: int

        def apply(self, aggregate: Message) -> None:
            aggregate.status, aggregate.attempts = "sent", self.attempt
            aggregate.sent_at, aggregate.retry_at = self.timestamp, None

    class Delivered(Outcome):
        smtp_code: int
        detail: str
        attempt: int
        recipients: list[str]

        def apply(self, aggregate: Message) -> None:
            aggregate.status, aggregate.attempts = "delivered", self.attempt
            aggregate.sent_at, aggregate.retry_at = self.timestamp, None

    class RecipientBounced(Outcome):
        """One recipient refused for good; the message's own status does not change."""

        bounce_type: str
        smtp_code: int
        status: str | None
        diagnostic: str
        source: str

        def apply(self, aggregate: Message) -> None:
            aggregate.refused = [*aggregate.refused, self.recipient]

    class RecipientFailed(Outcome):
        """One recipient refused for now while others were accepted: not retried."""

        smtp_code: int
        detail: str

        def apply(self, aggregate: Message) -> None:
            aggregate.refused = [*aggregate.refused, self.recipient]

    class Deferred(Outcome):
        smtp_code: int
        detail: str
        attempt: int
        retry_at: datetime

        def apply(self, aggregate: Message) -> None:
            aggregate.status, aggregate.attempts = "deferred", self.attempt
            aggregate.retry_at = self.retry_at

    class Failed(Outcome):
        smtp_code: int
        detail: str
        attempt: int

        def apply(self, aggregate: Message) -> None:
            aggregate.status, aggregate.attempts, aggregate.retry_at = "failed", self.attempt, None

    class Bounced(Outcome):
        bounce_type: str
        smtp_code: int
        status: str | None
        diagnostic: str
        source: str
        occurred_at: datetime | None

        def apply(self, aggregate: Message) -> None:
            aggregate.status, aggregate.retry_at = "bounced", None

    class Complained(Outcome):
        feedback_type: str
        occurred_at: datetime | None

        def apply(self, aggregate: Message) -> None:
            aggregate.complained = True

    @event(Queued)
    def __init__(  # noqa: PLR0913 - the contract's fields
        self,
        customer_id: UUID,
        to: str,
        from_address: str,
        subject: str,
        html: str | None,
        text: str | None,
        reply_to: str | None,
        cc: list[str],
        bcc: list[str],
        headers: dict[str, str],
        tag: str | None,
        metadata: dict[str, Any],
        domain: str,
        domain_id: UUID,
        track_opens: bool,
        track_clicks: bool,
    ) -> None:
        self.customer_id, self.to, self.from_address = customer_id, to, from_address
        self.subject, self.html, self.text = subject, html, text
        self.reply_to, self.cc, self.bcc, self.headers = reply_to, cc, bcc, headers
        self.tag, self.metadata, self.domain, self.domain_id = tag, metadata, domain, domain_id
        self.track_opens, self.track_clicks = track_opens, track_clicks
        self.status = "queued"
        self.sent_at: datetime | None = None
        self.attempts = 0
        self.retry_at: datetime | None = None
        self.complained = False
        self.refused: list[str] = []  # recipients refused for good (never sent to again)

    def __deepcopy__(self, memo: dict[int, Any]) -> Message:
        """The copy the repository hands a command: containers copied one level.

        Events replace the message's values and never change a list or dict in place, so a
        one-level copy keeps the cached instance safe; the full deepcopy of a message's
        headers, lists and metadata was the delivery worker's largest cost after rendering.
        """
        clone: Message = object.__new__(type(self))
        clone.__dict__.update({k: v.copy() if isinstance(v, (list, dict)) else v
                               for k, v in self.__dict__.items()})
        return clone

    def record_delivered(self, smtp_code: int, detail: str, recipients: list[str]) -> None:
        """The relay (or MX) accepted the message for ``recipients``."""
        if self.status not in FINAL:
            self._outcome(self.Delivered, smtp_code=smtp_code, detail=detail,
                          attempt=self.attempts + 1, recipients=recipients)

    def record_recipient_bounce(self, recipient: str, bounce_type: str, smtp_code: int,
                                status: str | None, diagnostic: str) -> bool:
        """The relay refused one recipient for good at send time; False if already recorded."""
        if self._refused(recipient) or self.status in FINAL:
            return False
        self.trigger_event(self.RecipientBounced, **{**self.dimensions(), "recipient": recipient},
                           bounce_type=bounce_type, smtp_code=smtp_code, status=status,
                           diagnostic=diagnostic, source="smtp")
        return True

    def record_recipient_failed(self, recipient: str, smtp_code: int, detail: str) -> None:
        """The relay refused one recipient for now while it accepted others."""
        if not self._refused(recipient) and self.status not in FINAL:
            self.trigger_event(self.RecipientFailed, **{**self.dimensions(), "recipient": recipient},
                               smtp_code=smtp_code, detail=detail)

    def pending_recipients(self, recipients: list[str]) -> list[str]:
        """``recipients`` without those refused for good."""
        return [r for r in recipients if not self._refused(r)]

    def _refused(self, recipient: str) -> bool:
        return recipient.lower() in (r.lower() for r in self.refused)

    def record_deferred(self, smtp_code: int, detail: str, retry_at: datetime) -> None:
        """A temporary failure: try again at ``retry_at``."""
        if self.status not in FINAL:
            self._outcome(self.Deferred, smtp_code=smtp_code, detail=detail,
                          attempt=self.attempts + 1, retry_at=retry_at)

    def record_failed(self, smtp_code: int, detail: str) -> None:
        """The retry budget is spent (a soft bounce)."""
        if self.status not in FINAL:
            self._outcome(self.Failed, smtp_code=smtp_code, detail=detail, attempt=self.attempts + 1)

    def record_bounce(self, bounce_type: str, smtp_code: int, status: str | None, diagnostic: str,
                      source: str, occurred_at: datetime | None = None, *,
                      recipient: str | None = None) -> bool:
        """A hard or soft bounce, from the relay or a later report; False if already bounced.

        ``recipient``: the address it is about when that is not ``to`` (the relay refused it).
        """
        if self.status in ("bounced", "failed"):
            return False
        self.trigger_event(self.Bounced, **{**self.dimensions(), "recipient": recipient or self.to},
                           bounce_type=bounce_type, smtp_code=smtp_code, status=status,
                           diagnostic=diagnostic, source=source, occurred_at=occurred_at)
        return True

    def record_complaint(self, feedback_type: str, occurred_at: datetime | None = None) -> bool:
        """A recipient reported the message as spam; False if already recorded."""
        if self.complained:
            return False
        self._outcome(self.Complained, feedback_type=feedback_type, occurred_at=occurred_at)
        return True

    def _outcome(self, kind: type[Aggregate.Event], **fields: Any) -> None:
        self.trigger_event(kind, **self.dimensions(), **fields)

    def dimensions(self) -> dict[str, Any]:
        """What engagement events copy so that projections never need a lookup."""
        return {
            "customer_id": self.customer_id,
            "recipient": self.to,
            "from_address": self.from_address,
            "domain": self.domain,
            "domain_id": self.domain_id,
            "tag": self.tag,
        }
