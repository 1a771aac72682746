DROP TABLE renewal_keys;
--bun:split
DROP TABLE renewals;
