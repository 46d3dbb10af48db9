"""An SMTP sink that defers and rejects by recipient (aiosmtpd), for the retry and bounce phase.

``python -m bench.delivery_sink PORT LOG`` listens on 127.0.0.1:PORT until SIGTERM:

* ``defer-*@...`` gets ``451 4.2.0`` at RCPT, ``reject-*@...`` gets ``550 5.1.1``;
  everyone else is accepted, and a transaction with an accepted recipient gets ``250`` at DATA;
* every answer is one JSON line in LOG, written before the client sees it:
  ``{"t", "rcpt", "code"}`` per RCPT and ``{"t", "id", "rcpts", "size"}`` per accepted DATA
  (``id`` is the local part of the ``Message-ID``).

:func:`read_log` summarises the file; :class:`SinkProcess` runs the server as a child.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import IO
from typing import Any

from bench.common import REPO_DIR
from bench.http_api import _free_port

MESSAGE_ID = re.compile(rb"(?im)^message-id:[ \t]*<([^@>\s]+)@")
START_TIMEOUT_S = 20.0
MAX_LIFETIME_S = 4 * 3600.0  # a sink whose parent was killed outright still goes away


class Handler:
    """aiosmtpd handler: answers by local part and logs every answer."""

    def __init__(self, log: IO[str]) -> None:
        self.log = log

    def _write(self, record: dict[str, Any]) -> None:
        self.log.write(json.dumps({"t": time.time(), **record}) + "\n")
        self.log.flush()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        """451 for defer-*, 550 for reject-*, else accept."""
        local = address.partition("@")[0].lower()
        code, reply = ((451, "451 4.2.0 Mailbox busy, try again later") if local.startswith("defer-")
                       else (550, "550 5.1.1 No such user") if local.startswith("reject-")
                       else (250, "250 2.1.5 OK"))
        if code == 250:
            envelope.rcpt_tos.append(address)
        self._write({"rcpt": address, "code": code})
        return reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Accept and log the message."""
        content = envelope.original_content or b""
        found = MESSAGE_ID.search(content[:32_768])
        self._write({"id": found.group(1).decode() if found else "", "rcpts": envelope.rcpt_tos,
                     "size": len(content)})
        return "250 2.0.0 Ok: queued"


def serve(port: int, log_path: Path) -> None:
    """Run the sink until SIGTERM or SIGINT, its parent's death, or ``MAX_LIFETIME_S``."""
    from aiosmtpd.controller import Controller

    parent, deadline = os.getppid(), time.monotonic() + MAX_LIFETIME_S
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with log_path.open("a", encoding="utf-8") as log:
        controller = Controller(Handler(log), hostname="127.0.0.1", port=port,
                                data_size_limit=20_000_000)
        controller.start()
        print("ready", flush=True)
        try:
            while not stop.wait(1.0) and os.getppid() == parent and time.monotonic() < deadline:
                pass
        finally:
            controller.stop()


@dataclass
class SinkLog:
    """What the sink answered: accepted messages and RCPT verdicts, with first times."""

    accepted: dict[str, float] = field(default_factory=dict)  # message id -> first 250 at DATA
    accepted_total: int = 0  # DATA accepted, duplicates included
    delivered_to: dict[str, float] = field(default_factory=dict)  # recipient -> first 250 at DATA
    sizes: list[int] = field(default_factory=list)
    first_answer: dict[str, float] = field(default_factory=dict)  # recipient -> first RCPT answer
    codes: Counter[tuple[str, int]] = field(default_factory=Counter)  # (recipient, code) -> times


def read_log(path: Path) -> SinkLog:
    """Summarise the sink's log."""
    found = SinkLog()
    if not path.exists():
        return found
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.endswith("\n"):
                break  # a line still being written
            record = json.loads(line)
            if "rcpt" in record:
                rcpt = record["rcpt"].lower()
                found.codes[(rcpt, record["code"])] += 1
                found.first_answer.setdefault(rcpt, record["t"])
            else:
                found.accepted_total += 1
                found.sizes.append(record["size"])
                found.accepted.setdefault(record["id"], record["t"])
                for rcpt in record["rcpts"]:
                    found.delivered_to.setdefault(rcpt.lower(), record["t"])
    return found


class SinkProcess:
    """``python -m bench.delivery_sink`` on a free loopback port, in its own process group."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.port = _free_port()
        self.process = subprocess.Popen([sys.executable, "-m", "bench.delivery_sink", str(self.port),
                                         str(log_path)], cwd=REPO_DIR, stdout=subprocess.PIPE,
                                        start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        assert self.process.stdout is not None
        os.set_blocking(self.process.stdout.fileno(), False)
        while b"ready" not in (self.process.stdout.read() or b""):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the aiosmtpd sink did not start")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        """``SMTP_RELAY_URL`` of the sink."""
        return f"smtp://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


if __name__ == "__main__":
    serve(int(sys.argv[1]), Path(sys.argv[2]))
