"""The SMTP session pool over a scripted relay whose sessions answer like smtplib (no I/O)."""

from __future__ import annotations

import smtplib
import threading
import time
from typing import Any

import pytest

from consumers.delivery.pool import SmtpPool
from consumers.delivery.transport import Outcome

SENDER, ANN = "news@acme.test", "ann@example.org"
MESSAGE = b"Subject: hi\r\n\r\nhello\r\n"
SENT = Outcome("sent", 250, "250 2.0.0 Ok: queued")
DEFAULTS: dict[str, tuple[int, bytes]] = {
    "rset": (250, b"2.0.0 Ok"), "mail": (250, b"2.1.0 Ok"), "rcpt": (250, b"2.1.5 Ok"),
    "data": (250, b"2.0.0 Ok: queued"),
}
Script = dict[str, list[Any]]  # command -> its answers in order: (code, text) or an exception


def transaction(number: int) -> list[str]:
    """The journal of one transaction to ANN on session ``number``."""
    return [f"{number} mail", f"{number} rcpt {ANN}", f"{number} data"]


class FakeSmtp:
    """An ``smtplib.SMTP`` look-alike: answers from its script, then the defaults."""

    def __init__(self, number: int, relay: FakeRelay, script: Script) -> None:
        self.number, self.relay, self.script = number, relay, script
        self.closed = False

    def _answer(self, command: str, note: str = "") -> tuple[int, bytes]:
        self.relay.note(f"{self.number} {command}{note}")
        if self.closed:
            raise smtplib.SMTPServerDisconnected("please run connect() first")
        answers = self.script.get(command)
        answer = answers.pop(0) if answers else DEFAULTS[command]
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[no-any-return]

    def has_extn(self, name: str) -> bool:
        return False

    def rset(self) -> tuple[int, bytes]:
        return self._answer("rset")

    def mail(self, sender: str, options: Any = ()) -> tuple[int, bytes]:
        return self._answer("mail")

    def rcpt(self, recipient: str, options: Any = ()) -> tuple[int, bytes]:
        return self._answer("rcpt", f" {recipient}")

    def data(self, message: bytes) -> tuple[int, bytes]:
        self.relay.in_data(self)
        return self._answer("data")

    def quit(self) -> tuple[int, bytes]:
        self.relay.note(f"{self.number} quit")
        self._end()
        return 221, b"Bye"

    def close(self) -> None:
        self.relay.note(f"{self.number} close")
        self._end()

    def _end(self) -> None:
        if not self.closed:
            self.closed = True
            self.relay.ended()


class FakeRelay:
    """What the pool needs of ``SmtpTransport``: ``timeout_s`` and ``connect()``.

    The n-th session opened answers from ``scripts[n-1]`` (then the defaults). ``together``:
    DATA waits (bounded) until that many sessions are open at once, then ``data_delay``
    seconds; ``gate``: DATA waits for it to be set.
    """

    def __init__(self, *scripts: Script, timeout_s: float = 1.0) -> None:
        self.timeout_s = timeout_s
        self.scripts = list(scripts)
        self.connect_errors: list[Exception] = []
        self.sessions: list[FakeSmtp] = []
        self.journal: list[str] = []
        self.open = self.peak = 0
        self.together = 0
        self.data_delay = 0.0
        self.gate: threading.Event | None = None
        self.entered_data = threading.Event()
        self._cond = threading.Condition()

    def connect(self) -> FakeSmtp:
        with self._cond:
            if self.connect_errors:
                self.journal.append("connect refused")
                raise self.connect_errors.pop(0)
            number = len(self.sessions) + 1
            smtp = FakeSmtp(number, self, self.scripts[number - 1] if number <= len(self.scripts) else {})
            self.sessions.append(smtp)
            self.open += 1
            self.peak = max(self.peak, self.open)
            self.journal.append(f"{number} connect")
            self._cond.notify_all()
            return smtp

    def note(self, entry: str) -> None:
        with self._cond:
            self.journal.append(entry)

    def ended(self) -> None:
        with self._cond:
            self.open -= 1

    def in_data(self, smtp: FakeSmtp) -> None:
        self.entered_data.set()
        with self._cond:
            self._cond.wait_for(lambda: self.open >= self.together, timeout=2)
        time.sleep(self.data_delay)
        if self.gate is not None:
            assert self.gate.wait(5)

    def since(self, mark: int) -> list[str]:
        with self._cond:
            return self.journal[mark:]


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pool_of(relay: FakeRelay, **options: Any) -> SmtpPool:
    return SmtpPool(relay, **options)  # type: ignore[arg-type]


def deliver(pool: SmtpPool) -> Outcome:
    return pool.deliver(SENDER, [ANN], MESSAGE)


