"""The delivery worker's composition: retry schedule setting, signed links, the bus as message store."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from commands.messages import SendEmail
from consumers.delivery.pool import SmtpPool
from consumers.delivery.ports import DeliveryResult
from consumers.delivery.retry import DEFAULT_POLICY
from consumers.delivery.retry import RetryPolicy
from consumers.delivery.retry_store import RetryStore
from consumers.delivery.transport import MaildirTransport
from consumers.delivery.transport import SmtpTransport
from event_store.application import EmailEvents
from mailerlogic.config import Settings
from mailerlogic.delivery import BusMessageStore
from mailerlogic.delivery import SignedTrackingLinks
from mailerlogic.delivery import build_deliverer
from mailerlogic.delivery import build_transport
from mailerlogic.delivery import retry_policy
from security import tokens
from tests.helpers import bus_for
from tests.helpers import new_customer

SECRET = b"test-secret"
S = timedelta(seconds=1)


@pytest.mark.parametrize(("spec", "policy"), [
    (None, DEFAULT_POLICY),
    ("", DEFAULT_POLICY),
    ("first=1,factor=2,max=4,budget=10", RetryPolicy(1 * S, 2.0, 4 * S, 10 * S)),
    ("first=0.5, budget=1", RetryPolicy(first_delay=S / 2, max_delay=timedelta(hours=1), budget=S)),
    ("factor=3", RetryPolicy(factor=3.0)),
])
def test_the_retry_schedule_setting_builds_a_policy(spec: str | None, policy: RetryPolicy) -> None:
    assert retry_policy(spec) == policy


@pytest.mark.parametrize("spec", ["first=x", "every=5", "first=0", "first=10,max=5"])
def test_a_bad_retry_schedule_is_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        retry_policy(spec)


def test_the_worker_uses_the_retry_schedule_of_the_settings_when_there_is_one(tmp_path: Path) -> None:
    plain = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "s"})
    scheduled = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "s",
                                   "MAILERLOGIC_RETRY_SCHEDULE": "first=1,budget=3"})
    events = EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    retries = RetryStore.open(None, tmp_path / "events.sqlite")

    assert build_deliverer(plain, events, retries).policy == DEFAULT_POLICY
    assert build_deliverer(scheduled, events, retries).policy == retry_policy("first=1,budget=3")
    retries.close()


def test_tracking_links_carry_tokens_the_api_verifies() -> None:
    links, message_id = SignedTrackingLinks(SECRET, "https://t.acme.test"), uuid4()

    open_url = links.open_url(message_id)
    click_url = links.click_url(message_id, "https://acme.test/sale?a=1")
    unsubscribe_url = links.unsubscribe_url(message_id)

    for url, kind, data in [(open_url, "o", ""), (click_url, "c", "https://acme.test/sale?a=1"),
                            (unsubscribe_url, "u", "")]:
        prefix = f"https://t.acme.test/track/{kind}/"
        assert url.startswith(prefix)
        assert tokens.verify(SECRET, kind, url.removeprefix(prefix)) == tokens.Token(kind, message_id, data)


def test_the_transport_is_the_relay_when_configured_else_the_maildir(tmp_path: Path) -> None:
    embedded = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "s"})
    relay = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "s",
                               "SMTP_RELAY_URL": "smtp://u:p@relay.test:2525"})

    assert build_transport(embedded) == MaildirTransport(tmp_path / "maildir")
    assert build_transport(relay) == SmtpPool(SmtpTransport("relay.test", 2525, "u", "p"), 8, 100)


def test_the_bus_store_loads_an_outbound_message_and_records_outcomes() -> None:
    bus: Any = bus_for(EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}), SECRET)
    customer, _ = new_customer(bus, "acme.test")
    message = bus.handle(SendEmail(customer.id, "ada@example.org", "Hi", "<p>Hi</p>", None,
                                   bcc=("bo@example.org",), track_clicks=True))
    store = BusMessageStore(bus)
    later = datetime(2026, 3, 15, 15, tzinfo=UTC)

    loaded = store.load(message.id)
    [deferred] = store.record([(message.id, DeliveryResult("deferred", 451, "busy", retry_at=later))])
    reloaded = store.load(message.id)

    outbound = loaded.message
    assert (outbound.message_id, outbound.to, outbound.bcc, outbound.envelope_from) == (
        message.id, ("ada@example.org",), ("bo@example.org",), "noreply@acme.test")
    assert (outbound.domain, outbound.html, outbound.text, outbound.track_clicks) == (
        "acme.test", "<p>Hi</p>", None, True)
    assert loaded.signer is not None and loaded.signer.domain == "acme.test"
    assert (loaded.status, loaded.attempts) == ("queued", 0)
    assert deferred == "deferred"
    assert (reloaded.status, reloaded.attempts, reloaded.retry_at) == ("deferred", 1, later)
    assert store.record([(message.id, DeliveryResult("delivered", 250, "ok",
                                                     recipients=("ada@example.org",)))]) == ["delivered"]


@pytest.mark.parametrize(("given", "expected"), [("0/2", "(0, 2)"), ("3/4", "(3, 4)")])
def test_consume_delivery_takes_a_shard(given: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import mailerlogic.delivery
    from mailerlogic.cli import main

    seen: list[tuple[int, int]] = []
    monkeypatch.setattr(mailerlogic.delivery, "run_delivery", lambda s, stop, shard: seen.append(shard))
    result = CliRunner().invoke(main, ["consume", "delivery", "--shard", given])
    assert (result.exit_code, str(seen[0])) == (0, expected)


@pytest.mark.parametrize("given", ["2/2", "1", "a/b", "-1/2"])
def test_consume_delivery_refuses_a_shard_that_does_not_exist(given: str) -> None:
    from click.testing import CliRunner

    from mailerlogic.cli import main

    result = CliRunner().invoke(main, ["consume", "delivery", "--shard", given])
    assert result.exit_code == 2
    assert "K/N with 0 <= K < N" in result.output


def test_only_delivery_takes_a_shard() -> None:
    from click.testing import CliRunner

    from mailerlogic.cli import main

    result = CliRunner().invoke(main, ["consume", "projector", "--shard", "0/2"])
    assert (result.exit_code, "--shard is for `consume delivery` only" in result.output) == (2, True)


def test_consumer_groups_are_the_plain_names_on_the_default_topic_and_per_topic_otherwise(
        tmp_path: Path) -> None:
    base = {"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "s"}
    default = Settings.from_env(base)
    other = Settings.from_env({**base, "MAILERLOGIC_KAFKA_TOPIC": "ml-e2e-1"})

    assert [default.kafka_group("delivery"), other.kafka_group("delivery")] == [
        "delivery", "delivery.ml-e2e-1"]


@pytest.mark.parametrize(("name", "value", "field", "expected"), [
    ("MAILERLOGIC_DELIVERY_SESSIONS", None, "delivery_sessions", 8),
    ("MAILERLOGIC_DELIVERY_SESSIONS", "32", "delivery_sessions", 32),
    ("MAILERLOGIC_DELIVERY_MESSAGES_PER_SESSION", None, "delivery_messages_per_session", 100),
    ("MAILERLOGIC_DELIVERY_PROCESSES", "3", "delivery_processes", 3),
    ("MAILERLOGIC_RETRY_LEASE", None, "retry_lease_s", 300),
    ("MAILERLOGIC_RETRY_LEASE", "20", "retry_lease_s", 20),
])
def test_delivery_settings(tmp_path: Path, name: str, value: str | None, field: str, expected: int) -> None:
    env = {"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "s"}
    settings = Settings.from_env(env if value is None else {**env, name: value})
    assert getattr(settings, field) == expected


@pytest.mark.parametrize("value", ["0", "257", "x", "-1", "1.5"])
def test_a_bad_session_count_is_refused_with_its_range(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValueError, match="MAILERLOGIC_DELIVERY_SESSIONS must be a whole number from 1 to 256"
                       ):
        Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "s",
                           "MAILERLOGIC_DELIVERY_SESSIONS": value})
