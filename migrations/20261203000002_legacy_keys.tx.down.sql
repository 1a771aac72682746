DROP TABLE IF EXISTS imports;
DROP INDEX IF EXISTS license_keys_legacy_key_idx;
ALTER TABLE license_keys DROP COLUMN legacy_key, DROP COLUMN legacy_text;
