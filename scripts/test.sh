#!/usr/bin/env bash
# The test command: go vet, every test under the race detector (unit,
# differential against the Python seeds, multi-process, crash and fuzz seed
# corpora), and the PostgreSQL tests when a server is reachable.
#
# PostgreSQL: set SETTLE_TEST_POSTGRES=postgres://user:pass@host/db, or let
# this script start the local cluster (pg_ctlcluster 15 main start) and
# create a test database. Under CI=true the PostgreSQL tests never skip.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${SETTLE_TEST_POSTGRES:-}" ] && command -v pg_ctlcluster >/dev/null 2>&1; then
  if scripts/pg-test-db.sh >/tmp/settle-pg-setup.log 2>&1; then
    export SETTLE_TEST_POSTGRES="postgres://settle:settle@127.0.0.1:5432/settle_test?sslmode=disable"
  else
    echo "warning: could not start a local PostgreSQL (see /tmp/settle-pg-setup.log)" >&2
    cat /tmp/settle-pg-setup.log >&2 || true
  fi
fi
if [ -z "${SETTLE_TEST_POSTGRES:-}" ]; then
  echo "!!! SETTLE_TEST_POSTGRES is not set: the PostgreSQL tests will SKIP (they FAIL under CI=true)" >&2
fi

echo "== go vet ./..."
go vet ./...

echo "== go test -race ./..."
go tool gotestsum --format testname --format-hide-empty-pkg -- -race -timeout 45m -count=1 ./... "$@"
