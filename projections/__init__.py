"""Projections: pure envelope -> row functions, one module per table. No I/O.

The Kafka topic is the contract: projections know envelopes (``event_store.envelope``), never
the aggregates, Flask, Kafka or ClickHouse clients. ``warehouse/`` writes the rows.
"""
