"""The message bus: dispatches commands to handlers with the application and its adapters.

Every command is decided on the state it loads and saved with optimistic concurrency: the save
appends at the next version of each aggregate, and a concurrent writer that took that version
first makes it fail with :class:`IntegrityError`. The bus then runs the handler again (it
re-loads the aggregates, now with the other writer's events, and decides anew), up to
``CONFLICT_ATTEMPTS`` times with a random pause that doubles (capped); a decision the new state refuses is
that refusal (e.g. ``409 domain_taken``), and a conflict on every attempt is ``409 conflict``
(retry later). Nothing is saved by a failed attempt: a save is one transaction.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from eventsourcing.persistence import IntegrityError

from event_store.errors import Conflict
from event_store.errors import DomainError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime
    from uuid import UUID

    import dns.resolver

    from commands.quota import UsageCache
    from event_store.application import EmailEvents

log = logging.getLogger(__name__)

CONFLICT_ATTEMPTS = 12  # decisions per command while concurrent writers take the versions
CONFLICT_PAUSE_S = 0.01  # the first pause between two decisions is up to this long; it doubles
CONFLICT_MAX_PAUSE_S = 0.25


@dataclass(frozen=True)
class Deps:
    """What handlers need besides the event store: secrets and adapters at the edges."""

    secret_key: bytes
    spf_include: str = "spf.mailerlogic.invalid"
    resolver: Callable[[], dns.resolver.Resolver] | None = None
    usage: UsageCache | None = None  # emails accepted this month, per customer
    # §7 outbound totals of (customer_id, start, end): the health score's input (read side).
    health_totals: Callable[[UUID, datetime, datetime], Mapping[str, int | float]] | None = None
    # An export's window [start, end) from (kind, filters, now, customer tier), validated by
    # the read side's parsers (bad filters: a 400 DomainError); see commands.exports.
    export_window: Callable[[str, Mapping[str, str], datetime, str], tuple[datetime, datetime]] | None = None
    # Raises ValueError (the reason) unless webhooks may be registered to the URL: the delivery
    # guard's address rule and https (consumers.webhooks.targets.check_webhook_url); None: no check.
    webhook_url_check: Callable[[str], None] | None = None


class Bus:
    """Dispatch a command to its handler; command errors propagate to the caller."""

    def __init__(self, app: EmailEvents, deps: Deps) -> None:
        self.app, self.deps = app, deps

    def handle(self, cmd: Any) -> Any:
        """Run the handler of ``cmd`` and return its result."""
        from commands.handlers import HANDLERS

        handler: Callable[[Any, Bus], Any] | None = HANDLERS.get(type(cmd))
        if handler is None:
            raise DomainError(f"no handler for {type(cmd).__name__}", code="internal", status=500)
        log.debug("handling %s", type(cmd).__name__)
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return handler(cmd, self)
            except IntegrityError as exc:  # another writer appended first: decide again on the new state
                log.debug("version conflict on %s (attempt %d)", type(cmd).__name__, attempt)
                if attempt == CONFLICT_ATTEMPTS:
                    raise Conflict("concurrent changes of the same records kept winning the race: "
                                   "retry the request") from exc
                pause = min(CONFLICT_MAX_PAUSE_S, CONFLICT_PAUSE_S * 2 ** (attempt - 1))
                time.sleep(random.uniform(0, pause))  # noqa: S311 (jitter, not a secret)
        raise AssertionError("unreachable")

