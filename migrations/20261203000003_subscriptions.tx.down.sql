DROP INDEX IF EXISTS orders_subscription_idx;
ALTER TABLE orders DROP COLUMN subscription;
