#!/bin/sh
# One-shot: sets up or upgrades Temporal's schemas in the databases
# deploy/postgres-init.sh created. Run by the temporal-schema service
# (temporalio/admin-tools image) of docker-compose.yml and, on a VM, by
# `make cluster` (internal/cluster) with Temporal's own SQL tool built into
# bin/. Idempotent: setup-schema -v 0.0 leaves an existing schema alone and
# update-schema applies only the versions not yet applied, so this runs on
# every start and is how a Temporal upgrade reaches Postgres.
#
# It reads the Temporal server's own variables (POSTGRES_SEEDS, DB_PORT,
# POSTGRES_USER, DBNAME, VISIBILITY_DBNAME), so one environment describes the
# databases to both. temporal-sql-tool reads the password from SQL_PASSWORD
# (empty under trust authentication). TEMPORAL_SQL_TOOL and
# TEMPORAL_SCHEMA_DIR say where the tool and the server release's
# schema/postgresql/v12 folder are when not in the admin-tools image.
set -eu
: "${SQL_PASSWORD?SQL_PASSWORD is not set}"
export SQL_PASSWORD

tool="${TEMPORAL_SQL_TOOL:-temporal-sql-tool}"
schema="${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}"
db="${DBNAME:-temporal}"
visibility="${VISIBILITY_DBNAME:-temporal_visibility}"

sql() {
	"$tool" --plugin postgres12 --ep "${POSTGRES_SEEDS:-postgres}" -p "${DB_PORT:-5432}" \
		-u "${POSTGRES_USER:-temporal}" "$@"
}

echo "temporal-schema: main store (database $db)"
sql --db "$db" setup-schema -v 0.0
sql --db "$db" update-schema -d "$schema/temporal/versioned"

echo "temporal-schema: visibility store (database $visibility)"
sql --db "$visibility" setup-schema -v 0.0
sql --db "$visibility" update-schema -d "$schema/visibility/versioned"

echo "temporal-schema: done"
