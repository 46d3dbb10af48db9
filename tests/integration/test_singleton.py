"""Exactly one relay per event store: a second one stands by until the holder is gone."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mailerlogic.config import Settings
from mailerlogic.singleton import exclusive

HOLD = """
import sys, threading, time
from mailerlogic.config import Settings
from mailerlogic.singleton import exclusive
settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": sys.argv[1], "EVENT_STORE_URL": sys.argv[2],
                              "MAILERLOGIC_SECRET_KEY": "k"})
with exclusive(settings, "relay", threading.Event()) as held:
    print("held", held, flush=True)
    time.sleep(60)
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    return "" if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))


def test_a_second_holder_waits_until_the_first_is_killed(tmp_path: Path, url: str) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), url], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held True"
        settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "EVENT_STORE_URL": url,
                                      "MAILERLOGIC_SECRET_KEY": "k"})
        taken: list[float] = []

        def second() -> None:
            with exclusive(settings, "relay", threading.Event(), poll_s=0.1) as held:
                taken.append(time.monotonic()) if held else None

        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(1.0)
        assert taken == []  # standing by while the first holds the role
        killed_at = time.monotonic()
        holder.kill()
        waiter.join(timeout=20)
        assert len(taken) == 1 and taken[0] - killed_at < 10
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_stop_while_standing_by_yields_false(tmp_path: Path) -> None:
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k"})
    stop = threading.Event()
    with exclusive(settings, "relay", threading.Event()) as first:
        assert first is True
        stop.set()
        with exclusive(settings, "relay", stop) as second:
            assert second is False
