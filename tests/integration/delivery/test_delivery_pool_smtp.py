"""The SMTP session pool against a real SMTP server on loopback (aiosmtpd): reuse and faults."""

from __future__ import annotations

import email
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator

import pytest

from consumers.delivery.pool import SmtpPool
from consumers.delivery.transport import Outcome
from consumers.delivery.transport import SmtpTransport
from tests.support.smtp_server import SmtpServer
from tests.support.smtp_server import start_smtp_server

pytestmark = pytest.mark.smtp

SENDER, ANN = "news@acme.test", "ann@example.org"
STALL_S = 1.5  # longer than the client's 1 s timeout


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    smtp = start_smtp_server()
    yield smtp
    smtp.stop()


def pool_for(server: SmtpServer, **options: int) -> SmtpPool:
    return SmtpPool(SmtpTransport.from_url(server.url, timeout_s=1, local_hostname="worker.test"),
                    **options)


def message(number: int) -> bytes:
    return (f"From: {SENDER}\r\nTo: {ANN}\r\nSubject: m{number}\r\n"
            f"Message-ID: <m{number}@acme.test>\r\n\r\nmessage {number}\r\n").encode()


def deliver(pool: SmtpPool, number: int) -> Outcome:
    return pool.deliver(SENDER, [ANN], message(number))


def subjects(server: SmtpServer) -> list[str]:
    return [str(email.message_from_bytes(r.data)["Subject"]) for r in server.received]


def queued(*numbers: int) -> list[Outcome]:
    """The outcomes of messages the server queued as Q<number>."""
    return [Outcome("sent", 250, f"250 2.0.0 Ok: queued as Q{n}") for n in numbers]


def eventually(check: Callable[[], bool], seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_one_session_carries_twenty_messages(server: SmtpServer) -> None:
    pool = pool_for(server, max_sessions=1)

    outcomes = [deliver(pool, n) for n in range(20)]

    assert outcomes == queued(*range(1, 21))
    assert subjects(server) == [f"m{n}" for n in range(20)]
    assert [r.connection for r in server.received] == [1] * 20
    assert (server.connections, pool.opened_total, pool.open_sessions) == (1, 1, 1)
    pool.close()


@pytest.mark.parametrize("fault", [
    pytest.param(lambda s: s.close_after_next(1), id="421-at-data-then-closed"),
    pytest.param(lambda s: s.drop_next(1), id="dropped-at-mail-from"),
    pytest.param(lambda s: s.stall_next(1, STALL_S), id="timeout-in-data"),
])
def test_a_session_lost_mid_stream_reopens_and_loses_nothing(
        server: SmtpServer, fault: Callable[[SmtpServer], None]) -> None:
    pool = pool_for(server)
    first = deliver(pool, 0)
    fault(server)  # hits message 1, on the reused session

    outcomes = [first, *(deliver(pool, n) for n in range(1, 4))]

    assert outcomes == queued(1, 2, 3, 4)
    assert subjects(server) == ["m0", "m1", "m2", "m3"]
    assert [r.connection for r in server.received] == [1, 2, 2, 2]
    assert server.connections == 2
    assert (pool.opened_total, pool.open_sessions) == (2, 1)
    pool.close()


def test_a_421_on_a_fresh_session_defers_that_message_only(server: SmtpServer) -> None:
    pool = pool_for(server)
    server.close_after_next(1)

    outcomes = [deliver(pool, 0), deliver(pool, 1)]

    assert outcomes == [Outcome("deferred", 421, "DATA: 421 4.3.2 closing"), *queued(1)]
    assert subjects(server) == ["m1"]
    assert [r.connection for r in server.received] == [2]
    pool.close()


def test_messages_per_session_caps_each_connection(server: SmtpServer) -> None:
    pool = pool_for(server, messages_per_session=5)

    outcomes = [deliver(pool, n) for n in range(12)]

    assert outcomes == queued(*range(1, 13))
    assert subjects(server) == [f"m{n}" for n in range(12)]
    assert [r.connection for r in server.received] == [1] * 5 + [2] * 5 + [3] * 2
    assert server.connections == 3
    assert server.quits == [1, 2]  # each full session said QUIT
    pool.close()


def test_close_leaves_no_session_open_on_the_server(server: SmtpServer) -> None:
    pool = pool_for(server, max_sessions=2)
    assert deliver(pool, 0) == queued(1)[0]
    server.stall_next(1, 0.5)  # shorter than the timeout: answered 451, on connection 1
    in_use: list[Outcome] = []
    thread = threading.Thread(target=lambda: in_use.append(deliver(pool, 1)))
    thread.start()
    assert eventually(lambda: server.handler.transactions == 2)  # message 1 is in DATA
    assert deliver(pool, 2) == queued(2)[0]  # on a second connection, then idle

    pool.close()  # SIGTERM: the idle session quits now, the one in use when it is done
    assert server.quits == [2]
    thread.join(5)

    assert in_use == [Outcome("deferred", 451, "DATA: 451 4.4.2 Timeout, try again")]
    assert server.quits == [2, 1]
    assert eventually(lambda: server.open_connections == 0)
    assert pool.open_sessions == 0
    assert deliver(pool, 3) == Outcome("deferred", 0,
                                       "SMTPServerDisconnected: the delivery worker is stopping")
    assert server.connections == 2
