"""One customer's mail, written the way the projector writes it, and what the API must show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from uuid import UUID
from uuid import uuid4

from consumers.clickhouse_sink import ClickHouseSink
from event_store.envelope import Envelope
from tests.helpers import envelope
from warehouse.port import ClickHouse

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
STATUS = {"queued": "pending", "sent": "delivered", "delivered": "delivered", "bounced": "failed",
          "failed": "failed", "opened": "engaged", "clicked": "engaged", "complained": "complained",
          "unsubscribed": "unsubscribed"}
SHOWN = ("recipient", "from_address", "tag")
ADA = {"recipient": "Ada.Lovelace@Example.ORG", "from_address": "News@Acme.test", "tag": "welcome",
       "domain": "acme.test"}
BOB = {"recipient": "bob@example.net", "from_address": "billing@acme.test", "tag": "invoice",
       "domain": "acme.test"}
# Quotes, a comma, a backslash and a line break: CSV and JSON must carry them exactly.
CAROL = {"recipient": "carol@exämple.com", "from_address": "news@other.example",
         "tag": 'say "hi", \\ ok\nbye', "domain": "other.example"}
METADATA = {"plan": "pro", "tag": "inner", "nested": {"recipient": "deep", "list": [1, "a,b"]}}


@dataclass(frozen=True)
class Step:
    """One event: which email, type, minutes before NOW, extra payload."""

    email: str
    kind: str
    minutes: float
    extra: dict[str, Any]


PEOPLE = {"ada": ADA, "bob": BOB, "carol": CAROL, "old": BOB}
STEPS = [
    Step("ada", "queued", 60, {"subject": "Hi", "metadata": METADATA, "recipients": 1}),
    Step("ada", "sent", 59, {"smtp_code": 250, "reason": "250 2.0.0 queued as 1A", "attempt": 1}),
    Step("ada", "opened", 50, {"user_agent": "Mozilla/5.0", "ip": "203.0.113.5"}),
    Step("ada", "clicked", 49, {"user_agent": "Mozilla/5.0", "ip": "203.0.113.5",
                                "url": "https://acme.test/a?b=1,2"}),
    Step("bob", "queued", 45, {"subject": "Invoice", "metadata": {}}),
    Step("bob", "bounced", 44, {"smtp_code": 550, "bounce_type": "hard", "reason": "550 5.1.1 no such user"}),
    Step("ada", "opened", 40, {"user_agent": "Mozilla/5.0", "ip": "198.51.100.7"}),
    Step("carol", "queued", 30, {"subject": "Ünïcode", "metadata": {"tag": "x"}}),
    Step("carol", "failed", 29, {"smtp_code": 0, "reason": "no MX", "attempt": 3}),
    Step("ada", "complained", 20, {"feedback_type": "abuse"}),
    Step("ada", "unsubscribed", 19, {"source": "link", "reason": None}),
    Step("carol", "suppressed", 18, {}),  # internal: never shown
    Step("old", "queued", 366 * 24 * 60, {"subject": "Old"}),  # outside 365 days: never shown
    Step("old", "sent", 364 * 24 * 60, {"smtp_code": 250, "reason": "250 ok", "attempt": 1}),
]


@dataclass
class Story:
    """The envelopes of STEPS for one customer, and its email ids by person."""

    customer: UUID
    emails: dict[str, UUID]
    envelopes: list[Envelope]

    def expected(self, keep: Any = lambda e: True) -> list[dict[str, Any]]:
        """The API events of the visible envelopes that ``keep`` accepts, newest first."""
        visible = [e for e in self.envelopes if e.event_type in STATUS
                   and e.occurred_at >= NOW - timedelta(days=365) and keep(e)]
        return [shown(e) for e in sorted(visible, key=lambda e: e.occurred_at, reverse=True)]


def shown(e: Envelope) -> dict[str, Any]:
    """The API event of one envelope (what the contract says, written out independently)."""
    return {
        "id": str(e.event_id), "email_id": str(e.email_id), "customer_id": str(e.customer_id),
        "event_type": e.event_type, "status": STATUS[e.event_type],
        "recipient": e.payload.get("recipient", ""), "from": e.payload.get("from_address", ""),
        "tag": e.payload.get("tag") or None, "timestamp": e.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "event_data": _scored(e, {k: v for k, v in e.payload.items() if k not in SHOWN}),
        "created_at": e.recorded_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _scored(e: Envelope, data: dict[str, Any]) -> dict[str, Any]:
    """Opens and clicks carry their scanner confidence (the projection's score) first."""
    from projections import scanner

    if e.event_type not in ("opened", "clicked"):
        return data
    seconds = e.payload.get("seconds_since_sent")
    score = scanner.score(str(e.payload.get("user_agent", "")), str(e.payload.get("ip", "")),
                          None if seconds is None else int(seconds),
                          "open" if e.event_type == "opened" else "click")
    return {"scanner_score": score, **data}


def story(customer: UUID, first_position: int = 1) -> Story:
    """STEPS for ``customer`` with positions from ``first_position``."""
    emails = {name: uuid4() for name in PEOPLE}
    envelopes = []
    for n, step in enumerate(STEPS):
        person = dict(PEOPLE[step.email])
        if step.kind == "unsubscribed":
            person.pop("from_address")  # what the publisher writes for an unsubscribe
            person.pop("tag")
        envelopes.append(envelope(step.kind, first_position + n, customer_id=customer,
                                  email_id=emails[step.email], at=NOW - timedelta(minutes=step.minutes),
                                  **person, **step.extra))
    return Story(customer, emails, envelopes)


def write(client: ClickHouse, *stories: Story) -> None:
    """Project the stories' envelopes the way the projector does."""
    ClickHouseSink(client).write([e for s in stories for e in s.envelopes])
