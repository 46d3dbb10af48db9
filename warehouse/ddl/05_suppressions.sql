-- The unsubscribe list (spec §10): one row per change of a (customer, address, scope) entry.
-- domain_id is the zero UUID for a global entry. The newest version (notification-log position)
-- of a key wins: read with argMax(..., version) or FINAL; active = 0 after a re-subscribe.
-- id is the entry id the write API shows (the event id for an envelope that lacks it).
-- Filled from events only: dropping old event partitions (retention) keeps the list whole.
CREATE TABLE IF NOT EXISTS {db}.suppressions
(
    customer_id UUID,
    email String,
    domain_id UUID,
    version UInt64,
    active UInt8,
    id String,
    source String,
    reason String,
    created_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (customer_id, email, domain_id);

-- payload is compact JSON with sorted keys (projections.events), which visitParam* reads on 18.16.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.suppressions_mv TO {db}.suppressions
AS SELECT
    customer_id,
    recipient AS email,
    domain_id,
    position AS version,
    toUInt8(event_type != 'resubscribed') AS active,
    if(visitParamExtractString(payload, 'suppression_id') = '', toString(event_id),
       visitParamExtractString(payload, 'suppression_id')) AS id,
    visitParamExtractString(payload, 'source') AS source,
    reason,
    occurred_at AS created_at
FROM {db}.events
WHERE event_type IN ('unsubscribed', 'suppressed', 'resubscribed');
