-- Reconciliation of orders and traits (created when bigcommerce.orders is staged and a run
-- computed traits). Inputs:
--   bigcommerce.orders            staging: one row per order in the API shape (merge on id)
--   people_sync.customer_traits   the traits the last run computed (one row per customer)
--   people_sync.person_state      ledger: traits_hash the person was last mapped with, and
--                                 the payload People last accepted
-- Views: customer_orders, traits_status, traits_summary.
-- Statements are separated by lines holding only ";".

-- Staged orders per registered customer (guest orders, customer_id 0, are left out here;
-- the traits SQL attributes them by email).
CREATE OR REPLACE VIEW people_sync.customer_orders AS
SELECT
    CAST(customer_id AS BIGINT)                                         AS customer_id,
    count(*)                                                            AS orders_staged,
    count(*) FILTER (WHERE is_deleted)                                  AS orders_archived,
    sum(TRY_CAST(refunded_amount AS DECIMAL(18, 4)))                    AS refunded_total,
    min(TRY_CAST(date_created AS TIMESTAMPTZ))                          AS first_order_created_at,
    max(TRY_CAST(date_modified AS TIMESTAMPTZ))                         AS last_order_modified_at
FROM bigcommerce.orders
WHERE customer_id <> 0
GROUP BY 1
;

-- Traits as computed by the last run against the traits the person was last mapped with and
-- the custom attributes People last accepted.
--   in_people   People accepted the payload mapped from exactly these traits (the columns
--               the mapping reads: traits_hash covers only those)
--   pending     the traits changed since, or People has not accepted the payload yet
--   no_person   the customer never reached the ledger (new, or rejected before mapping)
CREATE OR REPLACE VIEW people_sync.traits_status AS
SELECT
    t.customer_id,
    t.traits                                                            AS traits_computed,
    CASE WHEN p.accepted_hash = p.payload_hash
         THEN json_extract(p.last_payload, '$.customAttributes') END    AS attributes_in_people,
    t.computed_at,
    p.last_success_at,
    CASE
        WHEN p.external_id IS NULL                                      THEN 'no_person'
        WHEN p.traits_hash = t.traits_hash AND p.accepted_hash = p.payload_hash THEN 'in_people'
        ELSE 'pending'
    END                                                                 AS state
FROM people_sync.customer_traits AS t
LEFT JOIN people_sync.customer_ledger AS p ON p.customer_id = t.customer_id
;

CREATE OR REPLACE VIEW people_sync.traits_summary AS
SELECT state, count(*) AS customers FROM people_sync.traits_status GROUP BY state
;
