"""The fuzzed API: the embedded default (SQLite event store, chdb) in this process, with data in it.

:func:`seeded` builds the app the way ``mailerlogic api`` does on the embedded default
(``processes.make_app``, so the operator endpoints are there too), then gives it an enterprise
customer with a verified domain, a few messages with every kind of outcome, projected into chdb,
so that the read side answers rows and not only empty lists. What the fuzzer cannot know (ids of
real objects, signed tokens, an inbound report's signature) the target supplies: see
:meth:`Target.real_path_parameters` and :class:`SignReports`.

Only loopback is reached: domain verification asks a DNS server of the test on 127.0.0.1, and
nothing delivers mail or webhooks (no worker runs).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from uuid import UUID

from flask import Flask

from commands.delivery import RecordDeliveryOutcome
from commands.delivery import RecordDeliveryOutcomes
from commands.messages import CreateCustomer
from commands.messages import RecordClick
from commands.messages import RecordOpen
from mailerlogic.config import Settings
from mailerlogic.processes import make_app
from mailerlogic.rebuild_cli import run_here
from security import inbound_signature
from security import tokens
from tests.support.dns_server import DnsServer
from warehouse.clients import ChdbClient
from web.operator_api import operator_token
from web.ratelimit import Decision
from web.ratelimit import RateLimiter

SECRET = "fuzz-secret"
WEBHOOK_SECRET = "fuzz-webhook-secret"
DOMAIN = "fuzz.test"
CLICKED = "https://example.org/landing"
Environ = dict[str, Any]
Wsgi = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]


class Generous:
    """The app's own rate limiter with every limit a thousand times higher.

    The fuzzer sends thousands of requests a minute as one customer; with the tier's limit almost
    all of them would be ``429`` and test nothing else. The algorithm and its headers are the real ones.
    """

    def __init__(self, inner: RateLimiter) -> None:
        self.inner = inner

    def hit(self, key: str, limit: int, now: float) -> Decision:
        """Count the request against a limit 1000 times the tier's."""
        return self.inner.hit(key, limit * 1000, now)


_SIGNING_HEADERS = frozenset({"HTTP_X_MAILERLOGIC_SIGNATURE", "HTTP_X_MAILERLOGIC_TIMESTAMP"})


