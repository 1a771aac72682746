-- A short key keeps its text when it is renewed (the server keeps the later
-- expiry), so one text may stand in several renewals.
ALTER TABLE renewal_keys DROP CONSTRAINT renewal_keys_key_key;
