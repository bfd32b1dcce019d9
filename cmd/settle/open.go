package main

import (
	"strings"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

// openLedger opens the configured ledger store.
func openLedger(cfg *Config) (writeback.Store, error) {
	switch {
	case strings.HasPrefix(cfg.Store, "file:"):
		return file.OpenLedger(file.LedgerOptions{Root: cfg.Root, LedgerPath: cfg.LedgerPath(), Config: cfg.WritebackConfig(), Logger: cfg.Logger})
	default:
		return nil, settle.Errorf(settle.EINVALID, "store %q is not supported by this build", cfg.Store)
	}
}

// openScenes opens the configured scene store.
func openScenes(cfg *Config) (scene.Store, error) {
	switch {
	case strings.HasPrefix(cfg.Store, "file:"):
		return file.OpenScenes(file.SceneOptions{Root: cfg.Root, Logger: cfg.Logger})
	default:
		return nil, settle.Errorf(settle.EINVALID, "store %q is not supported by this build", cfg.Store)
	}
}
