"""Claims for domain names verified before claims existed (an install upgraded past them).

A verified domain name is held by one customer through its ``DomainClaim``; domains verified
before that aggregate existed have none, so another customer could send as them with
verification off. :func:`claim_verified` reads the notification log for customers that ever
added a domain (``Customer.DomainAdded`` only, filtered by the store) after the position it
last finished at, claims each one's verified names that no one holds — customers in the order
of their first domain, so the earliest verification of a name wins — and records the
position, so later starts read only what came since. It runs when an API process starts
(``mailerlogic api`` and ``run-all``) and as ``mailerlogic domains claim-verified``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from commands.messages import ClaimVerifiedDomains
from event_store.aggregates import Customer
from event_store.feed import NotificationFeed

if TYPE_CHECKING:
    from commands.bus import Bus
    from event_store.application import EmailEvents

log = logging.getLogger(__name__)
READER = "domain-claims-backfill"
PAGE = 5_000


def claim_verified(events: EmailEvents, bus: Bus,
                   progress: Callable[[int, int], None] | None = None) -> list[tuple[UUID, str, str]]:
    """Claim the unclaimed verified names: (customer, name, ``claimed``/``held``/``taken``) each."""
    feed = NotificationFeed(events)
    start, head = feed.position(READER), feed.head()
    customers = _customers_with_domains(events, start, head)
    outcomes: list[tuple[UUID, str, str]] = []
    for done, customer_id in enumerate(customers, 1):
        answer = bus.handle(ClaimVerifiedDomains(customer_id))
        outcomes.extend((customer_id, name, outcome) for name, outcome in answer.items())
        if progress is not None:
            progress(done, len(customers))
    try:
        feed.record(READER, head)
    except IntegrityError:  # another API process (a sibling worker) finished the same read first
        log.debug("domain claims: position %d was recorded by another process", head)
    return outcomes


def counts(outcomes: list[tuple[UUID, str, str]]) -> Counter[str]:
    """How many names were ``claimed``, ``held`` and ``taken``."""
    return Counter(outcome for _, _, outcome in outcomes)


def _customers_with_domains(events: EmailEvents, after: int, head: int) -> list[UUID]:
    """Customers with a ``DomainAdded`` in (after, head], in the order of the first one."""
    topic, seen = get_topic(Customer.DomainAdded), dict[UUID, None]()
    while after < head:
        page = events.recorder_.select_notifications(start=after, limit=PAGE, stop=head, topics=[topic],
                                                     inclusive_of_start=False)
        if not page:
            break
        seen.update(dict.fromkeys(UUID(str(n.originator_id)) for n in page))
        after = page[-1].id
    return list(seen)
