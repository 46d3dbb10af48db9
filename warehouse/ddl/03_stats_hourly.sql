-- Hourly counts per customer and dimension; read with uniqExactMerge.
-- Schema 2: `events` holds the distinct notification-log positions (uniqExact of position), not a
-- count, so an event inserted twice (two sinks racing on one position after a rebalance, or a
-- rebuild's catch-up) is still counted once. Schema 1 had `AggregateFunction(count)`: an install
-- with it is upgraded by `mailerlogic projections rebuild --table stats_hourly`.
CREATE TABLE IF NOT EXISTS {db}.stats_hourly
(
    customer_id UUID,
    hour DateTime('UTC'),
    event_type String,
    domain_id UUID,
    tag String,
    scanner_class UInt8,
    bounce_type String,
    events AggregateFunction(uniqExact, UInt64),
    emails AggregateFunction(uniqExact, UUID)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (customer_id, hour, event_type, domain_id, tag, scanner_class, bounce_type);

-- scanner_class must agree with projections.scanner.classify (0 human, 1 suspicious, 2 scanner).
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.stats_hourly_mv TO {db}.stats_hourly
AS SELECT
    customer_id,
    toStartOfHour(occurred_at) AS hour,
    event_type,
    domain_id,
    tag,
    toUInt8(multiIf(
        event_type NOT IN ('opened', 'clicked'), 0,
        scanner_score >= 80, 2,
        scanner_score >= 50, 1,
        0
    )) AS scanner_class,
    bounce_type,
    uniqExactState(position) AS events,
    uniqExactState(email_id) AS emails
FROM {db}.events
GROUP BY customer_id, hour, event_type, domain_id, tag, scanner_class, bounce_type;
