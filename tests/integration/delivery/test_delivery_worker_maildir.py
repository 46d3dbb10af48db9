"""The delivery worker of the embedded default: a real SQLite event store and the Maildir, with a pool."""

from __future__ import annotations

import mailbox
from pathlib import Path

from commands.messages import SendEmail
from consumers.delivery.worker import DeliverySink
from event_store.aggregates import Message
from event_store.application import EmailEvents
from event_store.application import persistence_env
from event_store.feed import NotificationFeed
from mailerlogic.config import Settings
from mailerlogic.delivery import build_deliverer
from mailerlogic.delivery import open_retries
from tests.helpers import bus_for
from tests.helpers import new_customer


def test_a_pool_of_workers_fills_a_fresh_maildir_once_per_message(tmp_path: Path) -> None:
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "s"})
    app = EmailEvents(env=persistence_env(None, str(tmp_path / "events.sqlite")))
    bus = bus_for(app, settings.secret_key)
    customer, _ = new_customer(bus, "acme.test")
    ids = [bus.handle(SendEmail(customer.id, f"r{i}@example.org", "Hi", None, "Hi")).id for i in range(12)]
    sink = DeliverySink(build_deliverer(settings, app, open_retries(settings)))

    sink.write(NotificationFeed(app).read(0, 100).envelopes)
    sink.write(NotificationFeed(app).read(0, 100).envelopes)  # redelivered: nothing new
    sink.close()

    box = mailbox.Maildir(tmp_path / "maildir", create=False)
    assert sorted(box[key]["Message-ID"] for key in box.keys()) == sorted(f"<{i}@acme.test>" for i in ids)
    assert all([type(e) for e in app.repository.event_store.get(i)][1:] == [Message.Delivered] for i in ids)
