"""Per-recipient outcomes end to end: a real SQLite event store, a real SMTP relay on loopback
(through the session pool), then the notification log projected into ClickHouse (both backends).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from commands.messages import SendEmail
from consumers.clickhouse_sink import ClickHouseSink
from consumers.delivery.pool import SmtpPool
from consumers.delivery.retry import RetryPolicy
from consumers.delivery.retry_store import RetryStore
from consumers.delivery.transport import SmtpTransport
from consumers.delivery.worker import Deliverer
from consumers.delivery.worker import DeliverySink
from event_store.application import EmailEvents
from event_store.application import persistence_env
from event_store.errors import DomainError
from event_store.feed import NotificationFeed
from mailerlogic.delivery import BusMessageStore
from mailerlogic.delivery import SignedTrackingLinks
from read_api import views
from tests.helpers import bus_for
from tests.helpers import new_customer
from tests.support.smtp_server import SmtpServer
from tests.support.smtp_server import start_smtp_server
from warehouse.port import ClickHouse

pytestmark = pytest.mark.smtp

SECRET = b"integration-secret"
MS = timedelta(milliseconds=1)
POLICY = RetryPolicy(first_delay=200 * MS, factor=2, max_delay=400 * MS, budget=600 * MS)
TO, BCC = "ann@example.org", "bo@example.org"
GONE, FULL = "reject-cy@example.org", "full-di@example.org"


@dataclass
class Rig:
    """One delivery worker (with an SMTP session pool) over one SQLite file and one relay."""

    app: EmailEvents
    bus: Any
    customer: Any
    smtp: SmtpServer
    deliverer: Deliverer

    def send(self, to: str, cc: tuple[str, ...] = (), bcc: tuple[str, ...] = ()) -> UUID:
        message = self.bus.handle(SendEmail(self.customer.id, to, "Spring sale", "<p>Sale</p>",
                                            "Sale", cc=cc, bcc=bcc))
        return UUID(str(message.id))

    def deliver_queued(self) -> None:
        DeliverySink(self.deliverer).write(self.envelopes())

    def envelopes(self) -> list[Any]:
        return NotificationFeed(self.app).read(0, 1000).envelopes

    def events(self, message_id: UUID) -> list[Any]:
        return list(self.app.repository.event_store.get(message_id))[1:]

    def suppression_sources(self, address: str) -> dict[UUID | None, str] | None:
        record = self.app.suppression(self.customer.id, address)
        return None if record is None else {k: e["source"] for k, e in record.entries.items()}


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    path = tmp_path / "events.sqlite"
    app = EmailEvents(env=persistence_env(None, str(path)))
    bus = bus_for(app, SECRET)
    customer, _ = new_customer(bus, "acme.test")
    smtp = start_smtp_server()
    pool = SmtpPool(SmtpTransport.from_url(smtp.url, timeout_s=5, local_hostname="worker.test"),
                    max_sessions=3)
    deliverer = Deliverer(BusMessageStore(bus), pool, SignedTrackingLinks(SECRET, "http://mail.acme.test"),
                          RetryStore.open(None, path), POLICY, concurrency=3)
    yield Rig(app, bus, customer, smtp, deliverer)
    deliverer.close()
    smtp.stop()


def rows(client: ClickHouse, email_id: UUID) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in client.execute(
        "SELECT event_type, recipient, bounce_type, smtp_code FROM events"
        " WHERE email_id = %(email_id)s ORDER BY position", {"email_id": email_id})]


def test_a_refused_cc_bounces_on_its_own_and_the_others_are_delivered(rig: Rig) -> None:
    message_id = rig.send(TO, cc=(GONE,), bcc=(BCC,))

    rig.deliver_queued()

    [received] = rig.smtp.received
    assert received.rcpt_tos == (TO, BCC)
    bounced, delivered = rig.events(message_id)
    assert (type(bounced).__name__, bounced.recipient, bounced.bounce_type, bounced.status,
            bounced.smtp_code, bounced.diagnostic, bounced.source) == (
        "RecipientBounced", GONE, "hard", "5.1.1", 550, "5.1.1 No such user", "smtp")
    assert (type(delivered).__name__, delivered.smtp_code, delivered.recipients) == (
        "Delivered", 250, [TO, BCC])
    assert rig.app.get_message(message_id).status == "delivered"
    assert [(e.event_type, e.payload["recipient"]) for e in rig.envelopes()
            if e.email_id == message_id] == [
        ("queued", TO), ("bounced", GONE), ("delivered", TO), ("suppressed", GONE)]


def test_a_hard_bounced_cc_is_suppressed_and_refused_at_send_time(rig: Rig) -> None:
    rig.send(TO, cc=(GONE,), bcc=(BCC,))
    rig.deliver_queued()

    assert rig.suppression_sources(GONE) == {None: "bounce"}
    assert (rig.suppression_sources(TO), rig.suppression_sources(BCC)) == (None, None)
    with pytest.raises(DomainError) as as_to:
        rig.send(GONE)
    with pytest.raises(DomainError) as as_cc:
        rig.send("eve@example.org", cc=(GONE,))
    assert (as_to.value.code, as_cc.value.code) == ("recipient_suppressed", "recipient_suppressed")
    rig.send(BCC)  # the delivered recipients may still be mailed


def test_a_full_mailbox_is_a_soft_bounce_that_suppresses_nobody(rig: Rig,
                                                                  clickhouse: ClickHouse) -> None:
    message_id = rig.send(TO, cc=(FULL,))

    rig.deliver_queued()
    ClickHouseSink(clickhouse).write(rig.envelopes())

    bounced, delivered = rig.events(message_id)
    assert (type(bounced).__name__, bounced.bounce_type, bounced.status, bounced.smtp_code) == (
        "RecipientBounced", "soft", "5.2.2", 552)
    assert delivered.recipients == [TO]
    assert rig.suppression_sources(FULL) is None
    assert rows(clickhouse, message_id) == [
        ("queued", TO, "", 0), ("bounced", FULL, "soft", 552), ("delivered", TO, "", 250)]
    rig.send(FULL)  # not suppressed: may be mailed again


def test_outbound_totals_count_each_recipients_outcome(rig: Rig, clickhouse: ClickHouse) -> None:
    plain = [rig.send(to) for to in ("ann@example.org", "bea@example.org", "cal@example.org")]
    all_refused = rig.send("reject-dan@example.org")
    cc_bounce = rig.send("eve@example.org", cc=(GONE,))
    deferred = rig.send("defer-fay@example.org")
    start = datetime.now(UTC) - timedelta(hours=1)

    rig.deliver_queued()
    ClickHouseSink(clickhouse).write(rig.envelopes())

    assert sorted(r.rcpt_tos for r in rig.smtp.received) == [
        ("ann@example.org",), ("bea@example.org",), ("cal@example.org",), ("eve@example.org",)]
    assert [rig.app.get_message(m).status for m in [*plain, all_refused, cc_bounce, deferred]] == [
        "delivered", "delivered", "delivered", "bounced", "delivered", "deferred"]
    assert rows(clickhouse, all_refused) == [
        ("queued", "reject-dan@example.org", "", 0), ("bounced", "reject-dan@example.org", "hard", 550),
        ("suppressed", "reject-dan@example.org", "", 0)]
    totals = views.outbound_totals(clickhouse, customer_id=rig.customer.id, start=start,
                                   end=start + timedelta(hours=3))
    sent, delivered, bounced = 6, 4, 2  # 3 plain + eve's (her cc bounced); dan's and the cc's
    assert (totals["sent"], totals["delivered"], totals["bounced"], totals["failed"]) == (
        sent, delivered, bounced, 0)
    assert totals["delivery_rate"] == round(100 * delivered / sent, 2) == 66.67
    assert totals["bounce_rate"] == round(100 * bounced / sent, 2) == 33.33
