"""commands/http."""
