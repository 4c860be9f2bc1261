-- Guest orders that no registered customer could be credited with: the run summary's count.
--
-- The same rules as customer_traits.sql (keep them in step): counted statuses only
-- (2, 3, 4, 8, 9, 10, 11, 12, 13, 14), archived orders (is_deleted) left out, and a guest
-- order (customer_id 0) belongs to the customer whose email equals its billing email,
-- trimmed and case-insensitive. Those left over are counted here; their value is in no
-- customer's traits.

WITH
-- Counted guest orders, each with its normalised billing email (the only column read).
guest_orders AS (
    SELECT lower(trim(o.billing_address ->> 'email')) AS email
    FROM (
        SELECT * FROM bigcommerce.orders
        UNION ALL BY NAME
        SELECT NULL::BOOLEAN AS is_deleted, NULL::JSON AS billing_address WHERE false
    ) AS o
    WHERE o.customer_id = 0
      AND o.status_id IN (2, 3, 4, 8, 9, 10, 11, 12, 13, 14)
      AND o.is_deleted IS NOT TRUE
),

-- Emails of registered customers the store has not deleted.
customer_emails AS (
    SELECT DISTINCT lower(trim(c.email)) AS email
    FROM (
        SELECT * FROM bigcommerce.customers
        UNION ALL BY NAME
        SELECT NULL::TIMESTAMP AS _deleted_at WHERE false
    ) AS c
    WHERE c._deleted_at IS NULL
      AND nullif(trim(c.email), '') IS NOT NULL
)

SELECT count(*) AS unattributed_guest_orders
FROM guest_orders AS g
WHERE NOT EXISTS (SELECT 1 FROM customer_emails AS e WHERE e.email = g.email)
