-- What was doubtful in the storefront's call and how it was read, and the
-- end of the maintenance plan sold with the line (QLM's is_maintenance_plan).
ALTER TABLE orders ADD COLUMN warnings jsonb NOT NULL DEFAULT '[]';
ALTER TABLE orders ADD COLUMN maintenance_until timestamptz;
