#!/bin/sh
# Creates keysmith's and Temporal's roles and databases. The postgres image
# runs this from /docker-entrypoint-initdb.d once, when its data volume is
# empty: changing a password later takes ALTER ROLE ... PASSWORD by hand
# (docker compose exec postgres psql -U postgres).
#
# Passwords arrive in the environment and reach psql as variables (:'name'),
# so they are quoted by psql and never written into a file.
: "${KEYSMITH_DB_PASSWORD:?KEYSMITH_DB_PASSWORD is not set}"
: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD is not set}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
	--set keysmith_password="$KEYSMITH_DB_PASSWORD" \
	--set temporal_password="$TEMPORAL_DB_PASSWORD" <<'EOSQL'
-- keysmith: owns its database, so its migrations can create tables.
CREATE ROLE keysmith LOGIN PASSWORD :'keysmith_password';
CREATE DATABASE keysmith OWNER keysmith;
REVOKE ALL ON DATABASE keysmith FROM PUBLIC;

-- temporal: owns the two databases whose schemas temporal-sql-tool sets up
-- (deploy/temporal-schema.sh); it needs no CREATEDB.
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
REVOKE ALL ON DATABASE temporal FROM PUBLIC;
REVOKE ALL ON DATABASE temporal_visibility FROM PUBLIC;

-- The visibility schema wants btree_gin; create it here, as the superuser.
\connect temporal_visibility
CREATE EXTENSION IF NOT EXISTS btree_gin;
EOSQL
