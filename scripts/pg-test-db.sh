#!/usr/bin/env bash
# Starts the local PostgreSQL 15 cluster and creates the settle test role
# and database (idempotent). Needs root (or the postgres user).
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "pg_ctlcluster not found: install postgresql-15" >&2
  exit 1
fi
pg_ctlcluster 15 main start 2>/dev/null || pg_ctlcluster 15 main status >/dev/null
for i in $(seq 1 30); do
  if su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1; then break; fi
  sleep 1
done
su postgres -c "psql -qAtc \"select 1 from pg_roles where rolname='settle'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"create role settle login superuser password 'settle'\""
su postgres -c "psql -qAtc \"select 1 from pg_database where datname='settle_test'\"" | grep -q 1 ||
  su postgres -c "psql -qc 'create database settle_test owner settle'"
echo "postgres ready: postgres://settle:settle@127.0.0.1:5432/settle_test"
