"""The delivery benchmark's HTTP side: ``POST /api/batch`` at full speed or paced, and JSON reads.

A message counts as queued at the moment its batch's ``200`` answer was read (wall clock,
so it compares with the sink's file times); items the API refused are counted, not retried.
A ``429`` is waited out (``Retry-After``) and the same body sent again: a refused request
queued nothing.
"""

from __future__ import annotations

import http.client
import json
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from typing import Any

TIMEOUT_S = 120.0
RATE_LIMIT_RETRIES = 5


@dataclass
class Submitted:
    """What the API answered: queued message ids with their answer times, and refusals."""

    queued: dict[str, float] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)  # error code -> items
    started: float = 0.0  # Unix seconds before the first request
    finished: float = 0.0  # Unix seconds after the last answer
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def seconds(self) -> float:
        """From the first request to the last answer."""
        return max(self.finished - self.started, 1e-9)

    @property
    def rate(self) -> float:
        """Queued messages per second of submission."""
        return len(self.queued) / self.seconds

    def add(self, answer: dict[str, Any], at: float) -> None:
        """Record one batch answer."""
        with self._lock:
            for item in answer["results"]:
                if "message_id" in item:
                    self.queued[item["message_id"]] = at
                else:
                    self.refused[item["error"]] = self.refused.get(item["error"], 0) + 1
            self.finished = max(self.finished, at)

    def line(self) -> str:
        """One human line for stderr."""
        refused = f", REFUSED {self.refused}" if self.refused else ""
        return (f"{len(self.queued):,} queued in {self.seconds:.2f}s "
                f"({self.rate:,.0f} msg/s accepted by the API){refused}")


class Client:
    """One keep-alive connection to the API with a customer's key."""

    def __init__(self, port: int, key: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
        self.key = key

    def request(self, method: str, path: str, body: bytes | None = None) -> dict[str, Any]:
        """The JSON answer; a 429 is waited out; anything else but 200 raises."""
        headers = {"X-API-Key": self.key, "Content-Type": "application/json"}
        for _ in range(RATE_LIMIT_RETRIES + 1):
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
            if response.status == 200:
                found: dict[str, Any] = json.loads(data)
                return found
            if response.status != 429:
                raise RuntimeError(f"{method} {path} answered {response.status}: {data[:500]!r}")
            time.sleep(min(60, int(response.getheader("Retry-After") or 1)))
        raise RuntimeError(f"{method} {path}: still rate limited after {RATE_LIMIT_RETRIES} waits")

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def submit_all(port: int, key: str, batches: list[bytes], threads: int = 4) -> Submitted:
    """Send every batch as fast as the API takes them, ``threads`` requests at a time."""
    work: queue.Queue[bytes] = queue.Queue()
    for batch in batches:
        work.put(batch)
    done = Submitted(started=time.time())
    errors: list[BaseException] = []

    def sender() -> None:
        client = Client(port, key)
        try:
            while not errors:
                try:
                    batch = work.get_nowait()
                except queue.Empty:
                    return
                done.add(client.request("POST", "/api/batch", batch), time.time())
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)
        finally:
            client.close()

    workers = [threading.Thread(target=sender, name=f"submit-{n}") for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=TIMEOUT_S * (len(batches) + 1))
    if errors:
        raise errors[0]
    return done


def submit_paced(port: int, key: str, batches: list[bytes], interval_s: float,
                 threads: int = 4) -> Submitted:
    """Send batch k at ``start + k * interval_s`` (open loop, up to ``threads`` in flight)."""
    done = Submitted(started=time.time())
    local = threading.local()
    clients: list[Client] = []

    def send(batch: bytes) -> None:
        if not hasattr(local, "client"):
            local.client = Client(port, key)
            clients.append(local.client)
        done.add(local.client.request("POST", "/api/batch", batch), time.time())

    start = time.monotonic()
    with ThreadPoolExecutor(threads, "paced") as pool:
        futures = []
        for k, batch in enumerate(batches):
            time.sleep(max(0.0, start + k * interval_s - time.monotonic()))
            futures.append(pool.submit(send, batch))
        try:
            for future in futures:
                future.result(timeout=TIMEOUT_S)
        finally:
            for client in clients:
                client.close()
    return done
