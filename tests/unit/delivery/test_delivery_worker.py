"""The delivery worker over an in-memory message store, retry schedule and recording transport."""

from __future__ import annotations

import email
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from email.policy import default
from typing import Any
from uuid import UUID
from uuid import uuid4

import dkim
import pytest

from consumers.delivery.ports import DeliveryResult
from consumers.delivery.ports import LoadedMessage
from consumers.delivery.render import DkimSigner
from consumers.delivery.render import OutboundMessage
from consumers.delivery.retry import RetryPolicy
from consumers.delivery.transport import Outcome
from consumers.delivery.worker import Deliverer
from consumers.delivery.worker import DeliverySink
from consumers.delivery.worker import run_retries
from tests.helpers import envelope
from tests.support.delivery import DkimKey
from tests.support.delivery import PlainTracking
from tests.support.delivery import generate_dkim_key

NOW = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)
POLICY = RetryPolicy(first_delay=timedelta(seconds=10), factor=2, max_delay=timedelta(seconds=40),
                     budget=timedelta(seconds=30))  # waits 10 s, 20 s, then failed
SENT = Outcome("sent", 250, "250 2.0.0 Ok: queued")
DELIVERED = ("delivered", 250)


@pytest.fixture(scope="module")
def key() -> DkimKey:
    return generate_dkim_key()


class MemoryStore:
    """Messages with the Message aggregate's rules: an outcome on a final message is no fact."""

    def __init__(self, journal: list[str]) -> None:
        self.messages: dict[UUID, LoadedMessage] = {}
        self.recorded: dict[UUID, list[DeliveryResult]] = {}
        self.crash_on_record = 0
        self.commits = 0
        self.journal = journal

    def add(self, loaded: LoadedMessage) -> UUID:
        self.messages[loaded.message.message_id] = loaded
        self.recorded[loaded.message.message_id] = []
        return loaded.message.message_id

    def load(self, message_id: UUID) -> LoadedMessage:
        return self.messages[message_id]

    def record(self, results: Sequence[tuple[UUID, DeliveryResult]]) -> list[str]:
        if self.crash_on_record:
            self.crash_on_record -= 1
            raise RuntimeError("event store down")
        self.commits += 1
        return [self._record(message_id, result) for message_id, result in results]

    def _record(self, message_id: UUID, result: DeliveryResult) -> str:
        loaded = self.messages[message_id]
        if loaded.status in ("sent", "delivered", "bounced", "failed"):
            return loaded.status
        self.journal.append(f"record {result.outcome}")
        self.recorded[message_id].append(result)
        attempts = loaded.attempts + (result.outcome != "bounced")
        refused = loaded.refused + tuple(r.recipient for r in result.refused)
        self.messages[message_id] = replace(loaded, status=result.outcome, attempts=attempts,
                                            retry_at=result.retry_at, refused=refused)
        return result.outcome


class MemoryRetries:
    """The retry schedule as a dict, journaling writes so tests can check their order."""

    def __init__(self, journal: list[str]) -> None:
        self.due: dict[UUID, datetime] = {}
        self.journal = journal

    def upsert(self, message_id: UUID, due_at: datetime) -> None:
        self.journal.append("schedule")
        self.due[message_id] = due_at

    def ensure(self, message_id: UUID, due_at: datetime) -> None:
        self.due.setdefault(message_id, due_at)

    def delete(self, message_id: UUID) -> None:
        self.journal.append("unschedule")
        self.due.pop(message_id, None)

    def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[UUID]:
        claimed = sorted((at, mid) for mid, at in self.due.items() if at <= now)[:limit]
        for _, message_id in claimed:
            self.due[message_id] = now + lease
        return [message_id for _, message_id in claimed]

    def release(self, message_ids: Sequence[UUID], now: datetime) -> None:
        for message_id in message_ids:
            self.due[message_id] = now


@dataclass
class RecordingTransport:
    """Answers from a script (then ``SENT``) and keeps every message handed over."""

    script: list[Outcome | Exception] = field(default_factory=list)
    handed: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def deliver(self, envelope_from: str, recipients: list[str], message: bytes) -> Outcome:
        with self.lock:
            answer = self.script.pop(0) if self.script else SENT
            if isinstance(answer, Exception):
                raise answer
            self.handed.append((envelope_from, recipients, message))
            return answer


