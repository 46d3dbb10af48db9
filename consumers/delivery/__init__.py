"""Delivery of queued messages: render (tracking, List-Unsubscribe, DKIM), transport, retry.

The modules here are leaves with no knowledge of the event store or of how tracking
tokens are minted: the worker composes them and injects a ``TrackingLinks``.
"""
