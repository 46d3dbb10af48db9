"""Commands and handlers of delivery outcomes (filled in with the delivery worker)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

HANDLERS: dict[type, Callable[[Any, Any], Any]] = {}
