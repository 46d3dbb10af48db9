"""A real SMTP server on loopback (aiosmtpd) whose answers depend on the recipient.

* ``defer-*@...`` recipients get ``451 4.2.0`` at RCPT, ``reject-*@...`` get ``550 5.1.1``,
  ``full-*@...`` get ``552 5.2.2`` (mailbox full, a soft bounce); everyone else is accepted.
* :meth:`SmtpServer.fail_next` makes the next N transactions fail at DATA with ``451``,
  after which messages are accepted again (a relay that recovers).
* Faults that end a session: :meth:`SmtpServer.close_after_next` (``421`` at DATA, then the
  server closes the connection), :meth:`SmtpServer.drop_next` (the connection is closed
  without a reply at MAIL FROM) and :meth:`SmtpServer.stall_next` (DATA is answered only
  after a pause, with ``451``, and nothing is recorded).
* Every accepted message is recorded with its envelope, raw bytes and the number of the
  connection it came on, before the client sees the final ``250`` (so a test may read it
  as soon as ``deliver`` returns). Connections are numbered from 1 in the order they first
  speak (EHLO/HELO, or any command of this handler); the ones that said QUIT are listed.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import Session

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    tls: bool  # whether the session was encrypted (implicit TLS or STARTTLS)
    connection: int = 0  # the number of the connection it came on (from 1)


class RecordingHandler:
    """The aiosmtpd handler: decides by local part and records accepted messages."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.transactions = 0
        self.quits: list[int] = []  # numbers of the connections that said QUIT
        self._failures_left = 0
        self._closes_left = 0
        self._drops_left = 0
        self._stalls_left = 0
        self._stall_s = 0.0
        self._servers: list[Any] = []  # one aiosmtpd SMTP protocol object per connection
        self._numbers: dict[int, int] = {}  # id(protocol object) -> connection number
        self._lock = threading.Lock()

    def connection(self, server: Any) -> int:
        """The number of the connection ``server`` (aiosmtpd's protocol object) serves."""
        with self._lock:
            if id(server) not in self._numbers:
                self._servers.append(server)  # kept alive: its id stays unique
                self._numbers[id(server)] = len(self._servers)
            return self._numbers[id(server)]

    @property
    def connections(self) -> int:
        """How many connections have spoken to the server."""
        with self._lock:
            return len(self._servers)

    @property
    def open_connections(self) -> int:
        """How many of them the server has not closed yet."""
        with self._lock:
            return sum(1 for server in self._servers if server.transport is not None)

    async def handle_EHLO(self, server: Any, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        self.connection(server)
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server: Any, session: Session, envelope: Envelope,
                          hostname: str) -> str:
        self.connection(server)
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_MAIL(self, server: Any, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        self.connection(server)
        with self._lock:
            drop = self._drops_left > 0
            if drop:
                self._drops_left -= 1
        if drop:
            server.transport.close()  # nothing buffered: the reply below is never sent
            return "250 OK"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        local = address.partition("@")[0].lower()
        if local.startswith("defer-"):
            return "451 4.2.0 Mailbox busy, try again later"
        if local.startswith("reject-"):
            return "550 5.1.1 No such user"
        if local.startswith("full-"):
            return "552 5.2.2 Mailbox full"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        connection = self.connection(server)
        with self._lock:
            self.transactions += 1
            stall = self._stalls_left > 0
            close = not stall and self._closes_left > 0
            if stall:
                self._stalls_left -= 1
            elif close:
                self._closes_left -= 1
        if stall:
            await asyncio.sleep(self._stall_s)
            return "451 4.4.2 Timeout, try again"
        if close:
            # The reply is written before this callback runs; close() then flushes it.
            server.loop.call_soon(server.transport.close)
            return "421 4.3.2 closing"
        with self._lock:
            if self._failures_left > 0:
                self._failures_left -= 1
                return "451 4.3.0 Temporary failure, try again"
            data = envelope.original_content or b""
            tls = server.transport.get_extra_info("ssl_object") is not None
            self.received.append(
                Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), data, tls, connection))
            return f"250 2.0.0 Ok: queued as Q{len(self.received)}"

    async def handle_QUIT(self, server: Any, session: Session, envelope: Envelope) -> str:
        connection = self.connection(server)
        with self._lock:
            self.quits.append(connection)
        return "221 Bye"

    def fail_next(self, count: int) -> None:
        """Answer 451 to the next ``count`` transactions, then accept again."""
        with self._lock:
            self._failures_left = count

    def close_after_next(self, count: int) -> None:
        """Answer ``421 4.3.2`` at the next ``count`` DATA and close each of those connections."""
        with self._lock:
            self._closes_left = count

    def drop_next(self, count: int) -> None:
        """Close the connection without a reply at each of the next ``count`` MAIL FROM."""
        with self._lock:
            self._drops_left = count

    def stall_next(self, count: int, seconds: float) -> None:
        """Answer the next ``count`` DATA only after ``seconds``, with 451; record nothing."""
        with self._lock:
            self._stalls_left, self._stall_s = count, seconds


