"""The event store on its real databases: SQLite (file) and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from commands.messages import SendEmail
from event_store.application import EmailEvents
from event_store.application import persistence_env
from event_store.feed import NotificationFeed
from tests.helpers import bus_for
from tests.helpers import new_customer


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return persistence_env(None, str(tmp_path / "events.sqlite"))
    return persistence_env(request.getfixturevalue("postgres_url"), "")


def _customer(app: EmailEvents) -> Any:
    customer, _ = new_customer(bus_for(app), "acme.test")
    return customer


def send_email(cmd: SendEmail, app: EmailEvents) -> Any:
    return bus_for(app).handle(cmd)


def test_feed_reads_envelopes_in_commit_order_and_positions_survive_a_restart(
    store_env: dict[str, str],
) -> None:
    app = EmailEvents(env=store_env)
    customer = _customer(app)
    ids = [send_email(SendEmail(customer.id, f"r{i}@x.test", "s", None, "t"), app).id  # type: ignore[attr-defined]
           for i in range(5)]
    feed = NotificationFeed(app)
    page = feed.read(0, 100)
    assert [e.email_id for e in page.envelopes] == ids
    assert [e.position for e in page.envelopes] == [5, 6, 7, 8, 9]  # after customer, domain, key, claim
    feed.record("projector", 6)
    restarted = NotificationFeed(EmailEvents(env=store_env))
    assert restarted.position("projector") == 6
    assert [e.position for e in restarted.read(6, 100).envelopes] == [7, 8, 9]
    restarted.record("projector", 5)  # positions never move back
    assert restarted.position("projector") == 6


def test_concurrent_writers_get_unique_gapless_positions(store_env: dict[str, str]) -> None:
    app = EmailEvents(env=store_env)
    customer = _customer(app)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for i in range(20):
                send_email(SendEmail(customer.id, f"w{i}@x.test", "s", None, "t"), app)  # type: ignore[attr-defined]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    positions = [e.position for e in NotificationFeed(app).read(0, 1000).envelopes]
    assert positions == list(range(5, 85))


def _big_messages(customer: Any, count: int, size: int) -> list[Any]:
    from event_store.aggregates import Message

    domain = next(iter(customer.domains.values()))
    return [Message(customer_id=customer.id, to=f"r{i}@example.org", from_address="news@acme.test",
                    subject="s", html="<p>" + "x" * size + "</p>", text="t", reply_to=None, cc=[],
                    bcc=[], headers={}, tag=None, metadata={}, domain="acme.test",
                    domain_id=domain["id"], track_opens=True, track_clicks=True)
            for i in range(count)]


def test_a_save_of_several_megabytes_commits_whole_with_its_positions_in_order(
        store_env: dict[str, str]) -> None:
    app = EmailEvents(env=store_env)
    customer = _customer(app)
    head = NotificationFeed(app).head()
    messages = _big_messages(customer, 140, 55_000)  # ~7.7 MB: hung psycopg's pipeline

    recordings = app.save(*messages)

    assert [r.notification.id for r in recordings] == list(range(head + 1, head + 141))
    envelopes = NotificationFeed(app).read(head, 1000).envelopes
    assert [(e.position, e.email_id) for e in envelopes] == [
        (head + 1 + i, m.id) for i, m in enumerate(messages)]
    assert app.get_message(messages[-1].id).html == "<p>" + "x" * 55_000 + "</p>"


def test_a_large_save_that_conflicts_writes_nothing_and_raises_the_integrity_error(
        store_env: dict[str, str]) -> None:
    from eventsourcing.persistence import IntegrityError

    app = EmailEvents(env=store_env)
    customer = _customer(app)
    head = NotificationFeed(app).head()
    first, *others = _big_messages(customer, 40, 55_000)
    app.save(first)
    copy = app.get_message(first.id)
    again = app.get_message(first.id)
    copy.record_failed(0, "one")
    app.save(copy)
    again.record_failed(0, "two")  # stale: same version as the saved one

    with pytest.raises(IntegrityError):
        app.save(again, *others)
    assert NotificationFeed(app).head() == head + 2
