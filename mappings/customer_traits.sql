-- Customer traits: one row per staged customer, computed from the staged orders once per run.
--
-- The mapping reads each column as `$.traits.<column>` (see customers_to_people.yaml and the
-- "Traits" section of mappings/README.md). Rules of this file:
--   * one SELECT (WITH ... SELECT is fine), DuckDB SQL, over the staged tables
--     bigcommerce.customers (v3 customers) and bigcommerce.orders (v2 orders, API shape);
--   * exactly one row per customer, the id in the key column `customer_id`;
--   * the parameter $as_of is the run's reference time (a UTC TIMESTAMP); the session time
--     zone is UTC while this runs;
--   * no column may be named `traits`; TIMESTAMP columns reach the mapping as
--     "YYYY-MM-DDTHH:MM:SSZ" text, DECIMAL/INTEGER as numbers.
--
-- Which orders count (status_id, BigCommerce's order statuses):
--   counted:  2 Shipped, 3 Partially Shipped, 4 Refunded, 8 Awaiting Pickup,
--             9 Awaiting Shipment, 10 Completed, 11 Awaiting Fulfillment,
--             12 Manual Verification Required, 13 Disputed, 14 Partially Refunded
--             - the customer placed and paid for these. A refunded order still counts as an
--               order (it happened) but adds its net value, usually 0, to the money.
--   excluded: 0 Incomplete (an abandoned checkout), 1 Pending (not paid yet),
--             5 Cancelled, 6 Declined (payment refused), 7 Awaiting Payment
--             - no money changed hands (yet).
--   Archived orders (is_deleted = true) are excluded whatever their status.
--
-- Money:
--   * an order's value = total_inc_tax - refunded_amount (what the customer paid, net of
--     refunds), in the STORE'S DEFAULT CURRENCY: when store_default_currency_code is present
--     and differs from default_currency_code, the amounts are divided by
--     store_default_to_transactional_exchange_rate; otherwise they are taken as they are.
--     (A missing, zero or non-numeric rate where one is needed makes the value unknown.)
--   * amounts are staged as the API's strings: TRY_CAST reads them, so a non-numeric total
--     is ignored. A NEGATIVE total is ignored too (not clamped): such an order still counts
--     as an order, but adds nothing to the money and is left out of the average.
--   * a non-numeric or missing refunded_amount counts as 0; a refund is kept between 0 and
--     the order's total, so no order is worth less than 0.
--
-- Guest orders (customer_id 0) belong to the registered customer whose email equals the
-- billing address's email, compared trimmed and case-insensitively (the lowest id wins should
-- two customers share it; customers the store deleted are not matched). Guest orders that match no customer are counted for the run summary
-- by unattributed_guest_orders.sql (keep its rules in step with these).
--
-- RFM segment, among customers with at least one counted order:
--   R = recency (last order date), F = frequency (order count), M = monetary (lifetime value),
--   each scored 1..5 by quintile: 5 = the most recent / most frequent / highest 20% of buyers.
--   Quintiles like ntile(5), except that equal values share the lower score (ntile would split
--   ties in an arbitrary order, so a customer's segment would depend on its id).
--   FM = (F + M) / 2, rounded up. The segment, by R (rows) and FM (columns):
--
--           FM=1             FM=2             FM=3             FM=4        FM=5
--   R=5     new customers    potential loyal. potential loyal. champions   champions
--   R=4     promising        potential loyal. potential loyal. loyal       loyal
--   R=3     about to sleep   about to sleep   need attention   loyal       loyal
--   R=2     hibernating      hibernating      at risk          at risk     can't lose them
--   R=1     lost             hibernating      at risk          at risk     can't lose them
--
--   (potential loyal. = "potential loyalists".) Customers without counted orders have
--   order_count 0, lifetime_value 0 and no segment. Scores are relative to this store's
--   buyers, so a segment can change when other customers buy.

WITH
-- Staged orders, with the optional columns present even when the store never sent them.
orders AS (
    SELECT * FROM (
        SELECT * FROM bigcommerce.orders
        UNION ALL BY NAME
        SELECT NULL::VARCHAR AS store_default_currency_code,
               NULL::VARCHAR AS default_currency_code,
               NULL::VARCHAR AS store_default_to_transactional_exchange_rate,
               NULL::VARCHAR AS refunded_amount,
               NULL::BOOLEAN AS is_deleted,
               NULL::JSON    AS billing_address
        WHERE false
    )
),

customers AS (
    SELECT * FROM (
        SELECT * FROM bigcommerce.customers
        UNION ALL BY NAME
        SELECT NULL::TIMESTAMP AS _deleted_at WHERE false
    )
),

-- Registered customers by normalised email, for attributing guest orders.
customer_emails AS (
    SELECT lower(trim(email)) AS email, min(id) AS customer_id
    FROM customers
    WHERE nullif(trim(email), '') IS NOT NULL
      AND _deleted_at IS NULL          -- not customers the store has deleted
    GROUP BY 1
),

-- Counted orders, each with its owner and its value in the store's default currency.
counted AS (
    SELECT
        CASE WHEN o.customer_id = 0 THEN e.customer_id ELSE o.customer_id END AS customer_id,
        CAST(o.date_created AS TIMESTAMP) AS created_at,
        CASE
            WHEN o.store_default_currency_code IS NOT NULL
             AND o.store_default_currency_code IS DISTINCT FROM o.default_currency_code
            THEN nullif(TRY_CAST(o.store_default_to_transactional_exchange_rate AS DECIMAL(38, 10)), 0)
            ELSE 1
        END AS rate,
        CASE WHEN TRY_CAST(o.total_inc_tax AS DECIMAL(38, 4)) >= 0
             THEN TRY_CAST(o.total_inc_tax AS DECIMAL(38, 4)) END AS total,
        coalesce(TRY_CAST(o.refunded_amount AS DECIMAL(38, 4)), 0) AS refunded
    FROM orders AS o
    LEFT JOIN customer_emails AS e     -- the billing email is read for guest orders only
      ON e.email = CASE WHEN o.customer_id = 0 THEN lower(trim(o.billing_address ->> 'email')) END
    WHERE o.status_id IN (2, 3, 4, 8, 9, 10, 11, 12, 13, 14)
      AND o.is_deleted IS NOT TRUE
),

valued AS (
    SELECT
        customer_id,
        created_at,
        CAST((total - least(greatest(refunded, 0), total)) / rate AS DECIMAL(38, 6)) AS net
    FROM counted
    WHERE customer_id IS NOT NULL AND customer_id <> 0
),

per_customer AS (
    SELECT
        customer_id,
        count(*)                        AS order_count,
        count(net)                      AS valued_orders,
        coalesce(sum(net), 0)           AS net_total,
        min(created_at)                 AS first_order_at,
        max(created_at)                 AS last_order_at
    FROM valued
    GROUP BY customer_id
),

-- Quintile scores 1..5 (ties share the lower score).
scored AS (
    SELECT
        *,
        1 + floor(5 * (rank() OVER (ORDER BY last_order_at ASC NULLS FIRST) - 1) / count(*) OVER ())::INTEGER AS r,
        1 + floor(5 * (rank() OVER (ORDER BY order_count) - 1) / count(*) OVER ())::INTEGER AS f,
        1 + floor(5 * (rank() OVER (ORDER BY net_total) - 1) / count(*) OVER ())::INTEGER AS m
    FROM per_customer
),

segmented AS (
    SELECT
        *,
        CAST(ceil((f + m) / 2) AS INTEGER) AS fm
    FROM scored
)

SELECT
    c.id                                                     AS customer_id,
    coalesce(s.order_count, 0)::INTEGER                      AS order_count,
    CAST(round(coalesce(s.net_total, 0), 2) AS DECIMAL(18, 2)) AS lifetime_value,
    CAST(round(s.net_total / nullif(s.valued_orders, 0), 2) AS DECIMAL(18, 2)) AS average_order_value,
    s.first_order_at,
    s.last_order_at,
    date_diff('day', CAST(s.last_order_at AS DATE), CAST($as_of AS DATE)) AS days_since_last_order,
    CASE WHEN s.customer_id IS NOT NULL THEN concat(s.r, s.f, s.m) END AS rfm_score,
    CASE
        WHEN s.customer_id IS NULL THEN NULL
        WHEN s.r = 5 AND s.fm >= 4 THEN 'champions'
        WHEN s.r = 5 AND s.fm = 1 THEN 'new customers'
        WHEN s.r >= 4 AND s.fm IN (2, 3) THEN 'potential loyalists'
        WHEN s.r = 4 AND s.fm = 1 THEN 'promising'
        WHEN s.r >= 3 AND s.fm >= 4 THEN 'loyal'
        WHEN s.r = 3 AND s.fm = 3 THEN 'need attention'
        WHEN s.r = 3 THEN 'about to sleep'
        WHEN s.fm = 5 THEN 'can''t lose them'
        WHEN s.fm >= 3 THEN 'at risk'
        WHEN s.r = 1 AND s.fm = 1 THEN 'lost'
        ELSE 'hibernating'
    END AS rfm_segment
FROM customers AS c
LEFT JOIN segmented AS s ON s.customer_id = c.id
