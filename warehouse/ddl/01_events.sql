-- Raw events, one row per event_id (ReplacingMergeTree collapses a re-inserted event on merge).
CREATE TABLE IF NOT EXISTS {db}.events
(
    event_id UUID,
    position UInt64,
    event_type String,
    customer_id UUID,
    email_id UUID,
    occurred_at DateTime('UTC'),
    recorded_at DateTime('UTC'),
    recipient String,
    from_address String,
    domain String,
    domain_id UUID,
    tag String,
    scanner_score UInt8,
    user_agent String,
    ip String,
    url String,
    smtp_code UInt16,
    bounce_type String,
    reason String,
    payload String
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (customer_id, occurred_at, event_id);
