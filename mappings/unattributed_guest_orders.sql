-- Guest orders that no registered customer could be credited with: the run summary's count.
--
-- The same rules as customer_traits.sql (keep them in step): counted statuses only
-- (2, 3, 4, 8, 9, 10, 11, 12, 13, 14), archived orders (is_deleted) left out, and a guest
-- order (customer_id 0) belongs to the customer whose email equals its billing email,
-- trimmed and case-insensitive. Those left over are counted here; their value is in no
-- customer's traits.

SELECT count(*) AS unattributed_guest_orders
FROM (
    SELECT * FROM bigcommerce.orders
    UNION ALL BY NAME
    SELECT NULL::BOOLEAN AS is_deleted, NULL::JSON AS billing_address WHERE false
) AS o
WHERE o.customer_id = 0
  AND o.status_id IN (2, 3, 4, 8, 9, 10, 11, 12, 13, 14)
  AND o.is_deleted IS NOT TRUE
  AND NOT EXISTS (
      SELECT 1
      FROM (
          SELECT * FROM bigcommerce.customers
          UNION ALL BY NAME
          SELECT NULL::TIMESTAMP AS _deleted_at WHERE false
      ) AS c
      WHERE c._deleted_at IS NULL
        AND nullif(trim(c.email), '') IS NOT NULL
        AND lower(trim(c.email)) = lower(trim(o.billing_address ->> 'email'))
  )
