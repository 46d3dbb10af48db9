"""Group commit: concurrent saves in one process share one transaction (and one fsync).

Every request thread that saves aggregates hands its new events to :class:`GroupCommit`.
The first thread to arrive while no commit is running becomes the *leader*: it takes every
waiting save (its own included) and writes them all in **one** transaction; the others wait
and return when the transaction that holds their events is durable. Saves that arrive during
a commit form the next group, whose first waiter leads it. There is no timer and no extra
thread: a lone save is written at once, exactly as without grouping.

Guarantees:

* A save returns only after its events are committed; an error raises in the thread whose
  save failed, never in another one.
* One conflicting save never fails the others: when the group's transaction is refused
  (e.g. a concurrent writer took an aggregate version, :class:`IntegrityError`), the
  transaction is rolled back as a whole and every save of the group is retried alone, so
  exactly the conflicting one fails, as it would have without grouping.
* Order: within a group, saves are written in arrival order, so the notification log keeps
  the order in which the saves were made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

MAX_GROUP = 500  # saves per transaction; the rest wait for the next group

Put = Callable[[list[Any]], list[Any]]


@dataclass
class _Save:
    events: list[Any]
    done: bool = False
    recordings: list[Any] = field(default_factory=list)
    error: BaseException | None = None


class GroupCommit:
    """Write concurrent saves of domain events through ``put`` in shared transactions."""

    def __init__(self, put: Put, max_group: int = MAX_GROUP) -> None:
        self._put, self._max = put, max_group
        self._lock = threading.Condition()
        self._waiting: list[_Save] = []
        self._leading = False
        self.groups = 0  # transactions written (for tests and metrics)

    def save(self, events: Sequence[Any]) -> list[Any]:
        """Commit ``events`` (possibly with other threads' events); return their recordings."""
        mine = _Save(list(events))
        with self._lock:
            self._waiting.append(mine)
            ahead = len(self._waiting)  # FIFO: each group we lead writes at least one of these
        for _ in range(ahead):
            with self._lock:
                while self._leading and not mine.done:
                    self._lock.wait()
                if mine.done:
                    break
                # Lead the next group: the oldest waiting saves, which may not reach ours yet
                # (the cap), so a leader loops until its own save is written.
                self._leading = True
                group, self._waiting = self._waiting[:self._max], self._waiting[self._max:]
            self._lead(group)
        if not mine.done:
            raise RuntimeError("group commit: save not written after leading every group ahead")
        if mine.error is not None:
            raise mine.error
        return mine.recordings

    def _lead(self, group: list[_Save]) -> None:
        try:
            self._write(group)
        finally:
            for save in group:  # an unexpected failure must not leave anyone waiting
                if not save.done:
                    save.error, save.done = RuntimeError("group commit failed"), True
            with self._lock:
                self._leading = False
                self._lock.notify_all()

    def _write(self, group: list[_Save]) -> None:
        self.groups += 1
        if len(group) > 1:
            try:
                recordings = self._put([event for save in group for event in save.events])
            except Exception:  # noqa: BLE001, S110 - rolled back: retry each save alone below
                pass
            else:
                self._share(group, recordings)
                return
        for save in group:
            try:
                save.recordings = self._put(save.events)
            except BaseException as exc:  # noqa: BLE001 - raised in the saving thread
                save.error = exc
            save.done = True

    @staticmethod
    def _share(group: list[_Save], recordings: list[Any]) -> None:
        start = 0
        for save in group:
            save.recordings = recordings[start:start + len(save.events)]
            start += len(save.events)
            save.done = True
