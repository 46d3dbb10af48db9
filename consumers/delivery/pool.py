"""Reused SMTP sessions to one relay: a :class:`~consumers.delivery.transport.Transport`.

A session carries many messages: each transaction after the first starts with ``RSET``
(which also proves the session is alive). At most ``max_sessions`` are open at once (callers
beyond that wait for a free one), each carries at most ``messages_per_session`` messages and
is then closed with ``QUIT``; sessions idle longer than ``idle_s`` are closed before reuse.

Lose nothing: a session the relay dropped, closed with ``421``, or that timed out is thrown
away; if it had already carried a message (a stale session), the message is tried once more
on a fresh session, otherwise the attempt is ``deferred`` as with a new connection. The
message's acceptance is the ``250`` after ``DATA``, so the only double hand-over possible is a
failure between the relay's accepting it and our reading the ``250``: the identical message
(same Message-ID) goes again. :meth:`close` (SIGTERM) quits every idle session and makes
sessions in use quit when they come back.
"""

from __future__ import annotations

import smtplib
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING

from consumers.delivery.transport import Outcome
from consumers.delivery.transport import check_addresses
from consumers.delivery.transport import outcome_of
from consumers.delivery.transport import quit_quietly
from consumers.delivery.transport import transaction

if TYPE_CHECKING:
    from collections.abc import Callable

    from consumers.delivery.transport import SmtpTransport

#: Errors after which a session is unusable: dropped, reset, timed out, out of step.
BROKEN = (smtplib.SMTPException, OSError)
CLOSING = 421  # "service not available, closing transmission channel"


@dataclass
class Session:
    """One open SMTP session and how much it has carried."""

    smtp: smtplib.SMTP
    opened: float
    used: float
    messages: int = 0


@dataclass
class SmtpPool:
    """Sessions to ``relay``, reused (module docstring)."""

    relay: SmtpTransport
    max_sessions: int = 8
    messages_per_session: int = 100
    idle_s: float = 30.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    _idle: list[Session] = field(default_factory=list, repr=False, compare=False)
    _open: int = field(default=0, repr=False, compare=False)
    _closed: bool = field(default=False, repr=False, compare=False)
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False, compare=False)
    opened_total: int = field(default=0, repr=False, compare=False)  # sessions opened (tests)

    def __post_init__(self) -> None:
        if self.max_sessions < 1 or self.messages_per_session < 1:
            raise ValueError("max_sessions and messages_per_session must be at least 1")

    def deliver(self, envelope_from: str, recipients: list[str], message: bytes) -> Outcome:
        """One transaction on a pooled session; a stale session's failure is retried once."""
        check_addresses(envelope_from, recipients)
        for fresh in (False, True):
            try:
                session = self._checkout(fresh=fresh)
            except Exception as error:  # noqa: BLE001 - outcome_of re-raises what is not SMTP/IO
                return outcome_of(error)
            stale = session.messages > 0
            outcome, usable = self._run(session, envelope_from, recipients, message)
            self._checkin(session, usable)
            if usable or not stale:
                return outcome
            self._drop_idle()  # the relay dropped one reused session: the others likely too
        return outcome

    def _run(self, session: Session, envelope_from: str, recipients: list[str], message: bytes
             ) -> tuple[Outcome, bool]:
        try:
            if session.messages > 0:
                code, reply = session.smtp.rset()
                if code != 250:
                    return Outcome("deferred", code, f"RSET: {code} {reply!r}"), False
            outcome = transaction(session.smtp, envelope_from, recipients, message)
        except smtplib.SMTPResponseException as error:
            return outcome_of(error), error.smtp_code != CLOSING
        except BROKEN as error:
            return outcome_of(error), False
        session.messages += 1
        return outcome, outcome.code != CLOSING

    def _checkout(self, *, fresh: bool = False) -> Session:
        """An idle session (unless ``fresh``), or a new one when fewer than the cap are open."""
        deadline = time.monotonic() + max(self.relay.timeout_s, 1.0)
        expired: list[Session] = []
        try:
            with self._cond:
                while True:
                    if self._closed:
                        raise smtplib.SMTPServerDisconnected("the delivery worker is stopping")
                    session = None if fresh else self._fresh_idle(expired)
                    if session is not None:
                        return session
                    if self._open < self.max_sessions:
                        self._open += 1
                        break
                    if fresh and self._idle:  # make room: a fresh session replaces an idle one
                        expired.append(self._idle.pop(0))
                        self._open -= 1
                        continue
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"no free SMTP session of {self.max_sessions} in time")
                    self._cond.wait(timeout=left)
        finally:
            for old in expired:  # QUIT outside the lock: a slow relay must not block the pool
                quit_quietly(old.smtp)
        try:
            smtp = self.relay.connect()  # outside the lock: other threads go on meanwhile
        except BaseException:
            self._release_slot()
            raise
        now = self._now()
        with self._cond:
            self.opened_total += 1
        return Session(smtp, now, now)

    def _fresh_idle(self, expired: list[Session]) -> Session | None:
        while self._idle:
            session = self._idle.pop()  # most recently used first: the likeliest alive
            if self._now() - session.used <= self.idle_s:
                return session
            self._open -= 1
            expired.append(session)
        return None

    def _drop_idle(self) -> None:
        with self._cond:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._cond.notify_all()
        for session in idle:
            session.smtp.close()

    def _checkin(self, session: Session, usable: bool) -> None:
        session.used = self._now()
        spent = session.messages >= self.messages_per_session
        with self._cond:
            if usable and not spent and not self._closed:
                self._idle.append(session)
                self._cond.notify()
                return
        if usable:
            quit_quietly(session.smtp)
        else:
            session.smtp.close()
        self._release_slot()

    def _release_slot(self) -> None:
        with self._cond:
            self._open -= 1
            self._cond.notify()

    def _now(self) -> float:
        return self.clock()

    @property
    def open_sessions(self) -> int:
        """Sessions open now (idle or in use)."""
        with self._cond:
            return self._open

    def close(self) -> None:
        """QUIT idle sessions now; sessions in use QUIT when their transaction ends."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._cond.notify_all()
        for session in idle:
            quit_quietly(session.smtp)
