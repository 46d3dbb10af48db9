"""The app's test client with customers of any tier (shared by the Events API tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID
from uuid import uuid4

from flask.testing import FlaskClient

from event_store.application import EmailEvents
from tests.helpers import bus_for
from tests.helpers import new_customer


@dataclass
class Api:
    """The app's test client and a way to make customers of any tier."""

    client: FlaskClient
    events: EmailEvents

    def customer(self, tier: str = "enterprise") -> tuple[UUID, str]:
        """A new customer's id and API key."""
        domain = f"c{uuid4().hex[:8]}.test"
        account, key = new_customer(bus_for(self.events, b"k"), domain, tier=tier)
        return account.id, key

    def get(self, path: str, key: str, **query: Any) -> Any:
        """GET with the key; the response (not read yet)."""
        return self.client.get(path, query_string=query or None, headers={"X-API-Key": key})
