DROP INDEX renewal_keys_normalized_idx;
--bun:split
DROP INDEX license_keys_normalized_idx;
