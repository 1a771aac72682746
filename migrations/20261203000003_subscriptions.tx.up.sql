-- The storefront's own id of the subscription an order line starts
-- (FastSpring's subscription reference), so that its rebilling, which
-- names only the subscription, finds the line it renews.
ALTER TABLE orders ADD COLUMN subscription text;
CREATE INDEX orders_subscription_idx ON orders (provider, subscription) WHERE subscription IS NOT NULL;
