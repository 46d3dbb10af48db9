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

    from warehouse.port import ClickHouse

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


# --- Shadow tables and the swap (``consumers.rebuild``) -------------------------------------
# Measured on 18.16 and chdb 26 (the rebuild section of clickhouse-compat.md): a materialized
# view ``db.x_mv TO db.target AS SELECT ... FROM db.events`` follows the *names* through
# ``RENAME`` on 18.16 (Ordinary databases) and through ``EXCHANGE TABLES`` on chdb (Atomic
# databases); chdb's ``RENAME`` moves the view's binding with the table object instead, and
# inserts then reach no view at all. So an Atomic database is swapped with ``EXCHANGE`` only,
# and the views into the swapped tables are dropped before the swap and created again from
# these files after it (which also upgrades a view whose table changed shape).

_OBJECT = re.compile(r"^CREATE (TABLE|MATERIALIZED VIEW) IF NOT EXISTS `[^`]+`\.(\w+)"
                     r"(?:\s+TO `[^`]+`\.(\w+))?")
_ENGINE_CLAUSE = re.compile(r"\bENGINE\s*=.*\Z", re.DOTALL)
SHADOW_SUFFIX = "_rebuild"
REBUILD_STATE = "rebuild_state"  # in the shadow database: written just before the swap
# ``events`` feeds every view and ``event_positions`` is the sink's index of what every view
# table holds: rebuilt only together with every table.
WHOLE_ONLY = ("events", "event_positions")
# Tables the sink writes beside another one, rebuilt (empty) with it: ``stats_duplicates`` lists
# the positions ``stats_hourly`` may hold twice, and a rebuilt ``stats_hourly`` holds none.
COMPANIONS: dict[str, tuple[str, ...]] = {"stats_hourly": ("stats_duplicates",)}


@dataclass(frozen=True)
class DdlObject:
    """One ``CREATE`` of the DDL files: a table, or a view writing ``TO`` a table."""

    name: str
    target: str | None  # the table a materialized view writes to; None for a table
    sql: str


def objects(database: str) -> list[DdlObject]:
    """Every table and materialized view of the DDL files, in file order, for ``database``."""
    found = []
    for statement in statements(database):
        match = _OBJECT.match(statement)
        if match is None:
            raise ValueError(f"not a CREATE ... IF NOT EXISTS of the DDL files: {statement[:80]!r}")
        kind, name, target = match.groups()
        found.append(DdlObject(name, target if kind == "MATERIALIZED VIEW" else None, statement))
    return found


def tables() -> list[str]:
    """The names of every table (not view) of the schema, in file order."""
    return [o.name for o in objects("db") if o.target is None]


def rebuildable() -> list[str]:
    """The tables ``--table`` may name: every table except the companions."""
    companions = {name for names in COMPANIONS.values() for name in names}
    return [name for name in tables() if name not in companions]


def with_companions(chosen: Sequence[str]) -> list[str]:
    """``chosen`` and their companions, in schema order."""
    wanted = set(chosen) | {c for name in chosen for c in COMPANIONS.get(name, ())}
    return [name for name in tables() if name in wanted]


def views_into(chosen: Sequence[str]) -> list[str]:
    """The materialized views that write into one of the ``chosen`` tables."""
    return [o.name for o in objects("db") if o.target in chosen]


def view_statements(database: str, names: Sequence[str]) -> list[str]:
    """The ``CREATE`` of the named views in ``database``."""
    return [o.sql for o in objects(database) if o.target is not None and o.name in names]


def retargeted_views(source_db: str, target_db: str, names: Sequence[str]) -> list[str]:
    """The named views created in ``source_db``, reading its ``events``, writing ``target_db``."""
    found = []
    for sql in view_statements(target_db, names):
        name = _OBJECT.match(sql).group(2)  # type: ignore[union-attr]
        header = f"IF NOT EXISTS {quote(target_db)}.{name} "
        source = f"FROM {quote(target_db)}.events"
        if header not in sql or source not in sql:
            raise ValueError(f"view {name} does not read {target_db}.events")
        found.append(sql.replace(header, f"IF NOT EXISTS {quote(source_db)}.{name} ", 1)
                     .replace(source, f"FROM {quote(source_db)}.events"))
    return found


def null_events(database: str) -> str:
    """``events`` of ``database`` as ``ENGINE = Null``: rows reach the views and are not stored."""
    [events] = [o.sql for o in objects(database) if o.name == "events"]
    return _ENGINE_CLAUSE.sub("ENGINE = Null", events)


