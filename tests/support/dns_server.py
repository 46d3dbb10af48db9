"""A real authoritative DNS server on loopback for tests (dnslib), UDP and TCP on one port.

It serves a mutable in-memory zone, ``{name: [(type, value), ...]}``; names are matched
case-insensitively, with or without the trailing dot. As a real server would:

* an unknown name answers NXDOMAIN; a known name (or an empty non-terminal, such as
  ``_domainkey.example.com`` when ``s1._domainkey.example.com`` exists) without records of
  the asked type answers NOERROR with no answers;
* a TXT value longer than 255 bytes goes out as several character strings;
* a UDP answer over 512 bytes is truncated (TC), so the client retries over TCP.

Use it as a context manager (``with DnsServer(zone) as dns: ...``), or ``start``/``stop``.
``dns.nameservers`` is the ``DNS_NAMESERVERS`` value that points at it.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Any

from dnslib import QTYPE
from dnslib import RCODE
from dnslib import RR
from dnslib import TXT
from dnslib import DNSRecord
from dnslib.server import BaseResolver
from dnslib.server import DNSHandler
from dnslib.server import DNSLogger
from dnslib.server import TCPServer
from dnslib.server import UDPServer

Zone = dict[str, list[tuple[str, str]]]
TTL = 60
UDP_LIMIT = 512
_BIND_ATTEMPTS = 20


class _Handler(DNSHandler):  # type: ignore[misc]
    def get_reply(self, data: bytes) -> bytes:
        """The packed answer; over UDP, past 512 bytes (no EDNS), only the question with TC set."""
        request = DNSRecord.parse(data)
        packed: bytes = self.server.resolver.resolve(request, self).pack()
        if self.protocol == "udp" and len(packed) > UDP_LIMIT:
            # dnslib's own truncate() drops the question, which resolvers reject as a mismatch.
            truncated = request.reply()
            truncated.header.tc = 1
            packed = truncated.pack()
        return packed


class _ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, server: DnsServer) -> None:
        self.server = server

    def resolve(self, request: Any, handler: Any) -> Any:
        """The answer of the zone as it is at the moment of the query."""
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        self.server.queries.append((name, qtype, handler.protocol))
        zone = {key.rstrip(".").lower(): list(records) for key, records in self.server.zone.items()}
        reply = request.reply()
        if name not in zone and not any(key.endswith("." + name) for key in zone):
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for rtype, value in zone.get(name, []):
            if rtype.upper() == qtype or qtype == "ANY":
                reply.add_answer(_record(name, rtype.upper(), value))
        return reply


def _record(name: str, rtype: str, value: str) -> Any:
    if rtype == "TXT":
        raw = value.encode()
        chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
        return RR(name + ".", QTYPE.TXT, rdata=TXT(chunks), ttl=TTL)
    return RR.fromZone(f"{name}. {TTL} IN {rtype} {value}")[0]


class DnsServer:
    """An authoritative DNS server on ``host`` with a free port, serving ``zone``."""

    def __init__(self, zone: Zone | None = None, *, host: str = "127.0.0.1") -> None:
        self.zone: Zone = zone if zone is not None else {}
        self.queries: list[tuple[str, str, str]] = []
        self.host = host
        self.port = 0
        self._servers: list[Any] = []
        self._threads: list[threading.Thread] = []

    @property
    def nameservers(self) -> str:
        """This server as a ``DNS_NAMESERVERS`` value."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def start(self) -> DnsServer:
        """Bind UDP and TCP on one free port and serve in background threads."""
        self._servers = _bind_pair(self.host)
        self.port = self._servers[0].server_address[1]
        for server in self._servers:
            server.resolver = _ZoneResolver(self)
            server.logger = DNSLogger(log="error", prefix=False)
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                      name=f"dns-{server.socket_type}-{self.port}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close both sockets (waits at most ``timeout`` per thread)."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout)
        self._servers, self._threads = [], []

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _bind_pair(host: str) -> list[Any]:
    for _ in range(_BIND_ATTEMPTS):
        udp = UDPServer((host, 0), _Handler)
        try:
            return [udp, TCPServer((host, udp.server_address[1]), _Handler)]
        except OSError:  # the TCP side of that port is taken: try another port
            udp.server_close()
    raise RuntimeError(f"no free port for UDP and TCP together on {host}")


def closed_port(host: str = "127.0.0.1") -> int:
    """A UDP port on ``host`` where nothing listens (a DNS server that never answers)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
