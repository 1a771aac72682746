-- Customers: the buyer's email is the identity (compared case-insensitively).
CREATE TABLE customers (
    id          bigserial PRIMARY KEY,
    email       text NOT NULL,
    name        text NOT NULL DEFAULT '',
    company     text NOT NULL DEFAULT '',
    street      text NOT NULL DEFAULT '',
    city        text NOT NULL DEFAULT '',
    zip         text NOT NULL DEFAULT '',
    state       text NOT NULL DEFAULT '',
    country     text NOT NULL DEFAULT '',
    iso_code    text NOT NULL DEFAULT '',
    phone       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX customers_email_key ON customers (lower(email));

--bun:split

-- Orders: one row per order line; (provider, purchase_id, running_no) is
-- what the storefront calls with, so it is the idempotency key.
CREATE TABLE orders (
    id              bigserial PRIMARY KEY,
    provider        text NOT NULL,
    purchase_id     text NOT NULL,
    running_no      text NOT NULL,
    customer_id     bigint REFERENCES customers (id),
    product_id      bigint NOT NULL,
    major           integer NOT NULL,
    minor           integer NOT NULL,
    product_name    text NOT NULL,
    quantity        integer NOT NULL,
    features        text NOT NULL,
    license_model   text NOT NULL,
    expires_at      timestamptz,
    order_date      timestamptz NOT NULL,
    fields          jsonb NOT NULL,
    args            jsonb NOT NULL,
    workflow_id     text NOT NULL,
    email_status    text NOT NULL DEFAULT 'pending',
    email_id        text,
    emailed_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, purchase_id, running_no)
);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);

--bun:split

-- License keys: one or more per order line, in issue order.
CREATE TABLE license_keys (
    id          bigserial PRIMARY KEY,
    order_id    bigint NOT NULL REFERENCES orders (id),
    position    integer NOT NULL,
    key         text NOT NULL UNIQUE,
    serial      text NOT NULL UNIQUE,
    seats       integer NOT NULL,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (order_id, position)
);