class SignReports:
    """WSGI middleware: an inbound report that carries both signing headers is signed for real.

    The fuzzer cannot compute the HMAC of the body it generates, so without this every report
    would stop at ``401`` and the report parsers would never see fuzzed input. A request without
    one of the headers is left alone: it must still be refused (adding the missing timestamp
    made the fuzzer's "missing required header" cases pass, a false finding of the 20,000 run).
    """

    def __init__(self, app: Wsgi, secret: bytes) -> None:
        self.app, self.secret = app, secret

    def __call__(self, environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if "/webhooks/" in path and _SIGNING_HEADERS <= set(environ):
            import io

            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            stamp = str(int(time.time()))
            environ["HTTP_X_MAILERLOGIC_TIMESTAMP"] = stamp
            signed = path.replace("/api/v1/", "/api/", 1)  # the canonical path is signed
            environ["HTTP_X_MAILERLOGIC_SIGNATURE"] = inbound_signature.sign(self.secret, stamp, signed, body)
        return self.app(environ, start_response)


class Loopback:
    """WSGI middleware: the caller's address is 127.0.0.1, as behind the API's loopback bind.

    Werkzeug's test client sends no ``REMOTE_ADDR`` at all, and the operator endpoints refuse a
    caller that is not on loopback.
    """

    def __init__(self, app: Wsgi) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ.setdefault("REMOTE_ADDR", "127.0.0.1")
        return self.app(environ, start_response)


@dataclass
class Target:
    """The app under test and what the fuzzer needs to reach its real objects."""

    app: Flask
    key: str
    operator: str
    ids: dict[str, list[str]] = field(default_factory=dict)  # path parameter name -> real values
    answered: Counter[tuple[str, int]] = field(default_factory=Counter)  # (operation path, status)

    def auth(self, path: str) -> str:
        """The bearer token a request to ``path`` should carry."""
        return self.operator if path.startswith("/operator/") else self.key

    def observe(self, path: str, status: int, body: Any) -> None:
        """Count one answer; keep the new key when the fuzzer rotated it (the old one is dead)."""
        self.answered[(path, status)] += 1
        if path.endswith("/customer/rotate-key") and status == 200:
            self.key = body["api_key"]

    def real_path_parameters(self, method: str, names: Iterable[str]) -> dict[str, list[str]]:
        """Real values for the path parameters in ``names`` (none for DELETE: the seed must stay)."""
        if method.upper() == "DELETE":
            return {}
        return {name: self.ids[name] for name in names if name in self.ids}


def settings_for(data: Path, dns: DnsServer) -> Settings:
    """The embedded default in ``data``; DNS only from the test's loopback server."""
    return Settings.from_env({"MAILERLOGIC_DATA_DIR": str(data), "MAILERLOGIC_SECRET_KEY": SECRET,
                              "MAILERLOGIC_WEBHOOK_SECRET": WEBHOOK_SECRET,
                              "DNS_NAMESERVERS": dns.nameservers})


@contextmanager
def seeded(data: Path) -> Iterator[Target]:
    """The app with its seed data; chdb and the DNS server are closed afterwards."""
    with DnsServer() as dns:
        settings = settings_for(data, dns)
        app = make_app(settings)
        try:
            yield _seed(app, settings, dns)
        finally:
            _rebuilt(app)
            app.extensions["events"].close()
            for client in list(ChdbClient._clients.values()):
                client.close()


def _rebuilt(app: Flask, within_s: float = 120.0) -> None:
    """Wait for a rebuild the fuzzer started: it must not lose chdb under its feet."""
    deadline = time.monotonic() + within_s
    while app.extensions["operator"]["job"].status()["state"] == "running":
        assert time.monotonic() < deadline, "the rebuild the fuzzer started did not end"
        time.sleep(0.1)


def _seed(app: Flask, settings: Settings, dns: DnsServer) -> Target:
    app.extensions["ratelimit"] = Generous(app.extensions["ratelimit"])
    app.wsgi_app = Loopback(SignReports(app.wsgi_app, settings.webhook_secret))  # type: ignore[method-assign]
    bus = app.extensions["bus"]
    _, key = bus.handle(CreateCustomer("Fuzz", f"ops@{DOMAIN}", "enterprise", (DOMAIN,)))
    target = Target(app, key, operator_token(settings.secret_key))
    client, auth = app.test_client(), {"Authorization": f"Bearer {key}"}
    domain = client.get("/api/customer/domains", headers=auth).get_json()["domains"][0]
    dns.zone.update(_zone(domain["dns_records"]))  # verifying the seeded domain keeps it verified
    sent = [client.post("/api/send", headers=auth, json={
        "to": f"r{n}@example.org", "subject": f"Hello {n}", "html": f'<a href="{CLICKED}">go</a>',
        "tag": "seed"}).get_json()["message_id"] for n in range(4)]
    _outcomes(bus, [UUID(m) for m in sent])
    hook = client.post("/api/customer/webhooks", headers=auth, json={
        "url": "https://hooks.example.org/in", "events": ["email.delivered"]}).get_json()
    export = client.post("/api/exports", headers=auth, json={"kind": "stats", "format": "csv"}).get_json()
    run_here(settings, [], lambda step: None, events=app.extensions["events"])  # project into chdb
    secret = settings.secret_key
    target.ids = {
        "domain_id": [domain["id"]], "endpoint_id": [hook["webhook"]["id"]],
        "export_id": [export["export_id"]], "email_id": sent,
        "token": [tokens.mint(secret, "o", UUID(sent[0])), tokens.mint(secret, "c", UUID(sent[1]), CLICKED),
                  tokens.mint(secret, "u", UUID(sent[2]))],
        "email": ["r3@example.org"], "kind": ["bounce", "complaint"]}
    return target


def _outcomes(bus: Any, sent: list[UUID]) -> None:
    """Delivered, opened, clicked, bounced: one message each."""
    bus.handle(RecordDeliveryOutcomes([RecordDeliveryOutcome(m, "delivered", 250, "ok") for m in sent[:3]]
                                      + [RecordDeliveryOutcome(sent[3], "bounced", 550, "no such user",
                                                               status="5.1.1")]))
    bus.handle(RecordOpen(sent[0], "Mozilla/5.0 Thunderbird", "127.0.0.1"))
    bus.handle(RecordClick(sent[1], CLICKED, "Mozilla/5.0 Firefox", "127.0.0.1"))


def _zone(records: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    zone: dict[str, list[tuple[str, str]]] = {}
    for record in records:
        zone.setdefault(record["host"], []).append((record["type"], record["value"]))
    return zone
