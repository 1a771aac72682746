-- Keys imported from QLM: the QLM key (the legacy key: legacy_text as QLM
-- gave it, legacy_key as QLM stores keys, upper case without dashes, for
-- look-ups) beside the keysmith key that the import issued for the same
-- license; each legacy key once. imports records where each imported line
-- came from.
ALTER TABLE license_keys ADD COLUMN legacy_key text, ADD COLUMN legacy_text text;
CREATE UNIQUE INDEX license_keys_legacy_key_idx ON license_keys (legacy_key) WHERE legacy_key IS NOT NULL;
--bun:split
CREATE TABLE imports (
    id          bigserial PRIMARY KEY,
    order_id    bigint NOT NULL UNIQUE REFERENCES orders (id),
    source      text NOT NULL,
    file_name   text NOT NULL,
    file_sha256 text NOT NULL,
    row_number  integer NOT NULL,
    actor       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
