"""The Events API's queries (spec §8) and the streaming export (spec §9), from ClickHouse.

``filters`` parses query strings (every problem a 400), ``query`` builds the SQL every events
reader shares (API pages, streaming exports, export jobs), ``shape`` says how an event and a
timeline look, ``listing`` and ``export`` run the statements.
"""
