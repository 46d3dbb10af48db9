"""The two ClickHouse backends behind ``projections.ClickHouse``, chosen by ``CLICKHOUSE_URL``.

* ``clickhouse://user:password@host:port/db`` -> :class:`DriverClient` (native protocol;
  :meth:`~DriverClient.stream` uses the HTTP interface at ``http_url``, default port 8123).
* unset -> :class:`ChdbClient`: the embedded engine in ``<data dir>/clickhouse``, database
  ``mailerlogic``. chdb opens one data path per process: the process keeps one client per
  database of that path, and asking for a second path is refused with a clear error.

Both send the SQL text of ``projections.render`` and return the same Python types; ``stream``
passes on the bytes ClickHouse formatted (see :mod:`warehouse.stream`).

A server that cannot be reached (connection refused, lost or timed out, on the native or the
HTTP interface) raises :class:`AnalyticsUnavailable`, the one error the API answers with ``503``
and ``Retry-After`` and the consumers retry. The driver's client reconnects on its next
statement, so a client that lost its server serves again as soon as the server is back.
"""

from __future__ import annotations

import http.client
import re
import struct
import threading
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import UTC
from datetime import date
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from typing import cast
from urllib.parse import unquote
from urllib.parse import urlsplit
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson
from chdb import session as chdb_session
from clickhouse_driver import Client
from clickhouse_driver import errors as driver_errors

from warehouse.port import ClickHouse
from warehouse.schema import quote
from warehouse.sql import render
from warehouse.stream import HttpTarget
from warehouse.stream import chdb_stream
from warehouse.stream import http_stream

