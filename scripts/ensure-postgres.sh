#!/usr/bin/env bash
# Starts the distribution's PostgreSQL cluster when nothing answers on
# 127.0.0.1:5432. Point KEYSMITH_DATABASE_URL elsewhere to use another server.
set -euo pipefail
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then exit 0; fi
if ! command -v pg_ctlcluster >/dev/null; then
  echo "PostgreSQL is not answering on 127.0.0.1:5432 and no local cluster is installed." >&2
  echo "Install it (apt-get install postgresql) or set KEYSMITH_DATABASE_URL." >&2
  exit 1
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
pg_ctlcluster --skip-systemctl-redirect "$version" main start
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && exit 0
  sleep 1
done
echo "PostgreSQL did not come up" >&2
exit 1
