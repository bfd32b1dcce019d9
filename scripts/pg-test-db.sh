#!/usr/bin/env bash
# Starts the local PostgreSQL 15 cluster and creates what the PostgreSQL
# tests use (idempotent; needs root, or the postgres user):
#   - a login role "settle" with password "settle", not a superuser: it owns
#     the test database, which is all the tests need (each test creates and
#     drops its own schema);
#   - a database "settle_test" owned by that role.
# An existing role of that name is left as it is.
# The tests then use
#   SETTLE_TEST_POSTGRES=postgres://settle:settle@127.0.0.1:5432/settle_test?sslmode=disable
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
if ! su postgres -c "psql -qAtc \"select 1 from pg_roles where rolname='settle'\"" | grep -q 1; then
  echo "creating PostgreSQL role settle (login, password settle, not a superuser)"
  su postgres -c "psql -qc \"create role settle login nosuperuser nocreatedb nocreaterole password 'settle'\""
fi
if ! su postgres -c "psql -qAtc \"select 1 from pg_database where datname='settle_test'\"" | grep -q 1; then
  echo "creating PostgreSQL database settle_test owned by settle"
  su postgres -c "psql -qc 'create database settle_test owner settle'"
fi
echo "postgres ready: postgres://settle:settle@127.0.0.1:5432/settle_test"
