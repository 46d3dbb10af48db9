"""Crash points for fault tests: ``MAILERLOGIC_FAULT_INJECTION=crash-after-write=N``.

A real kill -9 rarely lands in the few microseconds between a sink write and the offset
commit (or between a publish and the relay's position record). These wrappers make the
process SIGKILL itself right there, after the N-th call, so tests can prove that a crash
at the worst moment loses nothing and doubles nothing. Never set it in production.
"""

from __future__ import annotations

import os
import signal
from typing import Any

POINTS = ("crash-after-write", "crash-after-publish")


def parse(spec: str | None) -> dict[str, int]:
    """``"crash-after-write=2"`` -> ``{"crash-after-write": 2}``; unknown points raise."""
    points: dict[str, int] = {}
    for part in filter(None, (spec or "").split(",")):
        name, _, count = part.partition("=")
        if name not in POINTS:
            raise ValueError(f"unknown fault injection point {name!r}; known: {POINTS}")
        points[name] = int(count or 1)
    return points


class CrashAfter:
    """Proxies ``target`` and SIGKILLs the process after ``count`` calls of ``method``."""

    def __init__(self, target: Any, method: str, count: int) -> None:
        self._target, self._method, self._left = target, method, count

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if name != self._method:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            self._left -= 1
            if self._left <= 0:
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        return call
