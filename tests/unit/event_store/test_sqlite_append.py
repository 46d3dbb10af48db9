"""SharedFlushRecorder and GroupSync: eventsourcing's rows, its read semantics, one flush for many saves."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.sqlite import SQLiteDatastore

from commands.messages import SendEmail
from event_store.aggregates import Message
from event_store.application import EmailEvents
from event_store.application import open_application
from event_store.sqlite_append import GroupSync
from tests.helpers import bus_for
from tests.helpers import new_customer

QUEUED = "event_store.aggregates.message:Message.Queued"


def _send(events: EmailEvents, customer_id: object, n: int) -> Message:
    message: Message = bus_for(events).handle(SendEmail(customer_id, f"u{n}@example.com", "Hi", None, "hi",
                                                        domain="acme.test"))
    return message


def test_saved_events_are_eventsourcings_own_rows(tmp_path: Path) -> None:
    path = str(tmp_path / "events.sqlite")
    events = open_application(None, path)
    customer, _ = new_customer(bus_for(events), "acme.test")
    sent = [_send(events, customer.id, n) for n in range(3)]
    events.close()
    # A fresh application reads them back through the library's own recorder and repository.
    again = open_application(None, path)
    library = SQLiteApplicationRecorder(SQLiteDatastore(path))
    stored = library.select_notifications(1, 1000, topics=[QUEUED])
    assert [n.originator_id for n in stored] == [m.id for m in sent]
    assert [again.get_message(m.id).to for m in sent] == ["u0@example.com", "u1@example.com",
                                                         "u2@example.com"]
    assert [n.id for n in stored] == sorted(n.id for n in stored)
    again.close()


def test_select_events_answers_like_the_library(tmp_path: Path) -> None:
    path = str(tmp_path / "events.sqlite")
    events = open_application(None, path)
    customer, _ = new_customer(bus_for(events), "acme.test")
    library = SQLiteApplicationRecorder(SQLiteDatastore(path))
    ours = events.recorder_
    for kwargs in ({}, {"gt": 1}, {"lte": 2}, {"gt": 1, "lte": 3}, {"desc": True},
                   {"desc": True, "limit": 2}, {"limit": 1}, {"gt": 99}):
        got = ours.select_events(customer.id, **kwargs)  # type: ignore[arg-type]
        want = library.select_events(customer.id, **kwargs)  # type: ignore[arg-type]
        assert got == want, kwargs
    assert len(library.select_events(customer.id)) >= 2  # the comparison saw real histories
    assert ours.select_events(uuid4()) == []
    events.close()


def test_a_version_already_taken_is_an_integrity_error_and_writes_nothing(tmp_path: Path) -> None:
    events = open_application(None, str(tmp_path / "events.sqlite"))
    customer, _ = new_customer(bus_for(events), "acme.test")
    first = events.get(customer.id, type(customer), "customer")
    second = events.get(customer.id, type(customer), "customer")
    first.change_profile({"name": "One"})
    second.change_profile({"name": "Two"})
    events.save(first)
    head = events.recorder_.max_notification_id()
    with pytest.raises(IntegrityError):
        events.save(second)
    assert events.recorder_.max_notification_id() == head
    assert events.get(customer.id, type(customer), "customer").name == "One"
    events.close()


def test_each_save_is_counted_written_and_flushed(tmp_path: Path) -> None:
    events = open_application(None, str(tmp_path / "events.sqlite"))
    customer, _ = new_customer(bus_for(events), "acme.test")
    sync = GroupSync(str(tmp_path / "events.sqlite"))
    written, synced = sync.read()
    assert written == synced > 0
    for n in range(5):
        _send(events, customer.id, n)
    assert sync.read() == (written + 5, written + 5)
    events.close()


def test_a_write_already_covered_by_a_flush_flushes_nothing(tmp_path: Path) -> None:
    (tmp_path / "db-wal").write_bytes(b"")
    sync = GroupSync(str(tmp_path / "db"))
    first, second = sync.written(), sync.written()
    sync.wait_durable(second)  # one flush covers both writes
    assert (sync.flushes, sync.read()) == (1, (2, 2))
    sync.wait_durable(first)
    assert sync.flushes == 1
    third = sync.written()
    sync.wait_durable(third)
    assert (sync.flushes, sync.read()) == (2, (3, 3))


def _append_in_child(path: str, customer_id: str, start: int, ready: object, out: object) -> None:
    from uuid import UUID

    events = open_application(None, path)
    ready.wait(30)  # type: ignore[attr-defined]
    ids = [str(_send(events, UUID(customer_id), start + k).id) for k in range(25)]
    out.put(ids)  # type: ignore[attr-defined]
    events.close()


def test_processes_appending_at_once_all_land_and_every_write_is_flushed(tmp_path: Path) -> None:
    path = str(tmp_path / "events.sqlite")
    events = open_application(None, path)
    customer, _ = new_customer(bus_for(events), "acme.test")
    before, _ = GroupSync(path).read()
    events.close()
    context = multiprocessing.get_context("fork")
    ready, out = context.Barrier(4), context.Queue()
    children = [context.Process(target=_append_in_child, args=(path, str(customer.id), n * 100, ready, out))
                for n in range(4)]
    for child in children:
        child.start()
    sent = [message_id for _ in children for message_id in out.get(timeout=120)]
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    assert len(set(sent)) == 100
    reader = open_application(None, path)
    stored = reader.recorder_.select_notifications(1, 10_000, topics=[QUEUED])
    assert sorted(str(n.originator_id) for n in stored) == sorted(sent)
    assert GroupSync(path).read() == (before + 100, before + 100)
    reader.close()
    assert os.path.exists(f"{path}.sync")
