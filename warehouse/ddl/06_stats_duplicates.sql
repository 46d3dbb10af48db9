-- Notification-log positions stored in `events` more than once (two sinks raced on them, e.g. a
-- member thrown out of its group still writing), per customer. `stats_hourly` counts distinct
-- positions either way; this list tells the read side which customers must merge the position
-- states exactly (uniqExactMerge) instead of summing each row's distinct count, which is exact
-- only while no position appears in two rows. Written by the sink after each insert and by the
-- projector's start-up sweep; a repeated row collapses (ReplacingMergeTree), a missing one cannot
-- occur without a position stored twice by a writer that died before its check.
CREATE TABLE IF NOT EXISTS {db}.stats_duplicates
(
    customer_id UUID,
    position UInt64
)
ENGINE = ReplacingMergeTree()
ORDER BY (customer_id, position);
