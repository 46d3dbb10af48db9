"""``mailerlogic export``: run a bulk export job through the API, with progress bars (spec §9).

It talks to the running API over HTTP (on the embedded default chdb can be opened by the
``run-all`` process only): ``POST /api/exports``, then ``GET /api/exports/<id>`` every
:data:`POLL_S` seconds (a bar driven by ``progress_percent``) until the job is final or
``timeout_s`` passed, then ``GET /api/exports/<id>/download`` into ``FILE.part`` (a bar of
bytes), renamed to ``FILE`` when whole. Any refusal raises :class:`ExportError` with the API's
``error`` code and message.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import urlsplit

from tqdm import tqdm

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

POLL_S = 0.5
CHUNK = 256 * 1024
TIMEOUT_S = 30.0  # one HTTP request


class ExportError(Exception):
    """The export could not be made or fetched; the message says why."""


@dataclass(frozen=True)
class Done:
    """What was written: rows (as the API counted them), bytes and the file."""

    export_id: str
    rows: int
    size: int
    path: Path


def parse_filters(pairs: Iterable[str]) -> dict[str, str]:
    """``key=value`` pairs; ``type`` may repeat (joined with commas), other keys may not."""
    filters: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ExportError(f"--filter {pair!r}: use key=value")
        if name in filters and name != "type":
            raise ExportError(f"--filter {name} is given twice")
        filters[name] = f"{filters[name]},{value}" if name in filters else value
    return filters


class Api:
    """A small JSON client of one API base URL with one key."""

    def __init__(self, base: str, key: str) -> None:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ExportError(f"the API URL must be http(s)://host[:port], not {base!r}")
        self.parts, self.key = parts, key

    def open(self, method: str, path: str, body: Any = None) -> http.client.HTTPResponse:
        """Send one request; the response (unread)."""
        kind = http.client.HTTPSConnection if self.parts.scheme == "https" else http.client.HTTPConnection
        connection = kind(self.parts.hostname or "", self.parts.port, timeout=TIMEOUT_S)
        headers = {"X-API-Key": self.key, "Accept": "application/json"}
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, self.parts.path.rstrip("/") + path, body=data, headers=headers)
            return connection.getresponse()
        except OSError as exc:
            raise ExportError(f"cannot reach the API at {self.parts.geturl()}: {exc}") from None

    def json(self, method: str, path: str, body: Any = None, expect: int = 200) -> dict[str, Any]:
        """One JSON request; the API's error as :class:`ExportError` unless ``expect`` came back."""
        response = self.open(method, path, body)
        raw = response.read()
        response.close()
        if response.status != expect:
            raise ExportError(_problem(response.status, raw))
        answer: dict[str, Any] = json.loads(raw)
        return answer


def _problem(status: int, raw: bytes) -> str:
    try:
        body = json.loads(raw)
        text = f"{body['error']}: {body['message']}"
        if body.get("details"):
            text += f" {json.dumps(body['details'])}"
        return text
    except (ValueError, KeyError, TypeError):
        return f"HTTP {status}: {raw[:200].decode(errors='replace')}"


def run(api: Api, kind: str, fmt: str, filters: dict[str, str], output: Path, *,
        timeout_s: float = 3600.0, show: bool = True) -> Done:
    """Request, wait for and download one export."""
    started = api.json("POST", "/api/exports", {"kind": kind, "format": fmt, **filters}, expect=202)
    export_id = str(started["export_id"])
    job = wait(api, export_id, timeout_s, show)
    if job["status"] != "completed":
        reason = job.get("error") or f"the export is {job['status']}"
        raise ExportError(f"export {export_id} {job['status']}: {reason}")
    size = download(api, export_id, output, show)
    return Done(export_id, int(job["rows_written"]), size, output)


def wait(api: Api, export_id: str, timeout_s: float, show: bool) -> dict[str, Any]:
    """Poll the job until it is final (or raise after ``timeout_s``); its last status."""
    deadline = time.monotonic() + timeout_s
    with tqdm(total=100, unit="%", desc=f"export {export_id[:8]}", disable=not show) as bar:
        while True:
            job = api.json("GET", f"/api/exports/{export_id}")
            bar.update(int(job["progress_percent"]) - bar.n)
            bar.set_postfix_str(f"{job['status']}, {job['rows_written']} rows")
            if job["status"] in ("completed", "failed", "expired"):
                return job
            if time.monotonic() > deadline:
                raise ExportError(f"export {export_id} is still {job['status']} after {timeout_s:.0f} s; "
                                  f"poll GET /api/exports/{export_id} later")
            time.sleep(POLL_S)


def download(api: Api, export_id: str, output: Path, show: bool) -> int:
    """Stream the file into ``output`` (whole or not at all); its size in bytes."""
    response = api.open("GET", f"/api/exports/{export_id}/download")
    if response.status != 200:
        raise ExportError(_problem(response.status, response.read()))
    total = int(response.getheader("Content-Length") or 0) or None
    part = output.with_name(output.name + ".part")
    size = 0
    try:
        with part.open("wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc="download",
                                          disable=not show) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                size += len(chunk)
                bar.update(len(chunk))
        if total is not None and size != total:
            raise ExportError(f"the download ended after {size} of {total} bytes; run it again")
        os.replace(part, output)
    finally:
        response.close()
        part.unlink(missing_ok=True)
    return size
