-- Renewals: a subscription's rebilling or a maintenance plan's renewal
-- extends an order line bought earlier (order_id). Each is its own line at
-- the storefront (provider, purchase_id, running_no: the rebilling purchase),
-- so a repeated call finds it, and re-signs the original keys (same serials)
-- with the later dates.
CREATE TABLE renewals (
    id                bigserial PRIMARY KEY,
    order_id          bigint NOT NULL REFERENCES orders (id),
    provider          text NOT NULL,
    purchase_id       text NOT NULL,
    running_no        text NOT NULL,
    kind              text NOT NULL,
    customer_id       bigint REFERENCES customers (id),
    expires_at        timestamptz,
    maintenance_until timestamptz,
    order_date        timestamptz NOT NULL,
    fields            jsonb NOT NULL,
    args              jsonb NOT NULL,
    warnings          jsonb NOT NULL DEFAULT '[]',
    workflow_id       text NOT NULL,
    email_status      text NOT NULL DEFAULT 'pending',
    email_id          text,
    emailed_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, purchase_id, running_no)
);
CREATE INDEX renewals_order_id_idx ON renewals (order_id);

--bun:split

CREATE TABLE renewal_keys (
    id          bigserial PRIMARY KEY,
    renewal_id  bigint NOT NULL REFERENCES renewals (id),
    position    integer NOT NULL,
    key         text NOT NULL UNIQUE,
    serial      text NOT NULL,
    seats       integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (renewal_id, position)
);
CREATE INDEX renewal_keys_serial_idx ON renewal_keys (serial);
