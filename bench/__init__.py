"""Benchmarks of MailerLogic against native baselines: ``python -m bench`` (``make bench``).

Each benchmark registers itself in :data:`bench.common.REGISTRY` and returns
:class:`bench.common.Result` figures (ours vs a baseline measured in the same run); the runner
prints them as a table and writes ``bench/results.json``. Generated data sets are cached in
``bench/data/`` (ignored by git). Everything talks to 127.0.0.1 only.

* ``bench.projector`` — Kafka -> ClickHouse projector vs ``kcat | clickhouse-client``.
* ``python -m bench.stages`` — the projector's stages in isolation, and a cProfile of it.
"""