@dataclass
class World:
    store: MemoryStore
    retries: MemoryRetries
    transport: RecordingTransport
    deliverer: Deliverer
    signer: DkimSigner
    journal: list[str]
    clock: list[datetime]

    def queue(self, to: str = "ann@example.test", **changes: Any) -> UUID:
        message = OutboundMessage(
            message_id=uuid4(), from_address="news@acme.test", to=(to,), subject="Hello",
            domain="acme.test", queued_at=NOW, html='<p><a href="https://acme.test/sale">Sale</a></p>',
            text="Hi", track_opens=True, track_clicks=True)
        loaded = LoadedMessage(replace(message, **changes), self.signer, "queued", 0)
        return self.store.add(loaded)

    def set(self, message_id: UUID, **changes: Any) -> None:
        self.store.messages[message_id] = replace(self.store.messages[message_id], **changes)

    def sink(self, concurrency: int = 1) -> DeliverySink:
        if concurrency > 1:
            self.deliverer = Deliverer(self.store, self.transport, PlainTracking(), self.retries, POLICY,
                                       clock=lambda: self.clock[0], concurrency=concurrency)
        return DeliverySink(self.deliverer)


@pytest.fixture
def world(key: DkimKey) -> World:
    journal: list[str] = []
    store, retries, transport = MemoryStore(journal), MemoryRetries(journal), RecordingTransport()
    clock = [NOW]
    deliverer = Deliverer(store, transport, PlainTracking(), retries, POLICY, clock=lambda: clock[0])
    signer = DkimSigner("acme.test", "ml202603", key.private_pem)
    return World(store, retries, transport, deliverer, signer, journal, clock)


def queued(*message_ids: UUID) -> list[Any]:
    return [envelope("queued", i + 1, email_id=mid) for i, mid in enumerate(message_ids)]


def outcomes(world: World, message_id: UUID) -> list[tuple[str, int]]:
    return [(r.outcome, r.code) for r in world.store.recorded[message_id]]


