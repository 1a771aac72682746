-- No key without a sale: whether the storefront received the line's keys.
-- NULL: not asked (lines from before, providers that mail regardless);
-- confirmed, unconfirmed (held: not mailed, not activating) or cancelled.
ALTER TABLE orders ADD COLUMN delivery text, ADD COLUMN delivery_reason text;
ALTER TABLE renewals ADD COLUMN delivery text, ADD COLUMN delivery_reason text;
CREATE INDEX orders_held ON orders (created_at) WHERE delivery = 'unconfirmed';
CREATE INDEX renewals_held ON renewals (created_at) WHERE delivery = 'unconfirmed';
