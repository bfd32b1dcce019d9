package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/postgres"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

// pgOpenTimeout bounds connecting to PostgreSQL and migrating its schema.
const pgOpenTimeout = 30 * time.Second

// isPostgres reports whether a store URL names a PostgreSQL database.
func isPostgres(store string) bool {
	return strings.HasPrefix(store, "postgres://") || strings.HasPrefix(store, "postgresql://")
}

// openPostgres opens the PostgreSQL store of cfg.Store (applying the
// embedded schema migrations if needed).
func openPostgres(cfg *Config) (*postgres.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pgOpenTimeout)
	defer cancel()
	return postgres.Open(ctx, postgres.Options{URL: cfg.Store, Config: cfg.WritebackConfig(), Logger: cfg.Logger})
}

// ensureRoot creates the file store's workspace root when it is missing,
// so that every command and the server start on a new workspace alike. A
// root that exists but is not a directory is refused.
func ensureRoot(cfg *Config) error {
	if !strings.HasPrefix(cfg.Store, "file:") {
		return nil
	}
	fi, err := os.Stat(cfg.Root)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		return settle.Errorf(settle.InvalidInput, "workspace root %s is not a directory", cfg.Root)
	case !errors.Is(err, fs.ErrNotExist):
		return settle.Wrap(settle.InvalidInput, err, "workspace root")
	}
	if err := durable.MkdirAll(cfg.Root, 0o755); err != nil {
		return settle.Wrap(settle.Internal, err, "create workspace root %s", cfg.Root)
	}
	if cfg.Logger != nil {
		cfg.Logger.Info("created the missing workspace root", "root", cfg.Root)
	}
	return nil
}

// openLedger opens the configured ledger store.
func openLedger(ctx context.Context, cfg *Config) (writeback.Store, error) {
	return openLedgerMode(ctx, cfg, false)
}

// openReadLedger opens the configured ledger store for a command that only
// reads: a file ledger is opened read-only (nothing created or repaired),
// so the command works on a read-only filesystem.
func openReadLedger(ctx context.Context, cfg *Config) (writeback.Store, error) {
	return openLedgerMode(ctx, cfg, true)
}

func openLedgerMode(ctx context.Context, cfg *Config, readOnly bool) (writeback.Store, error) {
	switch {
	case strings.HasPrefix(cfg.Store, "file:"):
		if !readOnly {
			// A command that only reads creates nothing, not even the root.
			if err := ensureRoot(cfg); err != nil {
				return nil, err
			}
		}
		return file.OpenLedgerContext(ctx, file.LedgerOptions{Root: cfg.Root, LedgerPath: cfg.LedgerPath(), Config: cfg.WritebackConfig(), Logger: cfg.Logger,
			ReadOnly: readOnly, LockTimeout: cfg.LockWait()})
	case isPostgres(cfg.Store):
		return openPostgres(cfg)
	default:
		return nil, settle.Errorf(settle.InvalidInput, "store %q is not supported by this build", cfg.Store)
	}
}

// openScenes opens the configured scene store.
func openScenes(cfg *Config) (scene.Store, error) {
	switch {
	case strings.HasPrefix(cfg.Store, "file:"):
		if err := ensureRoot(cfg); err != nil {
			return nil, err
		}
		return file.OpenScenes(file.SceneOptions{Root: cfg.Root, Logger: cfg.Logger, LockTimeout: cfg.LockWait()})
	case isPostgres(cfg.Store):
		return openPostgres(cfg)
	default:
		return nil, settle.Errorf(settle.InvalidInput, "store %q is not supported by this build", cfg.Store)
	}
}