def deliver_in_threads(pool: SmtpPool, count: int) -> list[Outcome]:
    outcomes: list[Outcome] = []
    threads = [threading.Thread(target=lambda: outcomes.append(deliver(pool))) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return outcomes


def test_many_messages_reuse_one_session_with_rset_between_them() -> None:
    relay = FakeRelay()
    pool = pool_of(relay)

    outcomes = [deliver(pool) for _ in range(3)]

    assert outcomes == [SENT] * 3
    assert relay.journal == ["1 connect", *transaction(1), "1 rset", *transaction(1),
                             "1 rset", *transaction(1)]
    assert (pool.open_sessions, pool.opened_total) == (1, 1)


def test_a_session_that_carried_its_quota_quits_and_the_next_message_opens_another() -> None:
    relay = FakeRelay()
    pool = pool_of(relay, messages_per_session=2)

    outcomes = [deliver(pool) for _ in range(5)]

    assert outcomes == [SENT] * 5
    assert relay.journal == [
        "1 connect", *transaction(1), "1 rset", *transaction(1), "1 quit",
        "2 connect", *transaction(2), "2 rset", *transaction(2), "2 quit",
        "3 connect", *transaction(3),
    ]
    assert (pool.open_sessions, relay.open) == (1, 1)


def test_threads_never_open_more_sessions_than_the_cap() -> None:
    relay = FakeRelay()
    relay.together, relay.data_delay = 2, 0.05  # time for a third thread to open one, if it could
    pool = pool_of(relay, max_sessions=2)

    outcomes = deliver_in_threads(pool, 6)

    assert outcomes == [SENT] * 6
    assert (relay.peak, pool.opened_total, len(relay.sessions)) == (2, 2, 2)
    assert pool.open_sessions == 2


def test_threads_use_every_session_the_cap_allows() -> None:
    relay = FakeRelay()
    relay.together = 3  # DATA waits until three sessions are open at once
    pool = pool_of(relay, max_sessions=3)

    outcomes = deliver_in_threads(pool, 3)

    assert outcomes == [SENT] * 3
    assert (relay.peak, pool.opened_total) == (3, 3)


@pytest.mark.parametrize(("script", "failed"), [
    pytest.param({"rset": [smtplib.SMTPServerDisconnected("Connection unexpectedly closed")]},
                 ["1 rset", "1 close"], id="dropped-at-rset"),
    pytest.param({"rset": [(421, b"4.3.2 closing")]}, ["1 rset", "1 close"], id="421-at-rset"),
    pytest.param({"mail": [DEFAULTS["mail"], (421, b"4.3.2 closing")]},
                 ["1 rset", "1 mail", "1 close"], id="421-at-mail"),
    pytest.param({"data": [DEFAULTS["data"], (421, b"4.3.2 closing")]},
                 ["1 rset", *transaction(1), "1 close"], id="421-after-data"),
    pytest.param({"data": [DEFAULTS["data"], smtplib.SMTPDataError(421, b"4.3.2 closing")]},
                 ["1 rset", *transaction(1), "1 close"], id="421-at-data"),
    pytest.param({"data": [DEFAULTS["data"], TimeoutError("timed out")]},
                 ["1 rset", *transaction(1), "1 close"], id="timeout-in-data"),
    pytest.param({"data": [DEFAULTS["data"], ConnectionResetError(104, "Connection reset by peer")]},
                 ["1 rset", *transaction(1), "1 close"], id="reset-in-data"),
])
def test_a_stale_session_failing_sends_the_message_once_on_a_fresh_one(script: Script,
                                                                        failed: list[str]) -> None:
    relay = FakeRelay(script)
    pool = pool_of(relay)
    assert deliver(pool) == SENT
    mark = len(relay.journal)

    assert deliver(pool) == SENT
    assert relay.since(mark) == [*failed, "2 connect", *transaction(2)]
    assert (pool.open_sessions, relay.open, pool.opened_total) == (1, 1, 2)


@pytest.mark.parametrize(("script", "expected", "journal"), [
    pytest.param({"data": [smtplib.SMTPServerDisconnected("Connection unexpectedly closed")]},
                 Outcome("deferred", 0, "SMTPServerDisconnected: Connection unexpectedly closed"),
                 [*transaction(1), "1 close"], id="dropped"),
    pytest.param({"mail": [(421, b"4.3.2 closing")]},
                 Outcome("deferred", 421, "MAIL FROM: 421 4.3.2 closing"),
                 ["1 mail", "1 close"], id="421-at-mail"),
    pytest.param({"data": [TimeoutError("timed out")]},
                 Outcome("deferred", 0, "TimeoutError: timed out"),
                 [*transaction(1), "1 close"], id="timeout"),
])
def test_a_fresh_session_failing_defers_the_message_without_a_retry(
        script: Script, expected: Outcome, journal: list[str]) -> None:
    relay = FakeRelay(script)
    pool = pool_of(relay)

    assert deliver(pool) == expected
    assert relay.journal == ["1 connect", *journal]
    assert (pool.open_sessions, relay.open) == (0, 0)


def test_a_stale_session_then_a_refused_connection_defers_the_message() -> None:
    relay = FakeRelay({"rset": [smtplib.SMTPServerDisconnected("Connection unexpectedly closed")]})
    pool = pool_of(relay)
    assert deliver(pool) == SENT
    relay.connect_errors.append(ConnectionRefusedError(111, "Connection refused"))

    assert deliver(pool) == Outcome("deferred", 0,
                                    "ConnectionRefusedError: [Errno 111] Connection refused")
    assert relay.journal[-3:] == ["1 rset", "1 close", "connect refused"]
    assert pool.open_sessions == 0


def test_when_every_idle_session_is_stale_the_retry_goes_on_a_fresh_one() -> None:
    # The relay restarted: both pooled sessions are dead. The message must not be deferred
    # because its one retry was spent on the second dead session: the other idle session is
    # closed untried and the retry opens a new one.
    dead = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
    relay = FakeRelay({"rset": [dead]}, {"rset": [dead]})
    relay.together = 2
    pool = pool_of(relay, max_sessions=2)
    assert deliver_in_threads(pool, 2) == [SENT, SENT]
    relay.together = 0
    mark = len(relay.journal)

    assert deliver(pool) == SENT
    tail = relay.since(mark)
    assert [entry for entry in tail if entry.endswith(("rset", "close"))] in (
        ["1 rset", "1 close", "2 close"], ["2 rset", "2 close", "1 close"])
    assert tail[-4:] == ["3 connect", *transaction(3)]


def test_an_idle_session_past_idle_s_quits_and_a_new_one_is_opened() -> None:
    clock = Clock()
    relay = FakeRelay()
    pool = pool_of(relay, idle_s=30, clock=clock)
    assert deliver(pool) == SENT
    clock.now += 30  # idle exactly idle_s: still reused

    assert deliver(pool) == SENT
    clock.now += 30.5
    assert deliver(pool) == SENT

    assert relay.journal == ["1 connect", *transaction(1), "1 rset", *transaction(1),
                             "1 quit", "2 connect", *transaction(2)]
    assert (pool.open_sessions, relay.open) == (1, 1)


def test_close_quits_the_idle_sessions() -> None:
    relay = FakeRelay()
    relay.together = 2
    pool = pool_of(relay, max_sessions=2)
    assert deliver_in_threads(pool, 2) == [SENT, SENT]

    pool.close()

    assert sorted(e for e in relay.journal if e.endswith("quit")) == ["1 quit", "2 quit"]
    assert (pool.open_sessions, relay.open) == (0, 0)


def test_a_session_in_use_at_close_quits_when_its_transaction_ends() -> None:
    relay = FakeRelay()
    relay.gate = threading.Event()
    pool = pool_of(relay)
    outcomes: list[Outcome] = []
    thread = threading.Thread(target=lambda: outcomes.append(deliver(pool)))
    thread.start()
    assert relay.entered_data.wait(5)

    pool.close()
    assert "1 quit" not in relay.journal
    assert pool.open_sessions == 1
    relay.gate.set()
    thread.join(5)

    assert outcomes == [SENT]
    assert relay.journal == ["1 connect", *transaction(1), "1 quit"]
    assert (pool.open_sessions, relay.open) == (0, 0)


def test_a_message_after_close_is_deferred_without_connecting() -> None:
    relay = FakeRelay()
    pool = pool_of(relay)
    pool.close()

    assert deliver(pool) == Outcome("deferred", 0,
                                    "SMTPServerDisconnected: the delivery worker is stopping")
    assert relay.journal == []


@pytest.mark.parametrize(("error", "expected"), [
    pytest.param(smtplib.SMTPConnectError(554, b"5.3.2 go away"),
                 Outcome("deferred", 554, "relay refused us: 554 5.3.2 go away"), id="554-greeting"),
    pytest.param(ConnectionRefusedError(111, "Connection refused"),
                 Outcome("deferred", 0, "ConnectionRefusedError: [Errno 111] Connection refused"),
                 id="refused"),
    pytest.param(smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"),
                 Outcome("deferred", 535, "relay refused us: 535 5.7.8 bad credentials"),
                 id="535-auth"),
])
def test_a_connect_error_defers_the_message_and_frees_its_slot(error: Exception,
                                                                 expected: Outcome) -> None:
    relay = FakeRelay()
    relay.connect_errors.append(error)
    pool = pool_of(relay, max_sessions=1)

    assert deliver(pool) == expected
    assert pool.open_sessions == 0
    assert deliver(pool) == SENT  # the one slot is free again
    assert relay.journal == ["connect refused", "1 connect", *transaction(1)]


def test_a_pool_needs_at_least_one_session_and_one_message() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        pool_of(FakeRelay(), max_sessions=0)
    with pytest.raises(ValueError, match="at least 1"):
        pool_of(FakeRelay(), messages_per_session=0)
