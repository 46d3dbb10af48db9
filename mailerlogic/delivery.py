"""Composition of the delivery worker (``mailerlogic consume delivery``, and a thread of run-all).

Queued events come from Kafka (consumer group ``delivery``) or, on the embedded default,
from the notification log; mail goes to ``SMTP_RELAY_URL`` or into ``<data dir>/maildir``;
the retry schedule lives in the event store's database. The consumer loop and the retry
loop run side by side: a failure of either stops both and propagates, so the process
exits non-zero and its supervisor restarts it (the guarantees are in
``consumers/delivery/worker.py``).
"""

from __future__ import annotations

import logging
import mailbox
import threading
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta
from typing import TYPE_CHECKING

from commands.delivery import LoadForDelivery
from commands.delivery import RecipientRefusal
from commands.delivery import RecordDeliveryOutcome
from commands.delivery import RecordDeliveryOutcomes
from consumers import loop
from consumers.delivery.pool import SmtpPool
from consumers.delivery.render import DkimSigner
from consumers.delivery.render import OutboundMessage
from consumers.delivery.retry import DEFAULT_POLICY
from consumers.delivery.retry import RetryPolicy
from consumers.delivery.retry_store import RetryStore
from consumers.delivery.transport import MaildirTransport
from consumers.delivery.transport import SmtpTransport
from consumers.delivery.worker import Deliverer
from consumers.delivery.worker import DeliveryResult
from consumers.delivery.worker import DeliverySink
from consumers.delivery.worker import LoadedMessage
from consumers.delivery.worker import run_retries
from mailerlogic.consumer_runtime import backoff_fields
from mailerlogic.consumer_runtime import is_transient
from mailerlogic.consumer_runtime import run_with_retries
from mailerlogic.processes import ensure_topics
from mailerlogic.wiring import build_bus
from mailerlogic.wiring import build_events
from security import tokens

if TYPE_CHECKING:
    from collections.abc import Sequence
    from uuid import UUID

    from commands.bus import Bus
    from commands.delivery import Deliverable
    from consumers.delivery.transport import Transport
    from event_store.application import EmailEvents
    from mailerlogic.config import Settings

log = logging.getLogger("mailerlogic.delivery")
GROUP = "delivery"
# A batch is committed only when all its messages have an outcome, recorded in one commit:
# big enough to share that commit, small enough that its slowest message holds up few others.
LIMITS = loop.Limits(max_records=256, max_wait_s=0.1, poll_timeout_s=0.05)


@dataclass(frozen=True)
class SignedTrackingLinks:
    """Tracking URLs under the public URL, with tokens signed by the secret key (spec §13)."""

    secret_key: bytes = field(repr=False)
    public_url: str

    def open_url(self, message_id: UUID) -> str:
        """The open pixel: ``/track/o/<token>``."""
        return f"{self.public_url}/track/o/{tokens.mint(self.secret_key, 'o', message_id)}"

    def click_url(self, message_id: UUID, url: str) -> str:
        """The click redirect carrying ``url`` inside the signed token: ``/track/c/<token>``."""
        return f"{self.public_url}/track/c/{tokens.mint(self.secret_key, 'c', message_id, url)}"

    def unsubscribe_url(self, message_id: UUID) -> str:
        """The one-click unsubscribe: ``/track/u/<token>``."""
        return f"{self.public_url}/track/u/{tokens.mint(self.secret_key, 'u', message_id)}"


