"""Composition of the delivery worker (``mailerlogic consume delivery``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import threading

    from event_store.application import EmailEvents
    from mailerlogic.config import Settings


def run_delivery(settings: Settings, stop: threading.Event, events: EmailEvents | None = None) -> None:
    """Deliver queued messages until stopped."""
    raise NotImplementedError("the delivery worker is being built")
