"""The one DDL/migration module: creates and upgrades every table on ClickHouse 18.16 and chdb.

``apply`` is idempotent: the ``ddl/*.sql`` files run in name order and only use
``CREATE ... IF NOT EXISTS``; then each :data:`MIGRATIONS` entry adds its column unless
``system.columns`` already lists it (``ADD COLUMN IF NOT EXISTS`` fails on 18.16).
Names in the files are written ``{db}.table`` and qualified with the target database here, so
the materialized views always read and write the tables of the same database.

Upgrade rules: never edit a shipped ``CREATE``; append a :class:`AddColumn` instead (and a new
file for a new table). A materialized view only sees rows inserted after it exists. The one
exception is a change of what a column's states hold (``stats_hourly.events``: a count in
schema 1, the set of positions in schema 2), which no ``ALTER`` can convert: :data:`SHAPES`
names the column and its type now, and ``apply`` refuses a table of the older shape with the
command that rebuilds it from the event store (``mailerlogic projections rebuild --table T``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from projections import event_data

if TYPE_CHECKING:
    from collections.abc import Sequence

    from projections import ClickHouse

DDL_DIR = Path(__file__).with_name("ddl")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")


@dataclass(frozen=True)
class AddColumn:
    """A column added to an existing table: ``ALTER TABLE t ADD COLUMN c type``."""

    table: str
    column: str
    type: str
    default: str | None = None

    def sql(self, database: str) -> str:
        """The ALTER statement for ``database``."""
        default = f" DEFAULT {self.default}" if self.default is not None else ""
        return (
            f"ALTER TABLE {quote(database)}.{quote(self.table)} "
            f"ADD COLUMN {quote(self.column)} {self.type}{default}"
        )


# Append only; each entry runs once per database (skipped when the column already exists).
MIGRATIONS: tuple[AddColumn, ...] = (
    # The payload without the fields shown beside it, computed once on insert.
    AddColumn("events", event_data.COLUMN, "String", event_data.DEFAULT),
)


# Columns whose type changed in a shipped table: (table, column, type now). A table still of
# the older shape cannot be altered in place (its rows hold other states): it is rebuilt.
SHAPES: tuple[tuple[str, str, str], ...] = (
    ("stats_hourly", "events", "AggregateFunction(uniqExact, UInt64)"),  # schema 2 (issue 10)
)


class SchemaOutdated(RuntimeError):
    """A table has the shape of an older schema; the message says how to rebuild it."""


def apply(client: ClickHouse, database: str | None = None) -> None:
    """Create or upgrade every table in ``database`` (default: the client's current one)."""
    name = database or current_database(client)
    check_shapes(client, name)  # first: a view over an old-shaped table is refused by the server
    for statement in statements(name):
        _create(client, statement)
    migrate(client, name, MIGRATIONS)


def check_shapes(client: ClickHouse, database: str) -> None:
    """Raise :class:`SchemaOutdated` when a table is still of an older shape."""
    for table, column, wanted in SHAPES:
        found = client.execute(
            "SELECT type FROM system.columns"
            " WHERE database = %(database)s AND table = %(table)s AND name = %(column)s",
            {"database": database, "table": table, "column": column},
        )
        if found and found[0][0] != wanted:
            raise SchemaOutdated(
                f"{database}.{table}.{column} is {found[0][0]}, this version needs {wanted}: "
                f"run `mailerlogic projections rebuild --table {table}` (it rebuilds the table "
                "from the event store and swaps it in)")


def _create(client: ClickHouse, statement: str) -> None:
    # Processes starting together race on CREATE ... IF NOT EXISTS; 18.16 may then answer
    # "already exists" to the loser, which is the state we want.
    try:
        client.execute(statement)
    except Exception as exc:
        if "already exists" not in str(exc):
            raise


def migrate(client: ClickHouse, database: str, migrations: Sequence[AddColumn]) -> None:
    """Run the migrations whose column is not there yet."""
    for migration in migrations:
        if not has_column(client, database, migration.table, migration.column):
            _create(client, migration.sql(database))  # a concurrent starter may add it first


def has_column(client: ClickHouse, database: str, table: str, column: str) -> bool:
    """Whether ``database.table`` has ``column`` (per ``system.columns``)."""
    found = client.execute(
        "SELECT count() FROM system.columns"
        " WHERE database = %(database)s AND table = %(table)s AND name = %(column)s",
        {"database": database, "table": table, "column": column},
    )
    return bool(found[0][0])


def current_database(client: ClickHouse) -> str:
    """The client's current database."""
    return str(client.execute("SELECT currentDatabase()")[0][0])


def statements(database: str) -> list[str]:
    """Every DDL statement, in order, qualified with ``database``."""
    qualified = quote(database)
    found: list[str] = []
    for path in sorted(DDL_DIR.glob("*.sql")):
        text = path.read_text(encoding="utf-8").replace("{db}", qualified)
        found.extend(_split(text))
    return found


def quote(identifier: str) -> str:
    """A plain identifier in backquotes; anything else is refused."""
    if not _IDENTIFIER.match(identifier):
        raise ValueError(f"not a plain ClickHouse identifier: {identifier!r}")
    return f"`{identifier}`"


def _split(text: str) -> list[str]:
    # Our DDL has no ';' inside strings, so a ';' at the end of a line ends a statement.
    chunks = (_strip_comments(chunk) for chunk in _STATEMENT_END.split(text))
    return [chunk for chunk in chunks if chunk]


def _strip_comments(chunk: str) -> str:
    lines = (line for line in chunk.splitlines() if not line.lstrip().startswith("--"))
    return "\n".join(lines).strip()