def shadow_name(database: str) -> str:
    """The shadow database a rebuild of ``database`` builds its tables in."""
    quote(database)
    return f"{database}{SHADOW_SUFFIX}"


def shadow_statements(shadow: str, chosen: Sequence[str]) -> list[str]:
    """DDL of a shadow set in ``shadow``: the ``chosen`` tables with the views filling them.

    ``events`` is always created because every view reads it; unless it is chosen it is
    ``ENGINE = Null`` (rows reach the views and are not stored). Companions come along.
    """
    unknown = sorted(set(chosen) - set(tables()))
    if unknown:
        raise ValueError(f"unknown table(s) {', '.join(unknown)}; known: {', '.join(tables())}")
    kept = with_companions(chosen)
    found = [] if "events" in kept else [null_events(shadow)]
    found += [o.sql for o in objects(shadow) if o.name in kept or o.target in kept]
    return found


def drop_views(client: ClickHouse, database: str, names: Sequence[str]) -> None:
    """Drop the named materialized views of ``database`` (missing ones are skipped)."""
    for name in names:
        client.execute(f"DROP TABLE IF EXISTS {quote(database)}.{quote(name)}")


def can_exchange(client: ClickHouse, database: str) -> bool:
    """Whether ``database`` swaps with ``EXCHANGE TABLES`` (Atomic engine) rather than RENAME."""
    found = client.execute("SELECT engine FROM system.databases WHERE name = %(name)s",
                           {"name": database})
    return bool(found) and found[0][0] == "Atomic"


def swap_statements(live: str, shadow: str, chosen: Sequence[str], exchange: bool) -> list[str]:
    """Statements putting the ``chosen`` shadow tables in ``live`` and the live ones in ``shadow``.

    Atomic databases: one ``EXCHANGE TABLES`` per table (each atomic). Otherwise one multi-table
    ``RENAME`` moving each live table to ``shadow.<t>_old`` and the shadow table into its place.
    """
    if exchange:
        return [f"EXCHANGE TABLES {quote(live)}.{quote(t)} AND {quote(shadow)}.{quote(t)}"
                for t in chosen]
    moves = [f"{quote(live)}.{quote(t)} TO {quote(shadow)}.{quote(t + '_old')}, "
             f"{quote(shadow)}.{quote(t)} TO {quote(live)}.{quote(t)}" for t in chosen]
    return ["RENAME TABLE " + ", ".join(moves)]


def exists(client: ClickHouse, database: str, table: str | None = None) -> bool:
    """Whether ``database`` (or its ``table``) exists."""
    if table is None:
        found = client.execute("SELECT count() FROM system.databases WHERE name = %(db)s",
                               {"db": database})
    else:
        found = client.execute("SELECT count() FROM system.tables WHERE database = %(db)s"
                               " AND name = %(table)s", {"db": database, "table": table})
    return bool(found[0][0])


def outdated_tables(client: ClickHouse, database: str) -> list[str]:
    """The tables of ``database`` still of an older shape (see :data:`SHAPES`)."""
    found = []
    for table, column, wanted in SHAPES:
        rows = client.execute(
            "SELECT type FROM system.columns"
            " WHERE database = %(database)s AND table = %(table)s AND name = %(column)s",
            {"database": database, "table": table, "column": column})
        if rows and rows[0][0] != wanted:
            found.append(table)
    return found


def ensure(client: ClickHouse, database: str, skip: Sequence[str] = ()) -> None:
    """What ``apply`` does, except for the tables in ``skip`` and the views into them.

    For a rebuild of tables of an older shape: everything else is created or upgraded, and the
    old-shaped tables stay as they are until the rebuild swaps them out.
    """
    for ddl in objects(database):
        if ddl.name not in skip and ddl.target not in skip:
            _create(client, ddl.sql)
    migrate(client, database, [m for m in MIGRATIONS if m.table not in skip])


def create_shadow(client: ClickHouse, shadow: str, chosen: Sequence[str]) -> None:
    """Create ``shadow`` (which must not exist) with the shadow set of the ``chosen`` tables."""
    client.execute(f"CREATE DATABASE {quote(shadow)}")
    for statement in shadow_statements(shadow, chosen):
        client.execute(statement)
    migrate(client, shadow, [m for m in MIGRATIONS if m.table in chosen])
