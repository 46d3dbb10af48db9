"""The write side's source of truth: aggregates, the application, the envelope, the relay."""
