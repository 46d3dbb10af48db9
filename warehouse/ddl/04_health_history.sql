-- Health-score history (spec §11): the latest health_scored calculation per customer and UTC day.
-- ReplacingMergeTree(position) keeps the highest position of a (customer_id, day) on merge;
-- position is commit order, and one customer's calculations commit in calculation order (one
-- aggregate per customer). Readers collapse unmerged rows with argMax(..., position) (or FINAL).
CREATE TABLE IF NOT EXISTS {db}.health_history
(
    customer_id UUID,
    day Date,
    position UInt64,
    calculated_at DateTime('UTC'),
    overall_score Float64,
    reputation_grade String,
    status String,
    delivery_rate Float64,
    open_rate Float64,
    click_rate Float64,
    bounce_rate Float64,
    complaint_rate Float64
)
ENGINE = ReplacingMergeTree(position)
PARTITION BY toYYYYMM(day)
ORDER BY (customer_id, day);

-- Filled by the sink's INSERT INTO events; the payload is flat JSON (event_store/publishing.py),
-- read with visitParamExtract* (no JSONExtract on 18.16).
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.health_history_mv TO {db}.health_history
AS SELECT
    customer_id,
    toDate(occurred_at) AS day,
    position,
    occurred_at AS calculated_at,
    visitParamExtractFloat(payload, 'overall_score') AS overall_score,
    visitParamExtractString(payload, 'reputation_grade') AS reputation_grade,
    visitParamExtractString(payload, 'status') AS status,
    visitParamExtractFloat(payload, 'delivery_rate') AS delivery_rate,
    visitParamExtractFloat(payload, 'open_rate') AS open_rate,
    visitParamExtractFloat(payload, 'click_rate') AS click_rate,
    visitParamExtractFloat(payload, 'bounce_rate') AS bounce_rate,
    visitParamExtractFloat(payload, 'complaint_rate') AS complaint_rate
FROM {db}.events
WHERE event_type = 'health_scored';
