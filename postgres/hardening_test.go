package postgres_test

import (
	"testing"

	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// TestHardeningI_MigrationEscapesOldRows: a row written before the ledger's
// text columns were escaped (a task id with U+0001 stored as it is) is
// escaped by migration 2, so its task is still found afterwards.
func TestHardeningI_MigrationEscapesOldRows(t *testing.T) {
	schema := newSchema(t)
	const task = "old\x01task"
	s := openStore(t, schema, storetest.Config())
	if err := s.AppendRegistry(ctx, storetest.Registry(task, writeback.StatusRegistered)); err != nil {
		t.Fatal(err)
	}
	// Back to the version 1 state: the raw string, migration 2 not applied.
	if _, err := s.Pool().Exec(ctx, "UPDATE ledger SET task_id = $1", task); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, "DELETE FROM schema_migrations WHERE version = 2"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, schema, storetest.Config())
	h, err := s.RegistryHistory(ctx, task)
	if err != nil || len(h) != 1 || h[0].TaskID != task {
		t.Fatalf("history of %q after migration 2: %+v %v", task, h, err)
	}
	var stored string
	if err := s.Pool().QueryRow(ctx, "SELECT task_id FROM ledger").Scan(&stored); err != nil || stored != "old\x01\x01task" {
		t.Fatalf("stored task_id %q %v", stored, err)
	}
}
