"""The delivery worker on a real SQLite event store, a real SMTP relay and a real DNS server (loopback)."""

from __future__ import annotations

import email
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default
from html import unescape
from pathlib import Path
from typing import Any
from uuid import UUID

import dkim
import pytest
from dns.resolver import Resolver

from commands.messages import SendEmail
from consumers import loop
from consumers.delivery.retry import RetryPolicy
from consumers.delivery.retry_store import RetryStore
from consumers.delivery.transport import SmtpTransport
from consumers.delivery.worker import Deliverer
from consumers.delivery.worker import DeliverySink
from consumers.delivery.worker import run_retries
from consumers.log_source import LogSource
from event_store.aggregates import Message
from event_store.application import EmailEvents
from event_store.application import persistence_env
from event_store.feed import NotificationFeed
from mailerlogic.config import Settings
from mailerlogic.delivery import BusMessageStore
from mailerlogic.delivery import SignedTrackingLinks
from tests.fakes import ListDeadLetters
from tests.helpers import bus_for
from tests.helpers import new_customer
from tests.support.dns_server import DnsServer
from tests.support.smtp_server import SmtpServer
from tests.support.smtp_server import start_smtp_server
from web.app import create_app

pytestmark = [pytest.mark.smtp, pytest.mark.dns]

SECRET = b"integration-secret"
PUBLIC = "http://mail.acme.test"
MS = timedelta(milliseconds=1)
POLICY = RetryPolicy(first_delay=200 * MS, factor=2, max_delay=400 * MS, budget=600 * MS)  # 0.2 s, 0.4 s
SALE = "https://acme.test/sale?a=1&b=2"


@dataclass
class Rig:
    """One delivery process's worth of real collaborators over one SQLite file."""

    path: Path
    app: EmailEvents
    bus: Any
    customer: Any
    smtp: SmtpServer

    def send(self, to: str) -> UUID:
        html = f'<html><body><p><a href="{SALE.replace("&", "&amp;")}">Sale</a></p></body></html>'
        message = self.bus.handle(SendEmail(self.customer.id, to, "Spring sale", html, f"Sale: {SALE}",
                                            track_opens=True, track_clicks=True))
        return UUID(str(message.id))

    def deliverer(self, store: Any = None) -> Deliverer:
        """A fresh worker, as a restarted process would build it."""
        return Deliverer(store or BusMessageStore(bus_for(self.app, SECRET)),
                         SmtpTransport.from_url(self.smtp.url, timeout_s=5, local_hostname="worker.test"),
                         SignedTrackingLinks(SECRET, PUBLIC), RetryStore.open(None, self.path), POLICY)

    def events(self, message_id: UUID) -> list[Any]:
        return list(self.app.repository.event_store.get(message_id))[1:]

    def queued(self) -> list[Any]:
        return NotificationFeed(self.app).read(0, 1000).envelopes


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    path = tmp_path / "events.sqlite"
    app = EmailEvents(env=persistence_env(None, str(path)))
    bus = bus_for(app, SECRET)
    customer, _ = new_customer(bus, "acme.test")
    smtp = start_smtp_server()
    yield Rig(path, app, bus, customer, smtp)
    smtp.stop()


def retry_until_final(deliverer: Deliverer, rig: Rig, ids: list[UUID], seconds: float = 15) -> None:
    """Run the retry loop in a thread until every message is final (bounded)."""
    stop = threading.Event()
    thread = threading.Thread(target=run_retries, args=(deliverer, stop), kwargs={"every_s": 0.05})
    thread.start()
    try:
        for _ in range(int(seconds / 0.05)):
            if all(rig.app.get_message(i).status in ("delivered", "bounced", "failed") for i in ids):
                return
            stop.wait(0.05)
        raise AssertionError({i: rig.app.get_message(i).status for i in ids})
    finally:
        stop.set()
        thread.join(10)


def parse(data: bytes) -> EmailMessage:
    mail = email.message_from_bytes(data, policy=default)
    assert isinstance(mail, EmailMessage)
    return mail


def dns_lookup(server: DnsServer) -> Any:
    resolver = Resolver(configure=False)
    resolver.nameservers, resolver.port = [server.host], server.port

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        answer = resolver.resolve(name.decode().rstrip("."), "TXT", lifetime=timeout)
        return b"".join(b"".join(record.strings) for record in answer)

    return lookup


def test_accepted_deferred_rejected_and_recovering_messages_get_the_right_events(rig: Rig) -> None:
    flaky, ok, busy, gone = (rig.send(to) for to in ("flaky@example.org", "ann@example.org",
                                                    "defer-bo@example.org", "reject-cy@example.org"))
    rig.smtp.fail_next(1)  # the first transaction (flaky's) gets a 451 at DATA
    deliverer = rig.deliverer()

    DeliverySink(deliverer).write(rig.queued())
    retry_until_final(deliverer, rig, [flaky, busy])

    def kinds(message_id: UUID) -> list[tuple[str, int, int | None]]:
        return [(type(e).__name__, e.smtp_code, getattr(e, "attempt", None)) for e in rig.events(message_id)]

    assert kinds(ok) == [("Delivered", 250, 1)]
    assert kinds(flaky) == [("Deferred", 451, 1), ("Delivered", 250, 2)]
    assert kinds(busy) == [("Deferred", 451, 1), ("Deferred", 451, 2), ("Failed", 451, 3)]
    assert kinds(gone) == [("Bounced", 550, None)]
    [bounced] = rig.events(gone)
    assert (bounced.bounce_type, bounced.status, bounced.source) == ("hard", "5.1.1", "smtp")
    first, second, _ = rig.events(busy)
    assert first.retry_at - first.timestamp == pytest.approx(timedelta(seconds=0.2), abs=50 * MS)
    assert second.retry_at - second.timestamp == pytest.approx(timedelta(seconds=0.4), abs=50 * MS)
    assert "retry budget spent" in rig.events(busy)[-1].detail
    assert [r.rcpt_tos for r in rig.smtp.received] == [("ann@example.org",), ("flaky@example.org",)]
    schedule = RetryStore.open(None, rig.path)
    assert [schedule.due(i) for i in (flaky, ok, busy, gone)] == [None] * 4  # every entry forgotten


