-- Reconciliation views of bc2people: where every staged BigCommerce customer stands in People.
--
-- Created (idempotently, CREATE OR REPLACE) at the end of every `bc2people sync` and by
-- `bc2people reconcile`. Inputs:
--   bigcommerce.customers     staging: one row per customer in the API shape (`_deleted_at`
--                             set by the deletion sweep when the store no longer has it)
--   people_sync.person_state  ledger: one row per People externalId, last status and hashes
--   people_sync.outcomes      ledger: one row per record per run (what happened to it)
--   people_sync.runs          run history with the counts of each run
--
-- Every staged customer that is still in the store is in exactly one state:
--   accepted             People holds the customer's current mapped payload
--   pending              staged but not yet accepted: never attempted, staged again since it
--                        was last mapped (its staging load id differs from the ledger's
--                        source_load_id), failed to deliver, or its mapped payload changed
--                        since People last accepted it
--   rejected_by_mapping  the mapping refused it (reason in error_message)
--   rejected_by_people   People refused it (error_code / error_message)
-- so  staged_active = accepted + pending + rejected_by_mapping + rejected_by_people.
-- "never synced" cuts across those states: People has never accepted any payload for it.
--
-- Summary views:  reconcile_summary (metric, customers), reconcile_overall (one wide row),
--                 reconcile_by_run, people_errors, people_errors_by_run
-- List views:     customers_staged, customers_deleted_in_store, customers_mapped,
--                 customers_pending, customers_accepted, customers_rejected_by_mapping,
--                 customers_rejected_by_people, customers_never_synced
-- Statements are separated by lines holding only ";".


-- One row per staged customer, whichever optional columns staging has (UNION ALL BY NAME
-- adds `_deleted_at` / `_dlt_load_id` as NULL while staging has no such column).
CREATE OR REPLACE VIEW people_sync.customers_staged AS
SELECT
    CAST(id AS BIGINT)                      AS customer_id,
    email,
    first_name,
    last_name,
    CAST(date_modified AS VARCHAR)          AS date_modified,
    TRY_CAST(_deleted_at AS TIMESTAMP)      AS deleted_at,
    _deleted_at IS NULL                     AS in_store,
    CAST(_dlt_load_id AS VARCHAR)           AS staged_load_id
FROM (
    SELECT * FROM bigcommerce.customers
    UNION ALL BY NAME
    SELECT NULL::TIMESTAMP AS _deleted_at, NULL::VARCHAR AS _dlt_load_id WHERE false
)
;

-- The ledger row of each customer (the latest one, should a mapping change its externalId).
CREATE OR REPLACE VIEW people_sync.customer_ledger AS
SELECT *
FROM people_sync.person_state
QUALIFY row_number() OVER (
    PARTITION BY customer_id
    ORDER BY last_attempt_at DESC NULLS LAST, external_id
) = 1
;

-- The heart of reconciliation: each staged customer with its ledger row and its state.
CREATE OR REPLACE VIEW people_sync.customer_status AS
SELECT
    s.customer_id,
    s.email,
    s.first_name,
    s.last_name,
    s.date_modified,
    s.in_store,
    s.deleted_at,
    l.external_id,
    l.people_id,
    l.last_status,
    l.error_code,
    l.error_message,
    l.first_attempt_at,
    l.last_attempt_at,
    l.last_success_at,
    l.run_id                                            AS last_run_id,
    s.staged_load_id,
    l.source_load_id,
    CASE
        WHEN NOT s.in_store                             THEN 'deleted_in_store'
        WHEN l.external_id IS NULL                      THEN 'pending'
        WHEN l.source_load_id IS NOT NULL AND s.staged_load_id IS NOT NULL
             AND l.source_load_id <> s.staged_load_id   THEN 'pending'
        WHEN l.last_status = 'REJECTED_BY_MAPPING'      THEN 'rejected_by_mapping'
        WHEN l.last_status = 'REJECTED_BY_PEOPLE'       THEN 'rejected_by_people'
        WHEN l.last_status IN ('CREATED', 'UPDATED', 'NOT_MODIFIED')
             AND l.accepted_hash IS NOT NULL
             AND l.accepted_hash = l.payload_hash       THEN 'accepted'
        ELSE 'pending'
    END                                                 AS state,
    l.last_success_at IS NULL                           AS never_synced
FROM people_sync.customers_staged AS s
LEFT JOIN people_sync.customer_ledger AS l
       ON l.customer_id = s.customer_id
;

-- ---------------------------------------------------------------------- list views

CREATE OR REPLACE VIEW people_sync.customers_deleted_in_store AS
SELECT customer_id, email, deleted_at, external_id, people_id, last_status, last_success_at
FROM people_sync.customer_status
WHERE NOT in_store
;

CREATE OR REPLACE VIEW people_sync.customers_mapped AS
SELECT customer_id, email, external_id, last_status, last_attempt_at, last_run_id
FROM people_sync.customer_status
WHERE in_store AND external_id IS NOT NULL AND state <> 'rejected_by_mapping'
;

CREATE OR REPLACE VIEW people_sync.customers_pending AS
SELECT customer_id, email, external_id, last_status, error_code, error_message,
       last_attempt_at, last_success_at, last_run_id,
       CASE
           WHEN external_id IS NULL                THEN 'not mapped yet'
           WHEN source_load_id IS NOT NULL AND staged_load_id IS NOT NULL
                AND source_load_id <> staged_load_id THEN 'staged change not mapped yet'
           WHEN last_status = 'FAILED'             THEN 'delivery failed'
           ELSE 'changed since last accepted'
       END AS reason
FROM people_sync.customer_status
WHERE state = 'pending'
;

