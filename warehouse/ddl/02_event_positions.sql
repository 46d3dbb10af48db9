-- Every stored notification-log position: the sink's "already written?" lookup.
CREATE TABLE IF NOT EXISTS {db}.event_positions
(
    position UInt64
)
ENGINE = MergeTree()
PARTITION BY intDiv(position, 10000000)
ORDER BY position;

-- Filled by the same INSERT that writes the events.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.events_positions_mv TO {db}.event_positions
AS SELECT position FROM {db}.events;
