"""The delivery worker: a consumer-loop sink that hands every queued message to the relay.

Guarantees (spec §3, "What happens to a queued message"):

* **Offsets are committed only after outcomes are recorded.** :meth:`DeliverySink.write`
  returns only once every ``queued`` message of the batch is final or has its outcome
  (delivered, deferred, bounced, failed) durably appended to the event store — the outcomes
  of a batch together, in one commit; the loop commits after ``write`` returns
  (``consumers/loop.py``). Any error propagates: nothing is committed, and the process
  exits for its supervisor to restart it.
* **Redelivery sends nothing new.** A message whose status is already final is skipped,
  and a ``deferred`` one belongs to the retry schedule, so a replayed batch only re-checks.
  A message being attempted by this process's other loop (stream or retries) is skipped by
  the second one, which finds its outcome recorded next time.
* **A crash never sends a message with a different Message-ID.** The bytes are rendered
  from the stored message, and ``Message-ID: <id@domain>`` and the MIME boundary derive
  from the message id. A crash between the relay's ``250`` and the recorded outcome
  replays the queued event and the message goes out again with the *same* Message-ID,
  which receivers de-duplicate: the one case where a message is handed over twice.
* **Nothing is lost.** A deferred message enters the durable retry schedule *before* its
  ``Deferred`` event is saved; :func:`run_retries` claims due entries with a lease, so an
  entry claimed by a worker that dies comes back when the lease ends. An entry whose
  message turns out to be final is deleted.

Outcomes per recipient are decided in ``outcomes.py`` (2xx delivered; 5xx bounced, hard or
soft by the enhanced status code; 4xx or no answer deferred, then failed). A retry goes only
to the recipients not refused for good. A message that can never be rendered or signed
(:class:`RenderError` or another ``ValueError``, a bad DKIM key, a removed sending domain)
-> failed. Messages of a batch are rendered and sent by ``concurrency`` threads (as many as
the transport's SMTP sessions), so one slow relay answer holds up one thread, not the batch.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from time import monotonic
from time import sleep
from typing import TYPE_CHECKING

from consumers.delivery.outcomes import judge
from consumers.delivery.ports import DeliveryResult
from consumers.delivery.ports import LoadedMessage
from consumers.delivery.ports import MessageStore
from consumers.delivery.ports import RetrySchedule
from consumers.delivery.render import render

if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterator
    from collections.abc import Sequence
    from uuid import UUID

    from consumers.delivery.render import TrackingLinks
    from consumers.delivery.retry import RetryPolicy
    from consumers.delivery.transport import Transport
    from event_store.envelope import Envelope

__all__ = ["DeliveryResult", "Deliverer", "DeliverySink", "LoadedMessage", "MessageStore",
           "RetrySchedule", "run_retries"]
log = logging.getLogger(__name__)

FINAL = frozenset({"sent", "delivered", "bounced", "failed"})
#: How long a claimed retry stays invisible to other claimers; longer than a few SMTP timeouts.
LEASE = timedelta(minutes=5)


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


class Deliverer:
    """Loads, renders and sends messages on ``concurrency`` threads, then records them together."""

    def __init__(self, store: MessageStore, transport: Transport, tracking: TrackingLinks,
                 retries: RetrySchedule, policy: RetryPolicy,
                 clock: Callable[[], datetime] = utc_now, concurrency: int = 1,
                 transient: Callable[[BaseException], bool] | None = None,
                 record_patience_s: float = 120.0) -> None:
        self.store, self.transport, self.tracking = store, transport, tracking
        # Recording a batch's outcomes is retried here (mail already handed over is never sent
        # again for an event-store outage shorter than the patience); other failures raise.
        self.transient, self.record_patience_s = transient, record_patience_s
        self.retries, self.policy, self.clock = retries, policy, clock
        self._pool = ThreadPoolExecutor(concurrency, "delivery") if concurrency > 1 else None
        self._busy: set[UUID] = set()  # being attempted: the stream and retries never race
        self._busy_lock = threading.Lock()

    def deliver(self, message_id: UUID, *, retrying: bool = False) -> DeliveryResult | None:
        """Attempt one message unless it is final (or, from the stream, already deferred)."""
        return self.deliver_many([message_id], retrying=retrying).get(message_id)

    def deliver_many(self, message_ids: Sequence[UUID], *, retrying: bool = False
                     ) -> dict[UUID, DeliveryResult | None]:
        """Attempt each message (module docstring); the outcomes are recorded in one commit.

        The answer has an entry for each message this call took on (None: nothing to send);
        a message another thread of this process is attempting is left out.
        """
        claimed = self._claim(message_ids)
        try:
            attempted = dict(zip(claimed, self._map(lambda m: self._attempt(m, retrying), claimed),
                                 strict=True))
            results = [(m, r) for m, r in attempted.items() if r is not None]
            for message_id, result in results:
                if result.outcome == "deferred" and result.retry_at is not None:
                    self.retries.upsert(message_id, result.retry_at)  # before the event: never lost
            statuses = self._record(results) if results else []
            for (message_id, result), status in zip(results, statuses, strict=True):
                if status in FINAL and (retrying or result.outcome == "deferred"):
                    self.retries.delete(message_id)
                log.log(logging.DEBUG if result.outcome == "delivered" else logging.INFO,
                        "message %s: %s (%d %s)", message_id, result.outcome, result.code,
                        result.detail)
        finally:
            self._release(claimed)
        return attempted

    def _record(self, results: list[tuple[UUID, DeliveryResult]]) -> list[str]:
        deadline, failures = monotonic() + self.record_patience_s, 0
        while True:
            try:
                return self.store.record(results)
            except Exception as exc:
                if self.transient is None or not self.transient(exc) or monotonic() >= deadline:
                    raise
                delay = min(0.2 * 2 ** failures, 5.0)
                log.warning("recording %d outcomes failed (%s: %s); retrying in %.1fs", len(results),
                            type(exc).__name__, exc, delay)
                failures += 1
                sleep(delay)

    def _map(self, attempt: Callable[[UUID], DeliveryResult | None], ids: list[UUID]
             ) -> Iterator[DeliveryResult | None]:
        if self._pool is None or len(ids) < 2:
            return map(attempt, ids)
        return self._pool.map(attempt, ids)  # re-raises the first failure

    def _claim(self, message_ids: Sequence[UUID]) -> list[UUID]:
        with self._busy_lock:
            claimed = [m for m in dict.fromkeys(message_ids) if m not in self._busy]
            self._busy.update(claimed)
        return claimed

    def _release(self, message_ids: list[UUID]) -> None:
        with self._busy_lock:
            self._busy.difference_update(message_ids)

    def _attempt(self, message_id: UUID, retrying: bool) -> DeliveryResult | None:
        loaded = self.store.load(message_id)
        if loaded.status in FINAL:
            if retrying:
                self.retries.delete(message_id)
            return None
        if loaded.status == "deferred" and not retrying:
            self.retries.ensure(message_id, loaded.retry_at or self.clock())
            return None
        return self._send(loaded)

    def _send(self, loaded: LoadedMessage) -> DeliveryResult:
        message = loaded.message
        if loaded.suppressed is not None:
            return DeliveryResult("failed", 0, f"not sent: {loaded.suppressed} since it was queued")
        if loaded.signer is None:
            return DeliveryResult("failed", 0, f"no DKIM key: the sending domain {message.domain} "
                                               "was removed")
        refused = {r.lower() for r in loaded.refused}
        recipients = [r for r in message.recipients if r.lower() not in refused]
        try:
            data = render(message, self.tracking, dkim=loaded.signer)
            outcome = self.transport.deliver(message.envelope_from, recipients, data)
        except ValueError as error:  # RenderError and the signer's DkimError are ValueErrors
            return DeliveryResult("failed", 0, f"cannot be sent: {error}")
        retry_at = None if outcome.status != "deferred" else \
            self.policy.next_attempt(loaded.attempts + 1, self.clock())
        return judge(outcome, recipients, retry_at)

    def close(self) -> None:
        """Stop the threads, then the transport's sessions (after the loop's last flush)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        close = getattr(self.transport, "close", None)
        if close is not None:
            close()


