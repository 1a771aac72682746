DROP TABLE license_keys;
--bun:split
DROP TABLE orders;
--bun:split
DROP TABLE customers;
