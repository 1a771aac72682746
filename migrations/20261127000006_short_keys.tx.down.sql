ALTER TABLE renewal_keys ADD CONSTRAINT renewal_keys_key_key UNIQUE (key);