CHDB_DATABASE = "mailerlogic"
# Session-wide output settings that make chdb's JSON unambiguous: DateTime as Unix seconds,
# nan/inf as strings, invalid UTF-8 replaced (the driver never sees such bytes either).
_CHDB_SETTINGS = (
    "SET date_time_output_format = 'unix_timestamp'",
    "SET output_format_json_quote_denormals = 1",
    "SET output_format_json_validate_utf8 = 1",
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_WRAPPERS = re.compile(r"^(?:Nullable|LowCardinality)\((.*)\)$")
Convert = Callable[[Any], Any]
# How a server that is down, restarting or cut off shows: refused, reset, EOF, timed out.
UNREACHABLE = (driver_errors.NetworkError, driver_errors.SocketTimeoutError, EOFError, OSError,
               http.client.HTTPException)


class AnalyticsUnavailable(RuntimeError):
    """ClickHouse cannot be reached right now; asking again later may work."""

    code = "analytics_unavailable"
    status = 503
    retry_after_s = 5


@contextmanager
def reachable() -> Iterator[None]:
    """Turn a failure to reach the server into :class:`AnalyticsUnavailable` (cause kept)."""
    try:
        yield
    except UNREACHABLE as exc:
        raise AnalyticsUnavailable(f"ClickHouse is unreachable: {type(exc).__name__}: {exc}"[:300]) from exc


def connect(url: str | None, data_dir: Path, http_url: str | None = None) -> ClickHouse:
    """A server client for a ``clickhouse://`` URL, else chdb in ``data_dir / "clickhouse"``.

    ``http_url`` is the server's HTTP interface, used by ``stream`` (default: port 8123 on the
    host of ``url``).
    """
    if url is None:
        return ChdbClient.open(data_dir / "clickhouse", CHDB_DATABASE)
    parts = urlsplit(url)
    if parts.scheme != "clickhouse":
        raise ValueError(f"CLICKHOUSE_URL must be clickhouse://..., got {parts.scheme!r}")
    return DriverClient(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 9000,
        user=unquote(parts.username or "default"),
        password=unquote(parts.password or ""),
        database=parts.path.strip("/") or "default",
        http_url=http_url,
    )


def insert_sql(table: str, columns: Sequence[str]) -> str:
    """``INSERT INTO table (columns)`` after checking every name is a plain identifier."""
    for name in (table, *columns):
        if not _NAME.match(name):
            raise ValueError(f"not a plain ClickHouse name: {name!r}")
    return f"INSERT INTO {table} ({', '.join(columns)})"


class DriverClient:
    """A ClickHouse server over the native protocol (clickhouse-driver); thread-safe."""

    def __init__(self, host: str, port: int, user: str, password: str, database: str,
                 http_url: str | None = None) -> None:
        options: dict[str, Any] = {"host": host, "port": port, "user": user,
                                   "password": password, "settings": {"use_numpy": False}}
        admin = Client(database="default", **options)
        try:
            with reachable():
                admin.execute(f"CREATE DATABASE IF NOT EXISTS {quote(database)}")
        except Exception as exc:  # a concurrent creator won the race: fine
            if "already exists" not in str(exc):
                raise
        finally:
            admin.disconnect()
        self.database = database
        self.http = HttpTarget.build(http_url, host, user, password, database)
        self._client = Client(database=database, **options)
        self._lock = threading.Lock()

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement; DateTime values come back aware, in UTC."""
        with self._lock, reachable():
            rows, columns = self._client.execute(render(sql, params), with_column_types=True)
            server_zone = self._client.connection.server_info.timezone
        dated = [i for i, (_, kind) in enumerate(columns) if _unwrap(kind).startswith("DateTime")]
        if not dated:
            return [tuple(row) for row in rows]
        zone = ZoneInfo(server_zone)
        return [_with_utc(row, dated, zone) for row in rows]

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """One columnar ``INSERT ... VALUES`` (rows transposed to columns)."""
        if not rows:
            return
        data = [list(column) for column in zip(*rows, strict=True)]
        with self._lock, reachable():
            self._client.execute(f"{insert_sql(table, columns)} VALUES", data, columnar=True)

    def stream(self, sql: str, params: Mapping[str, Any] | None, fmt: str) -> Iterator[bytes]:
        """The rows of one SELECT as ``FORMAT fmt`` bytes, over the HTTP interface, in chunks."""
        return _reachable_stream(http_stream(self.http, render(sql, params), fmt))

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._client.disconnect()


def _reachable_stream(chunks: Iterator[bytes]) -> Iterator[bytes]:
    with reachable():
        yield from chunks


def _with_utc(row: Sequence[Any], dated: list[int], zone: ZoneInfo) -> tuple[Any, ...]:
    values = list(row)
    for i in dated:
        value = values[i]
        if isinstance(value, datetime):
            # Columns without a zone come back naive, in the server's zone.
            aware = value if value.tzinfo else value.replace(tzinfo=zone)
            values[i] = aware.astimezone(UTC)
    return tuple(values)


class ChdbClient:
    """The embedded engine (chdb) on one data path; one instance per (path, database)."""

    _lock = threading.Lock()
    _path: Path | None = None
    _clients: dict[str, ChdbClient] = {}

    @classmethod
    def open(cls, path: Path, database: str = CHDB_DATABASE) -> ChdbClient:
        """The process's client for ``database`` in ``path`` (created on first use)."""
        path = path.resolve()
        with cls._lock:
            if cls._path is not None and cls._path != path and cls._clients:
                raise RuntimeError(f"chdb already uses {cls._path} in this process; one data "
                                   f"path per process (asked for {path})")
            client = cls._clients.get(database)
            if client is None:
                path.mkdir(parents=True, exist_ok=True)
                client = cls._clients[database] = cls(path, database)
                cls._path = path
            return client

    def __init__(self, path: Path, database: str) -> None:
        self.path, self.database = path, database
        # chdb ships no annotations: keep its session as Any behind this typed class.
        self._session: Any = cast(Any, chdb_session).Session(str(path))
        self._query_lock = threading.Lock()
        for setting in _CHDB_SETTINGS:
            self._session.query(setting)
        self._session.query(f"CREATE DATABASE IF NOT EXISTS {quote(database)}")
        self._session.query(f"USE {quote(database)}")

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement; rows are decoded per column type."""
        text = render(sql, params)
        with self._query_lock:
            raw = self._session.query(text, "JSONCompactEachRowWithNamesAndTypes").bytes()
        lines = raw.splitlines()
        if len(lines) < 2:
            return []
        converts = [converter(kind) for kind in orjson.loads(lines[1])]
        return [_typed(orjson.loads(line), converts) for line in lines[2:]]

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """One streamed ``INSERT ... FORMAT JSONCompactColumns`` (the fastest format measured)."""
        if not rows:
            return
        body = orjson.dumps([list(column) for column in zip(*rows, strict=True)],
                            default=_json_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
        # A streaming insert skips parsing the data as SQL text: 2-3x faster than inline data.
        with self._query_lock, self._session.send_insert(
            insert_sql(table, columns), "JSONCompactColumns"
        ) as inserter:
            inserter.append(body)
            inserter.finish()

    def stream(self, sql: str, params: Mapping[str, Any] | None, fmt: str) -> Iterator[bytes]:
        """The rows of one SELECT as ``FORMAT fmt`` bytes, block by block, on a session of its own."""
        return chdb_stream(self.path, self.database, render(sql, params), fmt)

    def close(self) -> None:
        """Close this session and forget it (a later ``open`` starts a new one)."""
        with ChdbClient._lock:
            if ChdbClient._clients.get(self.database) is self:
                del ChdbClient._clients[self.database]
        with self._query_lock:
            self._session.close()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
        return int(value.timestamp())
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot insert {type(value).__name__}")


def _typed(values: list[Any], converts: list[Convert]) -> tuple[Any, ...]:
    return tuple(convert(value) for convert, value in zip(converts, values, strict=True))


def _unwrap(kind: str) -> str:
    match = _WRAPPERS.match(kind)
    return _unwrap(match.group(1)) if match else kind


def converter(kind: str) -> Convert:
    """A function turning chdb's JSON value of ClickHouse type ``kind`` into the driver's type."""
    base = _unwrap(kind)
    if base.startswith("Array("):
        item = converter(base[6:-1])
        return lambda value: None if value is None else [item(v) for v in value]
    convert = _scalar(base)
    return lambda value: None if value is None else convert(value)


def _scalar(base: str) -> Convert:
    if base.startswith(("Int", "UInt")):
        return int
    if base == "Float32":  # the driver returns the float32 value widened, not the shortest repr
        return lambda value: struct.unpack("f", struct.pack("f", float(value)))[0]
    if base.startswith("Float"):
        return float
    if base.startswith("Decimal"):
        return lambda value: Decimal(str(value))
    if base == "UUID":
        return UUID
    if base.startswith("DateTime"):
        return lambda value: datetime.fromtimestamp(float(value), UTC)
    if base.startswith("Date"):
        return date.fromisoformat
    if base.startswith("FixedString"):
        return lambda value: str(value).rstrip("\0")
    return lambda value: value