class BusMessageStore:
    """The worker's :class:`~consumers.delivery.worker.MessageStore` over the command bus."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    def load(self, message_id: UUID) -> LoadedMessage:
        """The stored message as an :class:`OutboundMessage` with its DKIM signer."""
        found: Deliverable = self.bus.handle(LoadForDelivery(message_id))
        signing = found.signing
        signer = None if signing is None else DkimSigner(signing.domain, signing.selector,
                                                         signing.private_key_pem)
        message = OutboundMessage(
            message_id=found.message_id, from_address=found.from_address, to=(found.to,),
            subject=found.subject, domain=found.domain, queued_at=found.queued_at, html=found.html,
            text=found.text, cc=found.cc, bcc=found.bcc, reply_to=found.reply_to,
            headers=found.headers, track_opens=found.track_opens, track_clicks=found.track_clicks)
        return LoadedMessage(message, signer, found.status, found.attempts, found.retry_at,
                             found.suppressed, found.refused)

    def record(self, results: Sequence[tuple[UUID, DeliveryResult]]) -> list[str]:
        """Append the outcomes through the bus in one commit; each message's status afterwards."""
        statuses: list[str] = self.bus.handle(RecordDeliveryOutcomes([
            RecordDeliveryOutcome(
                message_id, r.outcome, r.code, r.detail, r.retry_at, r.status, r.bounce_type,
                r.recipient, r.recipients,
                tuple(RecipientRefusal(x.recipient, x.kind, x.code, x.detail, x.status,
                                       x.bounce_type) for x in r.refused))
            for message_id, r in results]))
        return statuses


def retry_policy(spec: str | None) -> RetryPolicy:
    """``MAILERLOGIC_RETRY_SCHEDULE``: ``first=60,factor=2,max=3600,budget=86400`` (seconds)."""
    if not spec:
        return DEFAULT_POLICY
    return RetryPolicy(**backoff_fields(spec, "MAILERLOGIC_RETRY_SCHEDULE", DEFAULT_POLICY.max_delay))


def build_transport(settings: Settings) -> Transport:
    """Pooled sessions to ``SMTP_RELAY_URL``, else the Maildir in the data dir (created here)."""
    if settings.smtp_relay_url:
        return SmtpPool(SmtpTransport.from_url(settings.smtp_relay_url), settings.delivery_sessions,
                        settings.delivery_messages_per_session)
    path = settings.data_dir / "maildir"
    # Created once, before the pool's threads each open it: concurrent creation races.
    mailbox.Maildir(path, create=True)
    return MaildirTransport(path)


def open_retries(settings: Settings) -> RetryStore:
    """The retry schedule in the event store's database (PostgreSQL, or the SQLite file)."""
    return RetryStore.open(settings.event_store_url, settings.data_dir / "events.sqlite")


def build_deliverer(settings: Settings, events: EmailEvents, retries: RetryStore) -> Deliverer:
    """The worker with its adapters."""
    tracking = SignedTrackingLinks(settings.secret_key, settings.public_url)
    policy = retry_policy(settings.retry_schedule)
    return Deliverer(BusMessageStore(build_bus(settings, events)), build_transport(settings),
                     tracking, retries, policy, concurrency=settings.delivery_sessions,
                     transient=is_transient)


def run_delivery(settings: Settings, stop: threading.Event, events: EmailEvents | None = None,
                 shard: tuple[int, int] = (0, 1)) -> None:
    """Deliver queued messages and due retries until stopped (``shard``: see ``DeliverySink``)."""
    if settings.kafka_bootstrap_servers:
        if shard != (0, 1):
            raise ValueError("with Kafka, run more delivery processes instead: the consumer group "
                             "shares the topic's partitions between them")
        ensure_topics(settings, stop)
    events = events or build_events(settings)
    retries = open_retries(settings)
    deliverer = build_deliverer(settings, events, retries)
    sink = DeliverySink(deliverer, shard)
    group = GROUP if shard == (0, 1) else f"{GROUP}-{shard[0] + 1}of{shard[1]}"
    lease = timedelta(seconds=settings.retry_lease_s)
    log.info("delivery: consuming %s as %s, delivering to %r with %d sessions",
             "kafka" if settings.kafka_bootstrap_servers else "the log", group, deliverer.transport,
             settings.delivery_sessions)
    run_with_retries(settings, stop, events, name="delivery", group=group, sink=sink,
                     retries=lambda halt: run_retries(deliverer, halt, lease=lease), limits=LIMITS,
                     close=retries.close)
