"""Runs MailerLogic processes as real subprocesses and talks to them over HTTP."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from security import tokens

BIN = Path(sys.executable).parent
SECRET = "e2e-secret-key"


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], what: str, seconds: float = 60, every: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}; last: {last!r}")


class Stack:
    """A set of MailerLogic processes sharing one configuration."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "PORT": str(self.port), "MAILERLOGIC_SECRET_KEY": SECRET,
                    "MAILERLOGIC_LOG_LEVEL": "INFO"}
        self.base = f"http://127.0.0.1:{self.port}"
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        """Start ``mailerlogic ARGS`` as process ``name`` (its output in a log file)."""
        out = (self.logs / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen([str(BIN / "mailerlogic"), *args],
                                            env={**self.env, **(env or {})},
                                            stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)

    def wait_exit(self, name: str, seconds: float = 60) -> int:
        """Wait for a process to exit by itself; its return code."""
        proc = self.procs.pop(name)
        return proc.wait(timeout=seconds)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to a process and reap it."""
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        """SIGTERM every process, SIGKILL what does not exit in 15 s."""
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()

    def log_tail(self) -> str:
        """The last lines of every process log, for failure messages."""
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()[-30:]
            parts.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(parts)

    def wait_healthy(self) -> None:
        """Wait until the API answers /healthz."""
        wait_for(lambda: self.request("GET", "/healthz", expect=None)[0] == 200, "the API", 60)

    def cli(self, *args: str) -> str:
        """Run a CLI command to completion and return its stdout."""
        done = subprocess.run([str(BIN / "mailerlogic"), *args], env=self.env, capture_output=True,
                              timeout=120, check=False, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode()

    def create_customer(self, name: str, domain: str) -> str:
        """A new customer's API key."""
        out = json.loads(self.cli("customers", "create", "--name", name, "--email", f"ops@{domain}",
                                  "--domain", domain, "--json"))
        return str(out["api_key"])

    def request(self, method: str, path: str, body: Any = None, key: str | None = None,
                expect: int | None = 200, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """One HTTP request; JSON in and out."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={**({"Content-Type": "application/json"} if data else {}),
                                              **({"X-API-Key": key} if key else {}), **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (OSError, http.client.HTTPException):  # refused, reset, or killed mid-answer
            status, raw = 0, b""
        if expect is not None:
            assert status == expect, (status, raw[:500])
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw

    def send(self, key: str, to: str, **extra: Any) -> str:
        """Send one message; its id."""
        _, body = self.request("POST", "/api/send", {"to": to, "subject": "Hello", "text": "Hi"} | extra,
                               key=key)
        return str(body["message_id"])

    def open(self, message_id: str, user_agent: str = "Mozilla/5.0 (Windows NT 10.0) Thunderbird") -> None:
        """Fetch the message's tracking pixel."""
        token = tokens.mint(SECRET.encode(), "o", UUID(message_id))
        status, _ = self.request("GET", f"/track/o/{token}", expect=None, headers={"User-Agent": user_agent})
        assert status == 200

    def click(self, message_id: str, url: str = "https://example.org/") -> None:
        """Follow a tracked link (without following the redirect)."""
        token = tokens.mint(SECRET.encode(), "c", UUID(message_id), url)
        conn = __import__("http.client").client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", f"/track/c/{token}", headers={"User-Agent": "Mozilla/5.0 Firefox"})
        response = conn.getresponse()
        assert (response.status, response.getheader("Location")) == (302, url)
        conn.close()

    def stats(self, key: str) -> dict[str, Any]:
        """The outbound totals of the last 30 days."""
        return dict(self.request("GET", "/api/stats/outbound", key=key)[1])


def child_processes(pid: int) -> dict[int, str]:
    """The live children of process ``pid`` (read from /proc): pid -> command line, spaces between
    arguments. Zombies (exited, not reaped yet) and processes gone while reading are left out."""
    children: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, ppid = (entry / "stat").read_text().rpartition(")")[2].split()[:2]
            if int(ppid) != pid or state == "Z":
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        if cmdline:
            children[int(entry.name)] = cmdline.strip()
    return children
