"""The read side: statistics and queries served from ClickHouse."""
