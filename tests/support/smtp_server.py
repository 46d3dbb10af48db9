"""A real SMTP server on loopback (aiosmtpd) whose answers depend on the recipient.

* ``defer-*@...`` recipients get ``451 4.2.0`` at RCPT, ``reject-*@...`` get ``550 5.1.1``;
  everyone else is accepted.
* :meth:`SmtpServer.fail_next` makes the next N transactions fail at DATA with ``451``,
  after which messages are accepted again (a relay that recovers).
* Every accepted message is recorded with its envelope and raw bytes, before the client
  sees the final ``250`` (so a test may read it as soon as ``deliver`` returns).
"""

from __future__ import annotations

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


class RecordingHandler:
    """The aiosmtpd handler: decides by local part and records accepted messages."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.transactions = 0
        self._failures_left = 0
        self._lock = threading.Lock()

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        local = address.partition("@")[0].lower()
        if local.startswith("defer-"):
            return "451 4.2.0 Mailbox busy, try again later"
        if local.startswith("reject-"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        with self._lock:
            self.transactions += 1
            if self._failures_left > 0:
                self._failures_left -= 1
                return "451 4.3.0 Temporary failure, try again"
            data = envelope.original_content or b""
            tls = server.transport.get_extra_info("ssl_object") is not None
            self.received.append(
                Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), data, tls))
            return f"250 2.0.0 Ok: queued as Q{len(self.received)}"

    def fail_next(self, count: int) -> None:
        """Answer 451 to the next ``count`` transactions, then accept again."""
        with self._lock:
            self._failures_left = count


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
