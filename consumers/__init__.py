"""Consumers of the event stream: one loop for any source, sinks per purpose."""
