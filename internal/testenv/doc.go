// Package testenv gives tests the outside things some of them need, and the
// rules for when they are missing.
//
//   - A PostgreSQL test database: SETTLE_TEST_POSTGRES
//     (scripts/pg-test-db.sh creates one), with a fresh schema per test.
//     Missing: the test skips with a loud message, or fails under CI=true.
//   - python3: the same rule.
//   - The Python seed reference (the seed modules, runnable), for the live
//     differential, multi-process and crash read-back tests:
//     SETTLE_REFERENCE_DIR, default <repo root>/../shared/reference/py. It
//     lives beside the repository, not in it, so a fresh clone has none.
//     Present: the tests run, and under CI=true a missing python3 fails
//     them. Absent: they skip, with one loud line per test binary, even
//     under CI=true (the committed corpora, replayed by the TestCorpus
//     tests, still check seed fidelity); with SETTLE_REQUIRE_REFERENCE=1
//     (set by .ci/run where the reference exists) they fail instead.
package testenv