class StopAfter(threading.Event):
    """An event that reads as set after ``checks`` checks, so every loop is bounded."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.left = checks

    def is_set(self) -> bool:
        self.left -= 1
        return self.left < 0


def test_a_queued_message_is_rendered_signed_sent_and_recorded(world: World, key: DkimKey) -> None:
    message_id = world.queue()

    world.sink().write(queued(message_id))

    [(sender, recipients, data)] = world.transport.handed
    assert (sender, recipients) == ("news@acme.test", ["ann@example.test"])
    assert outcomes(world, message_id) == [DELIVERED]
    mail = email.message_from_bytes(data, policy=default)
    assert mail["Message-ID"] == f"<{message_id}@acme.test>"
    assert mail["List-Unsubscribe"] == f"<https://t.example.test/track/u/{message_id}>"
    html = mail.get_body(("html",)).get_content()
    assert f'href="https://t.example.test/track/c/{message_id}?url=https%3A%2F%2Facme.test%2Fsale"' in html
    assert f'src="https://t.example.test/track/o/{message_id}"' in html
    assert dkim.verify(data, dnsfunc=key.dnsfunc("ml202603", "acme.test")) is True
    assert world.retries.due == {}


def test_envelopes_of_other_types_are_ignored(world: World) -> None:
    message_id = world.queue()

    world.sink().write([envelope(kind, 1, email_id=message_id) for kind in ("sent", "opened")])

    assert world.transport.handed == []


def test_a_4xx_is_deferred_to_the_policy_time_and_scheduled_before_the_event(world: World) -> None:
    message_id = world.queue()
    world.transport.script = [Outcome("deferred", 451, "451 4.2.0 busy")]

    world.sink().write(queued(message_id))

    [result] = world.store.recorded[message_id]
    assert (result.outcome, result.code, result.retry_at) == ("deferred", 451, NOW + timedelta(seconds=10))
    assert world.journal == ["schedule", "record deferred"]
    assert world.retries.due == {message_id: NOW + timedelta(seconds=10)}


def test_a_connection_failure_after_the_retry_budget_is_failed(world: World) -> None:
    message_id = world.queue()
    world.set(message_id, status="deferred", attempts=2)
    world.transport.script = [Outcome("deferred", 0, "ConnectionRefusedError: refused")]

    world.deliverer.deliver(message_id, retrying=True)

    [result] = world.store.recorded[message_id]
    assert (result.outcome, result.code) == ("failed", 0)
    assert result.detail == "retry budget spent: ConnectionRefusedError: refused"
    assert world.journal == ["record failed", "unschedule"]


def test_a_5xx_is_a_hard_bounce_with_its_enhanced_status(world: World) -> None:
    message_id = world.queue()
    world.transport.script = [Outcome("bounced", 550, "RCPT TO: x@y: 550 5.1.1 No such user")]

    world.sink().write(queued(message_id))

    [result] = world.store.recorded[message_id]
    assert (result.outcome, result.code, result.status) == ("bounced", 550, "5.1.1")
    assert world.retries.due == {}


@pytest.mark.parametrize("problem", ["render", "address", "domain removed", "bad key"])
def test_a_message_that_can_never_be_sent_is_failed_without_a_retry(world: World, problem: str) -> None:
    message_id = world.queue(headers={"Bad Name": "x"} if problem == "render" else {})
    if problem == "address":
        world.transport.script = [ValueError("need ASCII addresses")]
    if problem == "domain removed":
        world.set(message_id, signer=None)
    if problem == "bad key":
        world.set(message_id, signer=DkimSigner("acme.test", "s", b"not a key"))

    world.sink().write(queued(message_id))

    [result] = world.store.recorded[message_id]
    assert (result.outcome, result.code) == ("failed", 0)
    assert world.transport.handed == [] and world.retries.due == {}


def test_a_recipient_suppressed_after_queueing_is_not_mailed(world: World) -> None:
    message_id = world.queue()
    world.set(message_id, suppressed="ann@example.test is suppressed (link)")
    world.sink().write(queued(message_id))
    [result] = world.store.recorded[message_id]
    assert (result.outcome, result.detail) == (
        "failed", "not sent: ann@example.test is suppressed (link) since it was queued")
    assert world.transport.handed == []


@pytest.mark.parametrize("status", ["sent", "delivered", "bounced", "failed"])
def test_a_final_message_is_skipped(world: World, status: str) -> None:
    message_id = world.queue()
    world.set(message_id, status=status)

    world.sink().write(queued(message_id))

    assert world.transport.handed == [] and world.store.recorded[message_id] == []


def test_a_redelivered_batch_sends_nothing_twice(world: World) -> None:
    ids = [world.queue(), world.queue(), world.queue()]
    sink = world.sink()

    sink.write(queued(*ids))
    sink.write(queued(*ids))
    sink.write(queued(ids[0], ids[0]))

    assert len(world.transport.handed) == 3
    assert all(outcomes(world, mid) == [DELIVERED] for mid in ids)


def test_a_crash_between_accept_and_record_resends_with_the_same_message_id(world: World) -> None:
    message_id = world.queue()
    world.store.crash_on_record = 1
    sink = world.sink()

    with pytest.raises(RuntimeError, match="event store down"):
        sink.write(queued(message_id))  # the loop commits nothing: the batch comes again
    sink.write(queued(message_id))

    first, second = (email.message_from_bytes(data, policy=default) for *_, data in world.transport.handed)
    assert first["Message-ID"] == second["Message-ID"] == f"<{message_id}@acme.test>"
    assert first.get_body(("plain",)).get_content() == second.get_body(("plain",)).get_content()
    assert outcomes(world, message_id) == [DELIVERED]


def test_a_deferred_message_from_the_stream_is_left_to_the_schedule(world: World) -> None:
    message_id = world.queue()
    world.set(message_id, status="deferred", attempts=1, retry_at=NOW + timedelta(seconds=10))

    world.sink().write(queued(message_id))

    assert world.transport.handed == []
    assert world.retries.due == {message_id: NOW + timedelta(seconds=10)}


def test_the_retry_loop_delivers_due_messages_and_forgets_them(world: World) -> None:
    message_id = world.queue()
    world.transport.script = [Outcome("deferred", 451, "451 busy"), Outcome("deferred", 451, "451 busy")]
    world.sink().write(queued(message_id))

    run_retries(world.deliverer, StopAfter(3), every_s=0)  # not due yet: nothing happens
    assert len(world.store.recorded[message_id]) == 1
    world.clock[0] = NOW + timedelta(seconds=10)
    run_retries(world.deliverer, StopAfter(3), every_s=0)
    assert world.retries.due == {message_id: NOW + timedelta(seconds=30)}  # 2nd wait: 20 s
    world.clock[0] = NOW + timedelta(seconds=30)
    run_retries(world.deliverer, StopAfter(3), every_s=0)

    assert outcomes(world, message_id) == [("deferred", 451), ("deferred", 451), DELIVERED]
    assert world.retries.due == {}


def test_a_crash_after_scheduling_and_before_the_event_is_retried(world: World) -> None:
    message_id = world.queue()
    world.transport.script = [Outcome("deferred", 451, "451 busy")]
    world.store.crash_on_record = 1
    with pytest.raises(RuntimeError):
        world.sink().write(queued(message_id))
    assert world.store.messages[message_id].status == "queued"

    world.clock[0] = NOW + timedelta(seconds=10)
    run_retries(world.deliverer, StopAfter(3), every_s=0)

    assert outcomes(world, message_id) == [DELIVERED]
    assert world.retries.due == {}


def test_an_entry_of_a_message_already_final_is_deleted_without_sending(world: World) -> None:
    message_id = world.queue()
    world.set(message_id, status="delivered")
    world.retries.due[message_id] = NOW

    run_retries(world.deliverer, StopAfter(3), every_s=0)

    assert world.transport.handed == [] and world.retries.due == {}


def test_stopping_releases_claimed_entries_that_were_not_attempted(world: World) -> None:
    ids = [world.queue() for _ in range(3)]
    for message_id in ids:
        world.retries.due[message_id] = NOW

    run_retries(world.deliverer, StopAfter(1), every_s=0, batch=3)  # stops right after the claim

    assert world.transport.handed == []
    assert world.retries.due == dict.fromkeys(ids, NOW)


def test_a_pool_delivers_each_message_of_a_batch_once(world: World) -> None:
    ids = [world.queue(f"r{i}@example.test") for i in range(12)]
    sink = world.sink(concurrency=4)

    sink.write(queued(*ids, *ids))
    sink.close()

    handed = sorted(rcpt for _, [rcpt], _ in world.transport.handed)
    assert handed == sorted(f"r{i}@example.test" for i in range(12))
    assert all(outcomes(world, mid) == [DELIVERED] for mid in ids)
    assert world.store.commits == 1  # the batch's outcomes in one commit


def test_a_shard_delivers_only_the_messages_whose_id_modulo_the_count_is_its_index(world: World) -> None:
    ids = [world.queue(f"r{i}@example.test") for i in range(12)]

    DeliverySink(world.deliverer, shard=(1, 3)).write(queued(*ids))

    mine = sorted(f"r{i}@example.test" for i, mid in enumerate(ids) if mid.int % 3 == 1)
    assert sorted(rcpt for _, [rcpt], _ in world.transport.handed) == mine
    assert [world.store.recorded[mid] == [] for mid in ids] == [mid.int % 3 != 1 for mid in ids]


@pytest.mark.parametrize("shard", [(3, 3), (-1, 2), (0, 0)])
def test_a_shard_that_does_not_exist_is_refused(world: World, shard: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        DeliverySink(world.deliverer, shard=shard)


def test_a_refused_cc_is_recorded_with_the_delivery_and_left_out_of_the_retry(world: World) -> None:
    message_id = world.queue(cc=("cy@example.test",), bcc=("bo@example.test",))
    world.transport.script = [Outcome("deferred", 451, "RCPT TO: ...", refused=(
        ("ann@example.test", 451, "4.2.0 busy"), ("cy@example.test", 550, "5.1.1 no such user"),
        ("bo@example.test", 451, "4.2.0 busy")))]

    world.sink().write(queued(message_id))
    world.clock[0] = NOW + timedelta(seconds=10)
    run_retries(world.deliverer, StopAfter(3), every_s=0)

    first, second = world.transport.handed
    assert (first[1], second[1]) == (["ann@example.test", "cy@example.test", "bo@example.test"],
                                     ["ann@example.test", "bo@example.test"])
    deferred, delivered = world.store.recorded[message_id]
    assert [(r.recipient, r.kind, r.bounce_type, r.status) for r in deferred.refused] == [
        ("cy@example.test", "bounced", "hard", "5.1.1")]
    assert (delivered.outcome, delivered.recipients) == ("delivered", ("ann@example.test", "bo@example.test"))


def test_a_due_retry_the_stream_is_attempting_is_released_not_left_claimed(world: World) -> None:
    message_id = world.queue()
    world.retries.due[message_id] = NOW
    world.deliverer._claim([message_id])  # the stream thread of this process has it right now

    run_retries(world.deliverer, StopAfter(2), every_s=0)  # one claim, one attempt

    assert world.transport.handed == []
    assert world.retries.due == {message_id: NOW}  # due again, not pushed a lease ahead


class FlakyRecords:
    """Wraps the memory store: its first ``failures`` records raise ConnectionError."""

    def __init__(self, store: MemoryStore, failures: int) -> None:
        self.store, self.failures, self.calls = store, failures, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def record(self, results: Sequence[tuple[UUID, DeliveryResult]]) -> list[str]:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("event store down")
        return self.store.record(results)


def _flaky_deliverer(world: World, flaky: FlakyRecords, transient: type[Exception]) -> Deliverer:
    return Deliverer(flaky, world.transport, PlainTracking(), world.retries,  # type: ignore[arg-type]
                     POLICY, clock=lambda: world.clock[0], transient=lambda exc: isinstance(exc, transient))


def test_an_event_store_outage_while_recording_retries_the_record_not_the_mail(world: World) -> None:
    message_id = world.queue()
    flaky = FlakyRecords(world.store, failures=2)
    deliverer = _flaky_deliverer(world, flaky, ConnectionError)
    DeliverySink(deliverer).write(queued(message_id))
    assert len(world.transport.handed) == 1
    assert flaky.calls == 3
    assert outcomes(world, message_id) == [DELIVERED]


def test_a_failure_to_record_that_is_not_transient_raises_at_once(world: World) -> None:
    message_id = world.queue()
    flaky = FlakyRecords(world.store, failures=5)
    deliverer = _flaky_deliverer(world, flaky, KeyError)
    with pytest.raises(ConnectionError, match="event store down"):
        DeliverySink(deliverer).write(queued(message_id))
    assert flaky.calls == 1