CREATE OR REPLACE VIEW people_sync.customers_accepted AS
SELECT customer_id, email, external_id, people_id, last_status, last_success_at, last_run_id
FROM people_sync.customer_status
WHERE state = 'accepted'
;

CREATE OR REPLACE VIEW people_sync.customers_rejected_by_mapping AS
SELECT customer_id, email, external_id, error_code, error_message, last_attempt_at, last_run_id
FROM people_sync.customer_status
WHERE state = 'rejected_by_mapping'
;

CREATE OR REPLACE VIEW people_sync.customers_rejected_by_people AS
SELECT customer_id, email, external_id, error_code, error_message, last_attempt_at,
       last_success_at, last_run_id
FROM people_sync.customer_status
WHERE state = 'rejected_by_people'
;

CREATE OR REPLACE VIEW people_sync.customers_never_synced AS
SELECT customer_id, email, external_id, state, last_status, error_code, error_message, last_run_id
FROM people_sync.customer_status
WHERE in_store AND never_synced
;

-- ---------------------------------------------------------------------- summaries

CREATE OR REPLACE VIEW people_sync.reconcile_overall AS
SELECT
    count(*)                                                    AS staged,
    count(*) FILTER (WHERE in_store)                            AS staged_active,
    count(*) FILTER (WHERE NOT in_store)                        AS staged_deleted,
    count(*) FILTER (WHERE in_store AND external_id IS NOT NULL
                           AND state <> 'rejected_by_mapping')  AS mapped,
    count(*) FILTER (WHERE state = 'rejected_by_mapping')       AS rejected_by_mapping,
    count(*) FILTER (WHERE state = 'pending')                   AS pending,
    count(*) FILTER (WHERE state = 'accepted')                  AS accepted,
    count(*) FILTER (WHERE state = 'rejected_by_people')        AS rejected_by_people,
    count(*) FILTER (WHERE in_store AND never_synced)           AS never_synced
FROM people_sync.customer_status
;

CREATE OR REPLACE VIEW people_sync.people_errors AS
SELECT coalesce(CAST(error_code AS VARCHAR), '?') AS error_code,
       count(*)                                   AS customers,
       any_value(error_message)                   AS example_message
FROM people_sync.customer_status
WHERE state = 'rejected_by_people'
GROUP BY 1
;

-- The summary as (metric, customers) rows in reading order; `bc2people reconcile` prints it.
-- (One scan: the overall counts are computed once and unpivoted into rows.)
CREATE OR REPLACE VIEW people_sync.reconcile_summary AS
WITH o AS MATERIALIZED (
    SELECT * FROM people_sync.reconcile_overall
),
labels (ord, metric, name) AS (
    VALUES (1.0, 'staged in DuckDB',        'staged'),
           (2.0, '  still in the store',    'staged_active'),
           (3.0, '  deleted in the store',  'staged_deleted'),
           (4.0, 'mapped',                  'mapped'),
           (5.0, 'rejected by mapping',     'rejected_by_mapping'),
           (6.0, 'accepted by People',      'accepted'),
           (7.0, 'pending',                 'pending'),
           (8.0, 'rejected by People',      'rejected_by_people'),
           (9.0, 'never synced',            'never_synced')
),
counts AS (
    UNPIVOT o ON COLUMNS(*) INTO NAME name VALUE customers
)
SELECT ord, metric, customers FROM (
    SELECT l.ord, l.metric, c.customers
    FROM labels AS l JOIN counts AS c USING (name)
    UNION ALL
    SELECT 8 + row_number() OVER (ORDER BY customers DESC, error_code) / 1000.0,
           '  code ' || error_code, customers
    FROM people_sync.people_errors
)
ORDER BY ord
;

-- Per run: the counts the run recorded, and what its outcomes say.
CREATE OR REPLACE VIEW people_sync.reconcile_by_run AS
SELECT
    r.run_id,
    r.started_at,
    r.finished_at,
    r.status,
    r.staged,
    r.extracted,
    r.deleted_in_store,
    r.mapped,
    r.rejected_by_mapping,
    r.unchanged,
    r.sent,
    coalesce(r.created, 0) + coalesce(r.updated, 0) + coalesce(r.not_modified, 0) AS accepted,
    r.created,
    r.updated,
    r.not_modified,
    r.rejected_by_people,
    r.failed,
    r.delete_actions,
    coalesce(o.outcomes, 0)                                  AS outcomes_recorded,
    coalesce(o.accepted, 0)                                  AS outcomes_accepted,
    coalesce(o.rejected_by_mapping, 0)                       AS outcomes_rejected_by_mapping,
    coalesce(o.rejected_by_people, 0)                        AS outcomes_rejected_by_people,
    coalesce(o.failed, 0)                                    AS outcomes_failed
FROM people_sync.runs AS r
LEFT JOIN (
    SELECT run_id,
           count(*)                                                              AS outcomes,
           count(*) FILTER (WHERE status IN ('CREATED', 'UPDATED', 'NOT_MODIFIED')) AS accepted,
           count(*) FILTER (WHERE status = 'REJECTED_BY_MAPPING')                AS rejected_by_mapping,
           count(*) FILTER (WHERE status = 'REJECTED_BY_PEOPLE')                 AS rejected_by_people,
           count(*) FILTER (WHERE status = 'FAILED')                             AS failed
    FROM people_sync.outcomes
    GROUP BY run_id
) AS o ON o.run_id = r.run_id
;

CREATE OR REPLACE VIEW people_sync.people_errors_by_run AS
SELECT run_id,
       coalesce(CAST(error_code AS VARCHAR), '?') AS error_code,
       count(*)                                   AS records,
       any_value(error_message)                   AS example_message
FROM people_sync.outcomes
WHERE status = 'REJECTED_BY_PEOPLE'
GROUP BY 1, 2
;
