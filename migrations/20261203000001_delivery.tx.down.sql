DROP INDEX IF EXISTS renewals_held;
DROP INDEX IF EXISTS orders_held;
ALTER TABLE renewals DROP COLUMN delivery, DROP COLUMN delivery_reason;
ALTER TABLE orders DROP COLUMN delivery, DROP COLUMN delivery_reason;
