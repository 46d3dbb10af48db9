"""The webhook retry schedule on its real databases, beside (not mixed with) the delivery one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from consumers.delivery.retry_store import RetryStore
from consumers.webhooks.retry_store import WebhookRetryStore

NOW = datetime(2026, 3, 15, 14, 30, 0, 123000, tzinfo=UTC)
LEASE = timedelta(minutes=5)

Opener = Callable[[], tuple[WebhookRetryStore, RetryStore]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens both schedules on one database, as two processes would."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    path = tmp_path / "events.sqlite"
    return lambda: (WebhookRetryStore.open(url, path), RetryStore.open(url, path))


def test_webhook_entries_are_claimed_once_and_kept_apart_from_delivery_retries(opener: Opener) -> None:
    webhooks, delivery = opener()
    other, _ = opener()
    delivery_id, message_id = uuid4(), uuid4()
    webhooks.upsert(delivery_id, NOW)
    delivery.upsert(message_id, NOW)

    assert webhooks.claim_due(NOW, 10, LEASE) == [delivery_id]
    assert other.claim_due(NOW, 10, LEASE) == []  # leased to the first claimer
    assert other.due(delivery_id) == NOW + LEASE
    assert delivery.claim_due(NOW, 10, LEASE) == [message_id]
    webhooks.release([delivery_id], NOW)
    assert other.due(delivery_id) == NOW
    webhooks.delete(delivery_id)
    assert (other.due(delivery_id), delivery.due(message_id)) == (None, NOW + LEASE)
