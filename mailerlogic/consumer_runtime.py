"""What the delivery and webhook processes share: a consumer loop with a retry loop beside it,
and the ``first=,factor=,max=,budget=`` backoff settings."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any

from consumers import loop
from mailerlogic.wiring import build_dead_letters
from mailerlogic.wiring import build_source

if TYPE_CHECKING:
    from event_store.application import EmailEvents
    from mailerlogic.config import Settings

log = logging.getLogger("mailerlogic")
_DELAYS = {"first": "first_delay", "max": "max_delay", "budget": "budget"}


def backoff_fields(spec: str, variable: str, default_max: timedelta) -> dict[str, Any]:
    """``first=60,factor=2,max=3600,budget=86400`` (seconds) as backoff dataclass fields."""
    values: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, text = part.partition("=")
        if name == "factor":
            values["factor"] = float(text)
        elif name in _DELAYS:
            values[_DELAYS[name]] = timedelta(seconds=float(text))
        else:
            raise ValueError(f"{variable}: unknown part {part!r} (use first=, factor=, max=, budget=)")
    if "first_delay" in values and "max_delay" not in values:
        values["max_delay"] = max(values["first_delay"], default_max)
    return values


def run_with_retries(settings: Settings, stop: threading.Event, events: EmailEvents, *, name: str,
                     group: str, sink: Any, retries: Callable[[threading.Event], None],
                     limits: loop.Limits, close: Callable[[], None]) -> None:
    """Consume ``group`` into ``sink`` while ``retries`` runs beside it; either failing stops both."""
    source = build_source(settings, events, group)
    try:
        with _retries_running(name, retries, stop) as failed:
            loop.run(source, sink, build_dead_letters(settings), limits, stop)
    finally:
        sink.close()
        source.close()
        close()
    if failed:
        raise RuntimeError(f"the {name} retry loop failed") from failed[0]


@contextmanager
def _retries_running(name: str, retries: Callable[[threading.Event], None],
                     stop: threading.Event) -> Iterator[list[BaseException]]:
    """The retry loop in a thread for the duration of the block; its failure sets ``stop``."""
    halt, failed = threading.Event(), list[BaseException]()

    def job() -> None:
        try:
            retries(halt)
        except BaseException as exc:
            log.exception("%s retries failed: stopping", name)
            failed.append(exc)
            stop.set()  # ends the consumer loop (and, in run-all, the whole process)

    thread = threading.Thread(target=job, name=f"{name}-retries")
    thread.start()
    try:
        yield failed
    finally:
        halt.set()
        thread.join(timeout=60)
