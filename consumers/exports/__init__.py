"""The exports worker (spec §9): a consumer-loop sink that makes the files of export jobs.

``ports`` says what it needs (the jobs, kept in the event store, and an exporter of rows, wired
by the composition root to the read side), ``counting`` counts rows and throttles progress,
``files`` writes a file atomically and sweeps expired ones, ``worker`` runs a job.
"""
