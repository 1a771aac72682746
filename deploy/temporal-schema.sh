#!/bin/sh
# One-shot (the temporal-schema service, temporalio/admin-tools image): sets
# up or upgrades Temporal's schemas in the databases deploy/postgres-init.sh
# created. Idempotent: setup-schema -v 0.0 leaves an existing schema alone and
# update-schema applies only the versions not yet applied, so this runs on
# every `docker compose up` and is how a Temporal upgrade reaches Postgres.
# temporal-sql-tool reads the password from SQL_PASSWORD.
set -eu
: "${SQL_PASSWORD:?SQL_PASSWORD is not set}"

schema=/etc/temporal/schema/postgresql/v12

sql() {
	temporal-sql-tool --plugin postgres12 --ep postgres -p 5432 -u temporal "$@"
}

echo "temporal-schema: main store (database temporal)"
sql --db temporal setup-schema -v 0.0
sql --db temporal update-schema -d "$schema/temporal/versioned"

echo "temporal-schema: visibility store (database temporal_visibility)"
sql --db temporal_visibility setup-schema -v 0.0
sql --db temporal_visibility update-schema -d "$schema/visibility/versioned"

echo "temporal-schema: done"
