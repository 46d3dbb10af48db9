"""Streaming SELECTs: ClickHouse formats the rows, Python only passes the bytes on.

* Server: the HTTP interface (``MAILERLOGIC_CLICKHOUSE_HTTP_URL``, default port 8123 on the
  host of ``CLICKHOUSE_URL``), one connection per stream, read in chunks of :data:`CHUNK`
  bytes. The native protocol would hand back decoded rows, which Python would have to format.
* chdb: a session of its own per stream (``Session.send_query``). chdb ends a streaming query
  when any other statement runs on the same connection, so the shared session of
  :class:`~warehouse.clients.ChdbClient` cannot be used; sessions on one data path are
  independent, so the projector and other readers go on while an export streams.

Memory stays flat: at most one chunk (server) or one block (chdb) is held at a time. Closing
the iterator early (a client that hangs up) closes the connection or cancels the query.
An error before the first byte raises :class:`StreamError`; once bytes have been sent the HTTP
status cannot change, so a server failing mid-query ends the body with its error text.
"""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import cast
from urllib.parse import unquote
from urllib.parse import urlencode
from urllib.parse import urlsplit

from chdb import session as chdb_session

from warehouse.schema import quote

if TYPE_CHECKING:
    from collections.abc import Iterator

CHUNK = 256 * 1024
DEFAULT_HTTP_PORT = 8123
_FORMAT = re.compile(r"^[A-Za-z]+$")


class StreamError(RuntimeError):
    """ClickHouse refused a streaming query before sending any row."""


def check_format(fmt: str) -> str:
    """``fmt`` if it is a plain ClickHouse format name (it is pasted into SQL)."""
    if not _FORMAT.match(fmt):
        raise ValueError(f"not a ClickHouse format name: {fmt!r}")
    return fmt


@dataclass(frozen=True)
class HttpTarget:
    """Where and as whom to reach a server's HTTP interface."""

    scheme: str
    host: str
    port: int
    path: str
    user: str
    password: str
    database: str

    @classmethod
    def build(cls, http_url: str | None, host: str, user: str, password: str, database: str) -> HttpTarget:
        """``http_url`` (default: port 8123 on the native ``host``); its own credentials, else these."""
        parts = urlsplit(http_url or f"http://{host}:{DEFAULT_HTTP_PORT}/")
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"MAILERLOGIC_CLICKHOUSE_HTTP_URL must be http(s)://..., got {parts.scheme!r}")
        if parts.username:
            user, password = unquote(parts.username), unquote(parts.password or "")
        return cls(parts.scheme, parts.hostname or host, parts.port or DEFAULT_HTTP_PORT,
                   parts.path or "/", user, password, database)


def http_stream(target: HttpTarget, sql: str, fmt: str, timeout_s: float = 300.0) -> Iterator[bytes]:
    """Run ``sql`` over HTTP and yield the ``FORMAT fmt`` body in chunks."""
    kind = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
    connection = kind(target.host, target.port, timeout=timeout_s)
    try:
        query = urlencode({"database": target.database, "user": target.user, "password": target.password})
        body = f"{sql}\nFORMAT {check_format(fmt)}".encode()
        connection.request("POST", f"{target.path}?{query}", body=body,
                           headers={"Content-Type": "text/plain; charset=utf-8", "Connection": "close"})
        response = connection.getresponse()
        if response.status != 200:
            raise StreamError(f"ClickHouse HTTP {response.status}: "
                              f"{response.read(2000).decode(errors='replace').strip()}")
        while chunk := response.read(CHUNK):
            yield chunk
    finally:
        connection.close()


def chdb_stream(path: Path, database: str, sql: str, fmt: str) -> Iterator[bytes]:
    """Run ``sql`` on a fresh chdb session of ``path`` and yield its blocks as bytes."""
    # chdb ships no annotations: keep its objects as Any.
    session: Any = cast(Any, chdb_session).Session(str(path))
    try:
        session.query(f"USE {quote(database)}")
        try:
            result = session.send_query(sql, check_format(fmt))
        except Exception as exc:
            raise StreamError(f"chdb refused the query: {exc}") from exc
        try:
            for block in result:
                yield block.bytes()
        finally:
            result.close()
    finally:
        session.close()
