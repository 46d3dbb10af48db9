"""Loopback ports for servers that tests start, stop and start again."""

from __future__ import annotations

import random
import socket


def free_low_port(count: int = 1) -> int:
    """The first of ``count`` consecutive free loopback ports, below 32768.

    Linux hands ports of its ephemeral range (32768-60999) to outgoing connections, which could
    hold a stopped server's port when the test starts it again; ports below it are never handed out.
    """
    for _ in range(200):
        port = random.randrange(20_000, 32_000)
        if all(_bindable(p) for p in range(port, port + count)):
            return port
    raise RuntimeError("no free loopback port below 32768")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