class SmtpServer:
    """A running server: its address, what it received, and switches for failures."""

    def __init__(self, controller: Controller, handler: RecordingHandler, port: int) -> None:
        self.controller, self.handler, self.port = controller, handler, port

    @property
    def url(self) -> str:
        """``smtp://`` (or ``smtps://`` with implicit TLS) address for ``SMTP_RELAY_URL``."""
        scheme = "smtps" if self.controller.ssl_context else "smtp"
        return f"{scheme}://{HOST}:{self.port}"

    @property
    def received(self) -> list[Received]:
        """Every accepted message, in order."""
        return list(self.handler.received)

    def fail_next(self, count: int) -> None:
        """Answer 451 to the next ``count`` transactions, then accept again."""
        self.handler.fail_next(count)

    def close_after_next(self, count: int) -> None:
        """Answer ``421 4.3.2`` at the next ``count`` DATA and close each of those connections."""
        self.handler.close_after_next(count)

    def drop_next(self, count: int) -> None:
        """Close the connection without a reply at each of the next ``count`` MAIL FROM."""
        self.handler.drop_next(count)

    def stall_next(self, count: int, seconds: float) -> None:
        """Answer the next ``count`` DATA only after ``seconds``, with 451; record nothing."""
        self.handler.stall_next(count, seconds)

    @property
    def connections(self) -> int:
        """How many connections have spoken to the server."""
        return self.handler.connections

    @property
    def open_connections(self) -> int:
        """How many of them the server has not closed yet."""
        return self.handler.open_connections

    @property
    def quits(self) -> list[int]:
        """The numbers of the connections that said QUIT, in order."""
        return list(self.handler.quits)

    def stop(self) -> None:
        """Stop the server thread."""
        self.controller.stop()


def start_smtp_server(*, implicit_tls: ssl.SSLContext | None = None,
                      starttls: ssl.SSLContext | None = None,
                      credentials: tuple[str, str] | None = None) -> SmtpServer:
    """Start a server on a free loopback port; optionally TLS and password authentication."""
    handler = RecordingHandler()
    options: dict[str, Any] = {"ssl_context": implicit_tls, "tls_context": starttls}
    if credentials is not None:
        # Implicit TLS is invisible to aiosmtpd's auth_require_tls, hence False here.
        options |= {"authenticator": _Authenticator(*credentials), "auth_require_tls": False}
    for _ in range(3):  # a free port may be taken between probing and binding
        port = free_port()
        controller = Controller(handler, hostname=HOST, port=port, **options)
        try:
            controller.start()
        except (OSError, RuntimeError):
            continue
        return SmtpServer(controller, handler, port)
    raise RuntimeError("could not start the SMTP test server")


def free_port() -> int:
    """A loopback TCP port nobody listens on (a connection to it is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self.expected = (username.encode(), password.encode())

    def __call__(self, server: Any, session: Session, envelope: Envelope, mechanism: str,
                 auth_data: Any) -> AuthResult:
        ok = (getattr(auth_data, "login", None), getattr(auth_data, "password", None)) == self.expected
        return AuthResult(success=ok, handled=False)
