"""The message bus: dispatches commands to handlers with the application and its adapters."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from event_store.errors import DomainError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime
    from uuid import UUID

    import dns.resolver

    from commands.quota import UsageCache
    from event_store.application import EmailEvents

log = logging.getLogger(__name__)


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
        return handler(cmd, self)
