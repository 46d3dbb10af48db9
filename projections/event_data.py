"""The ``events.event_data`` column: an event's payload without the fields shown beside it.

The Events API and exports show ``recipient``, ``from`` and ``tag`` as fields of their own, and
``event_data`` is the rest of the payload. ClickHouse computes it as the column's ``DEFAULT``
(:data:`COLUMN`, added by ``schema.MIGRATIONS``) when a row is inserted, so the two regular-
expression passes over the payload run once per event instead of once per export row (they
were most of an export's cost); rows written before the column existed get the same value
computed when read. The SQL runs on 18.16 (no JSON functions there) and on chdb.

Which keys are removed: the top-level ``from``, ``from_address``, ``recipient``, ``tag`` and
``to`` (older spellings the projection also reads), whatever their value is a string or a
scalar. The payload text is the projection's compact JSON with sorted keys
(``projections.events``), so top-level entries are ``"key":value`` separated by ``,``. The one
nested value the publishers write is ``metadata`` (the customer's object, which may hold keys
of the same names): it is cut out, kept verbatim, and the flat text before and after it is
stripped. Its first occurrence is the top-level one, as the keys sorted before it (``domain``,
``domain_id``, ``from_address``...) hold strings. A payload with another nested value holding
one of these keys would lose that nested key too; no publisher writes one.

Changing this expression later needs ``ALTER TABLE events MODIFY COLUMN`` (a new migration):
the DEFAULT of an existing column is not re-read from here.
"""

from __future__ import annotations

from warehouse.sql import literal

SHOWN_KEYS = ("from", "from_address", "recipient", "tag", "to")
# A JSON string (escapes included) or a scalar; a nested value never matches, so it is kept.
_VALUE = r'"(?:[^"\\]|\\.)*"|[^,"{}\[\]]+'
_ENTRY = r'"(?:' + "|".join(SHOWN_KEYS) + r')":(?:' + _VALUE + ")"
_LATER = literal("," + _ENTRY)
_FIRST = literal(r"^\{" + _ENTRY + ",?")


def strip_sql(text: str) -> str:
    """SQL removing the shown keys' entries from flat JSON object text ``text`` (or a piece)."""
    return f"replaceRegexpOne(replaceRegexpAll({text}, {_LATER}, ''), {_FIRST}, '{{')"


def event_data_sql(payload: str = "payload") -> str:
    """SQL of ``event_data`` computed from the JSON text in column ``payload``."""
    at, raw = f"position({payload}, '\"metadata\":')", f"visitParamExtractRaw({payload}, 'metadata')"
    # Payloads without metadata (all but `queued`) take the first branch; the second then runs
    # on empty strings, which costs next to nothing.
    head = f"if({at} = 0, '', substring({payload}, 1, {at} - 1))"
    middle = f"if({at} = 0, '', concat('\"metadata\":', {raw}))"
    tail = f"if({at} = 0, '', substring({payload}, {at} + 11 + length({raw})))"
    return (f"if({at} = 0, {strip_sql(payload)}, "
            f"concat({strip_sql(head)}, {middle}, {strip_sql(tail)}))")


COLUMN = "event_data"
DEFAULT = event_data_sql()
