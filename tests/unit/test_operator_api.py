"""The operator endpoints: only the operator token, only from loopback; one rebuild at a time."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask

from consumers.rebuild import Result
from consumers.rebuild import Step
from event_store.application import EmailEvents
from mailerlogic.config import Settings
from web import operator_api
from web.app import create_app

PATH = "/operator/projections/rebuild"
DONE = Result(("stats_hourly", "stats_duplicates"), 40, 42, 30, 2, (), 1.5, 2.0, False)


def app_with(tmp_path: Path, run: Any) -> Flask:
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k"})
    app = create_app(settings, events=EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}),
                     clickhouse=lambda: None)
    operator_api.install(app, run, settings.secret_key)
    return app


BEARER = {"Authorization": f"Bearer {operator_api.operator_token(b'k')}"}


def test_only_a_loopback_caller_with_the_operator_token_gets_in(tmp_path: Path) -> None:
    client = app_with(tmp_path, lambda tables, progress: DONE).test_client()
    assert client.get(PATH, headers=BEARER).status_code == 200
    remote = client.get(PATH, headers=BEARER, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert (remote.status_code, remote.get_json()["error"]) == (403, "forbidden")
    for headers in ({"Authorization": "Bearer nope"}, {"X-API-Key": operator_api.operator_token(b"k")},
                    {"Authorization": f"Bearer {operator_api.operator_token(b'other')}"}):
        assert client.get(PATH, headers=headers).status_code == 403
    assert client.get(PATH, headers=BEARER, environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


def test_a_rebuild_runs_in_a_thread_one_at_a_time(tmp_path: Path) -> None:
    release, calls = threading.Event(), []

    def run(tables: list[str], progress: Any) -> Result:
        calls.append(tables)
        progress(Step("replay", 20, 40, 15))
        release.wait(10)
        return DONE

    client = app_with(tmp_path, run).test_client()
    started = client.post(PATH, json={"tables": ["stats_hourly"]}, headers=BEARER)
    assert started.status_code == 202 and started.get_json()["job"]["state"] == "running"
    assert client.post(PATH, json={}, headers=BEARER).get_json()["error"] == "rebuild_running"
    deadline = time.monotonic() + 10
    while client.get(PATH, headers=BEARER).get_json()["job"]["phase"] != "replay":
        assert time.monotonic() < deadline
        time.sleep(0.01)  # a busy poll starves the job's thread of the GIL
    job = client.get(PATH, headers=BEARER).get_json()["job"]
    assert (job["position"], job["head"], job["written"]) == (20, 40, 15)
    release.set()
    while client.get(PATH, headers=BEARER).get_json()["job"]["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.01)  # a busy poll starves the job's thread of the GIL
    job = client.get(PATH, headers=BEARER).get_json()["job"]
    assert (job["state"], job["result"]["caught_up"], calls) == ("completed", 2, [["stats_hourly"]])


def test_a_failed_rebuild_is_reported_and_a_bad_choice_refused(tmp_path: Path) -> None:
    def run(tables: list[str], progress: Any) -> Result:
        raise RuntimeError("ClickHouse went away")

    client = app_with(tmp_path, run).test_client()
    bad = client.post(PATH, json={"tables": ["event_positions"]}, headers=BEARER)
    assert (bad.status_code, bad.get_json()["error"]) == (400, "validation_error")
    assert client.post(PATH, json={"tables": "stats_hourly"}, headers=BEARER).status_code == 400
    assert client.post(PATH, json={}, headers=BEARER).status_code == 202
    deadline = time.monotonic() + 10
    while (job := client.get(PATH, headers=BEARER).get_json()["job"])["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.01)  # a busy poll starves the job's thread of the GIL
    assert (job["state"], job["error"]) == ("failed", "RuntimeError: ClickHouse went away")


def test_a_body_that_is_not_a_tables_list_is_a_400(tmp_path: Path) -> None:
    client = app_with(tmp_path, lambda tables, progress: DONE).test_client()
    for body in ([1], {"tables": {}}, {"tables": None}, {"tables": "stats_hourly"}, {"tables": [], "x": 1},
                 7):
        answer = client.post(PATH, json=body, headers=BEARER)
        assert (answer.status_code, answer.get_json()["error"]) == (400, "validation_error"), body
    answer = client.post(PATH, data=b"\n5 not json", content_type="application/json", headers=BEARER)
    assert (answer.status_code, answer.get_json()["error"]) == (400, "validation_error")
    assert client.get(PATH, headers=BEARER).get_json()["job"] == {"state": "idle"}  # nothing started
