#!/usr/bin/env bash
# The test command: go vet, every test under the race detector (unit, the
# committed seed corpora, live differential against the Python seeds when
# the reference is there, multi-process, crash and fuzz seed corpora), and
# the PostgreSQL tests when a server is reachable.
#
# PostgreSQL: set SETTLE_TEST_POSTGRES=postgres://user:pass@host/db, or let
# this script run scripts/pg-test-db.sh, which starts the local cluster
# (pg_ctlcluster 15 main start) and creates a login role "settle" (password
# "settle", not a superuser) and a database "settle_test" it owns, when they
# do not exist. Its output goes to a temporary file, removed unless it
# fails. Under CI=true the PostgreSQL tests never skip.
#
# The Python seed reference (SETTLE_REFERENCE_DIR, default
# ../shared/reference/py beside the repository) is not part of the
# repository: without it the live differential tests skip and the committed
# corpora (the TestCorpus tests) check seed fidelity.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${SETTLE_TEST_POSTGRES:-}" ] && command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "== scripts/pg-test-db.sh: starting PostgreSQL 15, creating role settle and database settle_test if missing"
  pglog="$(mktemp "${TMPDIR:-/tmp}/settle-pg-setup.XXXXXX")"
  if scripts/pg-test-db.sh >"$pglog" 2>&1; then
    export SETTLE_TEST_POSTGRES="postgres://settle:settle@127.0.0.1:5432/settle_test?sslmode=disable"
    cat "$pglog"
    rm -f "$pglog"
  else
    echo "warning: could not start a local PostgreSQL (log: $pglog)" >&2
    cat "$pglog" >&2 || true
  fi
fi
if [ -z "${SETTLE_TEST_POSTGRES:-}" ]; then
  echo "!!! SETTLE_TEST_POSTGRES is not set: the PostgreSQL tests will SKIP (they FAIL under CI=true)" >&2
fi

ref="${SETTLE_REFERENCE_DIR:-../shared/reference/py}"
if [ ! -d "$ref" ]; then
  echo "!!! no Python seed reference at $ref: the live differential, multi-process and crash read-back tests SKIP; the TestCorpus tests check seed fidelity !!!" >&2
fi

echo "== go vet ./..."
go vet ./...

echo "== go test -race ./..."
go tool gotestsum --format testname --format-hide-empty-pkg -- -race -timeout 45m -count=1 ./... "$@"
