"""Postfix's ``smtp-sink`` (where the delivery benchmark's mail lands) and ``smtp-source`` (its baseline).

The sink runs as ``smtp-sink -u nobody -c -d DIR/%Y%m%d%H%M%S. 127.0.0.1:PORT BACKLOG``:

* ``-c`` prints ``sess=.. quit=.. mesg=N`` after every session end, QUIT and final ``.``;
  a reader thread keeps the latest ``mesg``: messages accepted so far, duplicates included;
* ``-d`` dumps each transaction to its own file, opened at ``MAIL`` and closed when the final
  ``.`` arrives (an aborted transaction's file is deleted), so a closed file's mtime is the
  handoff time and its ``Message-ID: <id@domain>`` names the message. The files go to a fresh
  directory on tmpfs (``/dev/shm`` when there is one), so the sink, for ours and the baseline
  alike, measures no disk.

:meth:`SmtpSink.scan` parses each finished file once: it lists the directory, *then* reads
the sink's open files from ``/proc/<pid>/fd``; a listed file that is not open any more is
complete (a file is never reopened), so the count of distinct Message-IDs is exact.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.http_api import _free_port

SINK = "/usr/sbin/smtp-sink"
SOURCE = "/usr/sbin/smtp-source"
BACKLOG = 4096
START_TIMEOUT_S = 15.0
MESSAGE_ID = re.compile(rb"(?im)^message-id:[ \t]*<([^@>\s]+)@")
SINK_HEADERS = re.compile(rb"\n\tby smtp-sink \(smtp-sink\)[^\n]*\n[^\n]*\n")
COUNTERS = re.compile(rb"mesg=(\d+)")


@dataclass(frozen=True)
class Arrival:
    """One dumped message: its Message-ID's local part, when it was handed over, its size."""

    message_id: str
    at: float  # Unix seconds (the dump file's mtime)
    size: int  # bytes as received, without smtp-sink's own headers


def ensure_postfix_tools() -> None:
    """smtp-sink and smtp-source, from Debian's postfix package (installed when root)."""
    if os.path.exists(SINK) and os.path.exists(SOURCE):
        return
    if os.geteuid() != 0:
        raise SystemExit("the delivery benchmark needs smtp-sink/smtp-source: apt-get install postfix")
    print("  smtp-sink is missing: installing postfix (debconf: No configuration)", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["debconf-set-selections"], input=b"postfix postfix/main_mailer_type select "
                   b"No configuration\n", env=env, check=True, timeout=60)
    subprocess.run(["apt-get", "install", "-y", "postfix"], env=env, check=True, timeout=900,
                   capture_output=True)
    if not os.path.exists(SINK):
        raise SystemExit("postfix is installed but /usr/sbin/smtp-sink is missing")


class SmtpSink:
    """A running smtp-sink on a free loopback port, dumping into a fresh directory."""

    def __init__(self, label: str) -> None:
        root = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.directory = Path(tempfile.mkdtemp(prefix=f"bench-{label}-", dir=root)).resolve()
        self.port = _free_port()
        self.count = 0
        self._done: dict[str, Arrival | None] = {}  # file name -> its message (None: unparsable)
        self.directory.chmod(0o777)  # the sink writes as nobody
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self.process = subprocess.Popen(
            [SINK, *user, "-c", "-d", f"{self.directory}/%Y%m%d%H%M%S.", f"127.0.0.1:{self.port}",
             str(BACKLOG)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self._reader = threading.Thread(target=self._read, name="smtp-sink-counter", daemon=True)
        self._reader.start()
        self._wait_listening()

    @property
    def url(self) -> str:
        """``SMTP_RELAY_URL`` of the sink."""
        return f"smtp://127.0.0.1:{self.port}"

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        pending = b""
        for chunk in iter(lambda: os.read(stdout.fileno(), 65536), b""):
            *lines, pending = (pending + chunk).split(b"\r")  # each counter line ends with \r
            found = COUNTERS.findall(b"\r".join(lines))
            if found:
                self.count = int(found[-1])

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"smtp-sink exited {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"smtp-sink not listening on {self.port} after {START_TIMEOUT_S:.0f}s")

    def stop(self) -> None:
        """Terminate the sink (its counters are final once its sessions ended)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._reader.join(timeout=5)

    def scan(self) -> list[Arrival]:
        """Every message the sink has finished receiving so far (see the module docstring)."""
        listed = [name for name in os.listdir(self.directory) if name not in self._done]
        still_open = self._open_files()  # read after the listing, never before
        for name in listed:
            path = self.directory / name
            if str(path) in still_open:
                continue
            try:
                self._done[name] = _parse(path)
            except FileNotFoundError:  # an aborted transaction: deleted by the sink
                continue
        return [arrival for arrival in self._done.values() if arrival is not None]

    def unparsable(self) -> int:
        """Finished files without a Message-ID or smtp-sink's headers."""
        return sum(arrival is None for arrival in self._done.values())

    def _open_files(self) -> set[str]:
        fd_dir = f"/proc/{self.process.pid}/fd"
        found: set[str] = set()
        try:
            fds = os.listdir(fd_dir)
        except FileNotFoundError:  # the sink has exited: nothing is open
            return found
        for fd in fds:
            try:
                found.add(os.readlink(f"{fd_dir}/{fd}"))
            except OSError:
                continue
        return found

    def remove(self) -> None:
        """Stop the sink and delete its dump directory."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _parse(path: Path) -> Arrival | None:
    with open(path, "rb") as handle:
        head = handle.read(32_768)
        stat = os.fstat(handle.fileno())
    match, prefix = MESSAGE_ID.search(head), SINK_HEADERS.search(head)
    if match is None or prefix is None:
        return None
    return Arrival(match.group(1).decode(), stat.st_mtime_ns / 1e9, stat.st_size - prefix.end() - 1)


def smtp_source(port: int, messages: int, sessions: int, size: int, sink: SmtpSink | None = None,
                timeout_s: float = 600.0) -> float:
    """Seconds ``smtp-source`` takes to hand ``messages`` of ``size`` bytes over ``sessions``
    parallel sessions (one message per session, as the worker does)."""
    before = sink.count if sink else 0
    command = [SOURCE, "-s", str(sessions), "-m", str(messages), "-l", str(size),
               "-f", "news@bench.test", "-t", "reader@example.com", f"127.0.0.1:{port}"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"smtp-source failed ({done.returncode}): {done.stderr[-1000:]!r}")
    if sink is not None:
        deadline = time.monotonic() + 10
        while sink.count - before < messages and time.monotonic() < deadline:
            time.sleep(0.02)
        if sink.count - before != messages:
            raise RuntimeError(f"smtp-sink counted {sink.count - before} of smtp-source's {messages}")
    return elapsed
