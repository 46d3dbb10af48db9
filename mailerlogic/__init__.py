"""The composition root: configuration, wiring of the processes, the app factory, the CLI."""