def test_the_delivered_mime_is_signed_and_its_tracking_links_work(rig: Rig, tmp_path: Path) -> None:
    message_id = rig.send("ann@example.org")
    DeliverySink(rig.deliverer()).write(rig.queued())
    [received] = rig.smtp.received
    mail = parse(received.data)
    domain = next(iter(rig.customer.domains.values()))
    zone = {f"{domain['dkim_selector']}._domainkey.acme.test":
            [("TXT", f"v=DKIM1; k=rsa; p={domain['dkim_public_key']}")]}

    with DnsServer(zone) as server:
        assert dkim.verify(received.data, dnsfunc=dns_lookup(server)) is True
    assert (received.mail_from, mail["Message-ID"]) == ("noreply@acme.test", f"<{message_id}@acme.test>")
    assert mail["List-Unsubscribe"].startswith(f"<{PUBLIC}/track/u/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = mail.get_body(("html",)).get_content()
    [click] = re.findall(r'href="([^"]+)"', html)
    [pixel] = re.findall(r'<img src="([^"]+)"', html)
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path),
                                  "MAILERLOGIC_SECRET_KEY": SECRET.decode()})
    client = create_app(settings, events=rig.app, clickhouse=lambda: None).test_client()
    clicked = client.get(unescape(click).removeprefix(PUBLIC), headers={"User-Agent": "Mozilla/5.0"})
    opened = client.get(unescape(pixel).removeprefix(PUBLIC), headers={"User-Agent": "Mozilla/5.0"})
    assert (clicked.status_code, clicked.headers["Location"]) == (302, SALE)
    assert (opened.status_code, opened.mimetype) == (200, "image/gif")
    text = mail.get_body(("plain",)).get_content()
    assert f"{PUBLIC}/track/c/" in text and SALE not in text


class CrashingStore:
    """A store whose first ``record`` dies, like a worker killed right after the relay's 250."""

    def __init__(self, inner: BusMessageStore) -> None:
        self.inner, self.crashed = inner, False

    def load(self, message_id: UUID) -> Any:
        return self.inner.load(message_id)

    def record(self, results: Any) -> list[str]:
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("killed")
        return self.inner.record(results)


def test_a_crash_after_the_relay_accepted_resends_with_the_same_message_id(rig: Rig) -> None:
    message_id = rig.send("ann@example.org")
    feed = NotificationFeed(rig.app)
    crashing = rig.deliverer(CrashingStore(BusMessageStore(bus_for(rig.app, SECRET))))

    with pytest.raises(RuntimeError, match="killed"):
        loop.run(LogSource(feed, "delivery"), DeliverySink(crashing), ListDeadLetters(),
                 loop.Limits(max_wait_s=0), StopAfter(3))
    assert feed.position("delivery") == 0  # nothing committed
    loop.run(LogSource(feed, "delivery"), DeliverySink(rig.deliverer()), ListDeadLetters(),
             loop.Limits(max_wait_s=0), StopAfter(3))
    loop.run(LogSource(feed, "delivery"), DeliverySink(rig.deliverer()), ListDeadLetters(),
             loop.Limits(max_wait_s=0), StopAfter(3))  # a third start finds nothing to do

    first, second = (parse(r.data) for r in rig.smtp.received)
    assert first["Message-ID"] == second["Message-ID"] == f"<{message_id}@acme.test>"
    assert first.get_body(("html",)).get_content() == second.get_body(("html",)).get_content()
    assert [type(e) for e in rig.events(message_id)] == [Message.Delivered]
    assert feed.position("delivery") == feed.head()


class StopAfter(threading.Event):
    """Reads as set after ``checks`` checks, so each loop run is bounded."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.left = checks

    def is_set(self) -> bool:
        self.left -= 1
        return self.left < 0


def test_a_deferred_message_survives_a_restart_of_the_worker(rig: Rig) -> None:
    message_id = rig.send("flaky@example.org")
    rig.smtp.fail_next(1)
    DeliverySink(rig.deliverer()).write(rig.queued())  # this process then dies

    restarted = rig.deliverer()
    DeliverySink(restarted).write(rig.queued())  # replayed: left to the schedule
    assert len(rig.smtp.received) == 0
    retry_until_final(restarted, rig, [message_id])

    assert [type(e) for e in rig.events(message_id)] == [Message.Deferred, Message.Delivered]
    assert len(rig.smtp.received) == 1
