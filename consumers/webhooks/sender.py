"""POST one webhook over HTTP(S) with the standard library, behind an SSRF guard.

:meth:`Sender.post` never raises for a delivery problem; it returns an :class:`Attempt`, ``ok``
for a 2xx. Anything else is a failure to retry: 3xx (redirects are never followed), 4xx, 5xx,
or no answer (``status_code`` 0: refused target, DNS failure, timeout, TLS failure).

Guard (:func:`~consumers.webhooks.targets.resolve_target`, the same rules as at registration):
http(s) URLs without credentials only; the host is resolved once and if ANY address is not
public (private, loopback, link-local, multicast, reserved, unspecified, 100.64/10; IPv6 forms
carrying an IPv4 address — mapped, NAT64, 6to4, Teredo... — judged by that address) the answer
is ``target address not allowed``, before any connection. The connection goes to those checked
addresses, never to a second lookup (no DNS rebinding), with the URL's host in ``Host``, SNI
and the certificate check. ``allow_private`` (operator setting; tests enable it) lifts the
address check only.
Timeouts: ``connect_timeout_s`` for TCP and TLS, then ``read_timeout_s`` per read; at most
``max_response_bytes`` of the answer are read.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Protocol

from consumers.webhooks.targets import Resolver
from consumers.webhooks.targets import Target
from consumers.webhooks.targets import TargetError
from consumers.webhooks.targets import is_allowed as is_allowed  # re-exported: the guard's first home
from consumers.webhooks.targets import resolve_target
from consumers.webhooks.targets import system_resolver


@dataclass(frozen=True)
class Attempt:
    """What one POST to an endpoint gave."""

    status_code: int  # 0 = no HTTP answer
    ok: bool
    error: str
    duration_ms: int
    response: str = ""  # the start of the answer's body, for the customer's delivery log


class Poster(Protocol):
    """POSTs one webhook body; never raises for a delivery problem."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Attempt:
        """Send ``body`` to ``url`` and report the answer."""


@dataclass(frozen=True)
class Sender:
    """The HTTP(S) adapter of webhook deliveries (module docstring)."""

    allow_private: bool = False
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    max_response_bytes: int = 4096
    resolver: Resolver = field(default=system_resolver, repr=False, compare=False)
    ssl_context: ssl.SSLContext = field(default_factory=ssl.create_default_context, repr=False,
                                        compare=False)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Attempt:
        """One POST of ``body`` to ``url``; never raises for a delivery problem."""
        started = time.monotonic()
        try:
            target = resolve_target(url, allow_private=self.allow_private, resolver=self.resolver)
            connection = self._connect(target)
        except TargetError as error:
            return _failed(str(error), started)
        except OSError as error:  # refused, unreachable, timed out, TLS handshake
            return _failed(f"cannot connect: {_text(error)}", started)
        try:
            connection.request("POST", target.path, body=body, headers={**headers, "Connection": "close"})
            response = connection.getresponse()
            data, problem = self._read(response)
        except (OSError, ValueError, http.client.HTTPException) as error:
            return _failed(f"no response: {_text(error)}", started)
        finally:
            connection.close()
        return _answered(response.status, data, problem, started)

    def _connect(self, target: Target) -> http.client.HTTPConnection:
        last: OSError = OSError(f"{target.host} has no address")
        for address in target.addresses:  # each one was checked by the guard
            connection = self._connection(target, address)
            try:
                connection.connect()
            except OSError as error:
                connection.close()
                last = error
            else:
                return connection
        raise last

    def _connection(self, target: Target, address: str) -> http.client.HTTPConnection:
        timeouts = (self.connect_timeout_s, self.read_timeout_s)
        if target.scheme == "https":
            return _PinnedHTTPS(target, address, timeouts, self.ssl_context)
        return _PinnedHTTP(target, address, timeouts)

    def _read(self, response: http.client.HTTPResponse) -> tuple[bytes, str]:
        try:
            return response.read(self.max_response_bytes), ""
        except (OSError, http.client.HTTPException) as error:
            return b"", f"reading the answer: {_text(error)}"


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to one checked address, with the URL's host in ``Host``."""

    def __init__(self, target: Target, address: str, timeouts: tuple[float, float]) -> None:
        super().__init__(target.host, target.port, timeout=timeouts[1])
        self._address, self._connect_timeout = address, timeouts[0]

    def connect(self) -> None:
        """Open TCP to the checked address instead of resolving ``host`` again."""
        self.sock = socket.create_connection((self._address, self.port), self._connect_timeout)
        self.sock.settimeout(self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to one checked address, with the URL's host in ``Host``, SNI and the cert check."""

    def __init__(self, target: Target, address: str, timeouts: tuple[float, float],
                 context: ssl.SSLContext) -> None:
        super().__init__(target.host, target.port, timeout=timeouts[1], context=context)
        self._address, self._connect_timeout, self._tls = address, timeouts[0], context

    def connect(self) -> None:
        """Open TCP to the checked address, then TLS for the URL's host."""
        raw = socket.create_connection((self._address, self.port), self._connect_timeout)
        try:
            self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise
        self.sock.settimeout(self.timeout)


def _answered(status: int, data: bytes, problem: str, started: float) -> Attempt:
    ok = 200 <= status < 300
    reasons = [] if ok else [f"HTTP {status}: redirects are not followed" if 300 <= status < 400
                             else f"HTTP {status}"]
    error = "; ".join([*reasons, problem] if problem else reasons)
    return Attempt(status, ok, error, _elapsed_ms(started), data.decode("utf-8", "replace"))


def _failed(error: str, started: float) -> Attempt:
    return Attempt(0, False, error, _elapsed_ms(started))


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
