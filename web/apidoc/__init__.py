"""The API reference (spec §16): ``/api/openapi.json`` and the browsable ``/api/docs`` page."""
