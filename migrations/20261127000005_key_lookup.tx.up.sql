-- Keys are looked up as people type them: case, dashes and spaces do not
-- matter. These indexes serve that lookup (activation, validation, renewals).
CREATE INDEX license_keys_normalized_idx ON license_keys ((upper(replace(replace(key, '-', ''), ' ', ''))));
--bun:split
CREATE INDEX renewal_keys_normalized_idx ON renewal_keys ((upper(replace(replace(key, '-', ''), ' ', ''))));
