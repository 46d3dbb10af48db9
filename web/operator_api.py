"""Operator endpoints of the process that holds the embedded ClickHouse (``run-all``).

chdb opens its files in one process only, so ``mailerlogic projections rebuild`` asks that
process to run the rebuild (in a thread, beside the API, which keeps serving the old tables until
the swap) and follows its progress:

* ``POST /operator/projections/rebuild`` ``{"tables": [...]}`` -> ``202`` and the job, or ``409
  rebuild_running`` while one runs, ``400 validation_error`` for a table it cannot rebuild;
* ``GET /operator/projections/rebuild`` -> the last job: ``state`` (``idle``, ``running``,
  ``completed``, ``failed``), ``phase``, ``position``, ``head``, ``written``, ``error``,
  ``result``.

Who may call: only a loopback client (``REMOTE_ADDR`` 127.0.0.0/8 or ::1) presenting
``Authorization: Bearer <operator token>``, the token being derived from
``MAILERLOGIC_SECRET_KEY`` (:func:`operator_token`), which the CLI shares through the data dir or
the environment. A customer API key is never an operator token (``403 forbidden``), and the
blueprint is outside the customer authentication and rate limits.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import threading
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING
from typing import Any

from flask import Blueprint
from flask import current_app
from flask import request

from event_store.errors import DomainError

if TYPE_CHECKING:
    from flask import Flask

    from consumers.rebuild import Result
    from consumers.rebuild import Step

log = logging.getLogger("mailerlogic.operator")
bp = Blueprint("operator", __name__, url_prefix="/operator")
_LABEL = b"mailerlogic/operator-token/v1"
Runner = Callable[[Sequence[str], Callable[["Step"], None]], "Result"]


def operator_token(secret_key: bytes) -> str:
    """The bearer token of the operator endpoints (HMAC-SHA256 of a fixed label)."""
    return hmac.new(secret_key, _LABEL, hashlib.sha256).hexdigest()


class RebuildJob:
    """At most one rebuild at a time in this process, and what the last one did."""

    def __init__(self, run: Runner) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"state": "idle"}

    def status(self) -> dict[str, Any]:
        """A copy of the job's state."""
        with self._lock:
            return dict(self._state)

    def start(self, tables: Sequence[str]) -> dict[str, Any]:
        """Start a rebuild in a thread; raises ``409`` while one runs."""
        with self._lock:
            if self._state["state"] == "running":
                raise DomainError("a rebuild is running: follow it with GET", code="rebuild_running",
                                  status=409)
            self._state = {"state": "running", "tables": list(tables), "phase": "prepare",
                           "position": 0, "head": 0, "written": 0, "start": 0, "error": None,
                           "result": None}
        threading.Thread(target=self._work, args=(list(tables),), name="rebuild", daemon=True).start()
        return self.status()

    def _work(self, tables: list[str]) -> None:
        try:
            result = self._run(tables, self._progress)
        except Exception as exc:  # noqa: BLE001 - reported to the operator, logged in full
            log.exception("rebuild failed")
            self._update(state="failed", error=f"{type(exc).__name__}: {exc}"[:500])
            return
        self._update(state="completed", phase="done", result=asdict(result))

    def _progress(self, step: Step) -> None:
        self._update(phase=step.phase, position=step.position, head=step.head, written=step.written,
                     start=step.start)

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._state.update(changes)


def install(app: Flask, run: Runner, secret_key: bytes) -> None:
    """Register the operator endpoints on ``app``, running rebuilds with ``run``."""
    app.extensions["operator"] = {"job": RebuildJob(run), "token": operator_token(secret_key)}
    app.register_blueprint(bp)


@bp.before_request
def _operator_only() -> None:
    remote = request.remote_addr or ""
    try:
        loopback = ipaddress.ip_address(remote.removeprefix("::ffff:")).is_loopback
    except ValueError:
        loopback = False
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    expected = current_app.extensions["operator"]["token"]
    if not (loopback and token and hmac.compare_digest(token, expected)):
        raise DomainError("operator endpoints need the operator token, from loopback",
                          code="forbidden", status=403)


@bp.get("/projections/rebuild")
def rebuild_status() -> dict[str, Any]:
    """The last rebuild job of this process."""
    return {"job": current_app.extensions["operator"]["job"].status()}


@bp.post("/projections/rebuild")
def start_rebuild() -> tuple[dict[str, Any], int]:
    """Start a rebuild of the given tables (all when none)."""
    from consumers.rebuild import Plan

    body = request.get_json(silent=True) if request.get_data().strip() else {}  # no body: every table
    if not isinstance(body, dict) or set(body) - {"tables"}:  # None: not JSON
        raise DomainError('the body must be {"tables": [...]}', code="validation_error", status=400)
    tables = body.get("tables", [])
    if not isinstance(tables, list) or not all(isinstance(t, str) for t in tables):
        raise DomainError("tables must be a list of table names", code="validation_error", status=400)
    try:
        Plan.of("check", tables)
    except ValueError as exc:
        raise DomainError(str(exc), code="validation_error", status=400) from None
    return {"job": current_app.extensions["operator"]["job"].start(tables)}, 202
