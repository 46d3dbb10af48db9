"""Outbound webhooks to customers (spec §15): payload and signature, HTTP sender, retry schedule.

The modules here are leaves that know envelopes but not the event store: ``payload`` decides
which endpoints an event goes to and the exact signed bytes, ``sender`` POSTs them behind an
SSRF guard, and ``schedule`` says when to try again. A consumer composes them.
"""
