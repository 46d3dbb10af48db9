"""read_api/http."""
