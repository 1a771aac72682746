ALTER TABLE orders DROP COLUMN maintenance_until;
ALTER TABLE orders DROP COLUMN warnings;