class DeliverySink:
    """A :class:`~consumers.records.Sink`: delivers the batch's ``queued`` messages, then returns.

    ``shard=(k, n)``: only messages whose id modulo ``n`` is ``k`` (one of ``n`` processes
    reading the same log, on the embedded default where there are no Kafka partitions).
    """

    def __init__(self, deliverer: Deliverer, shard: tuple[int, int] = (0, 1)) -> None:
        if not 0 <= shard[0] < shard[1]:
            raise ValueError(f"shard {shard[0]} of {shard[1]} does not exist")
        self.deliverer, self.shard = deliverer, shard

    def write(self, envelopes: Sequence[Envelope]) -> None:
        """Deliver each queued message once per batch; raises if any could not be recorded."""
        index, count = self.shard
        ids = [e.email_id for e in envelopes if e.event_type == "queued" and e.email_id is not None
               and e.email_id.int % count == index]
        if ids:
            self.deliverer.deliver_many(ids)

    def close(self) -> None:
        """Stop the deliverer's threads and sessions."""
        self.deliverer.close()


def run_retries(deliverer: Deliverer, stop: threading.Event, *, every_s: float = 1.0,
                batch: int = 32, lease: timedelta = LEASE) -> None:
    """Re-attempt due deferred messages until ``stop`` is set; claimed leftovers are released.

    A ``batch`` is attempted together (its outcomes in one commit), well inside its ``lease``.
    """
    schedule = deliverer.retries
    while not stop.is_set():
        due = schedule.claim_due(deliverer.clock(), batch, lease)
        if due and stop.is_set():
            schedule.release(due, deliverer.clock())
            return
        if due:
            taken = deliverer.deliver_many(due, retrying=True)
            busy = [m for m in due if m not in taken]  # the stream has it now: due again later
            if busy:
                schedule.release(busy, deliverer.clock())
        if len(due) < batch:
            stop.wait(every_s)
