package main

import (
	"context"
	"io"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/derive"
	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/writeback"
)

// cliPrincipal names the CLI as the writer in the events it derives.
const cliPrincipal = "settle-cli"

// deriver gives a command the consequences of its writes (events, batch
// settlement), as the server derives them: the event log of the store is
// opened on first use, so a command that writes nothing never opens it.
type deriver struct {
	cfg    *Config
	ledger writeback.Store // nil for scene commands
	store  any             // the opened store: an event.Log on PostgreSQL
	d      *derive.Deriver
	closer io.Closer
}

func newDeriver(cfg *Config, ledger writeback.Store) *deriver {
	return &deriver{cfg: cfg, ledger: ledger, store: ledger}
}

// openDeriving opens the ledger (read-only when readOnly) and its
// deriver; closeAll closes the deriver, then the ledger.
func openDeriving(ctx context.Context, cfg *Config, readOnly bool) (store writeback.Store, dv *deriver, closeAll func(), err error) {
	store, err = openLedgerMode(ctx, cfg, readOnly)
	if err != nil {
		return nil, nil, nil, err
	}
	dv = newDeriver(cfg, store)
	return store, dv, func() { dv.Close(); store.Close() }, nil
}

func newSceneDeriver(cfg *Config, store scene.Store) *deriver {
	return &deriver{cfg: cfg, store: store}
}

// get opens the event log and the Deriver.
func (dv *deriver) get() (*derive.Deriver, error) {
	if dv.d != nil {
		return dv.d, nil
	}
	var log event.Log
	if l, ok := dv.store.(event.Log); ok {
		// The PostgreSQL store keeps its events in the database.
		log = l
	} else {
		ev, err := file.OpenEvents(file.EventsOptions{Root: dv.cfg.Root, Path: dv.cfg.Events, Logger: dv.cfg.Logger})
		if err != nil {
			return nil, settle.Wrap(settle.ErrorCode(err), err, "open the event log")
		}
		log, dv.closer = ev, ev
	}
	d, err := derive.New(derive.Options{Ledger: dv.ledger, Events: log, Logger: dv.cfg.Logger, Sync: true})
	if err != nil {
		return nil, err
	}
	dv.d = d
	return d, nil
}

// afterWriteback derives an applied write-back's consequences.
func (dv *deriver) afterWriteback(ctx context.Context, out writeback.WritebackOutcome) (*writeback.SettleOutcome, error) {
	d, err := dv.get()
	if err != nil {
		return nil, err
	}
	dec := out.Decision
	return d.AfterWriteback(ctx, &dec, out.ConflictRecorded, cliPrincipal)
}

// Close closes the event log if it was opened (flushing what it queued).
func (dv *deriver) Close() error {
	if dv.closer == nil {
		return nil
	}
	return dv.closer.Close()
}

// scene appends a done scene write's event; a failure says the write
// itself was done.
func (dv *deriver) scene(ctx context.Context, typ string, data derive.SceneEventData) error {
	d, err := dv.get()
	if err == nil {
		_, err = d.Scene(ctx, typ, data)
	}
	if err != nil {
		return settle.Wrap(settle.Unavailable, err, "the scene write was done but its %s event failed", typ)
	}
	return nil
}

// statusSaved appends the events of a done status write
// (derive.Deriver.StatusSaved: a cold start announces its version too).
func (dv *deriver) statusSaved(ctx context.Context, ref scene.Ref, l scene.Loaded, via string, stale int) error {
	data := derive.SceneEvent(ref, l.Version, cliPrincipal)
	data.Fingerprint, data.Via, data.Stale, data.Revision, data.Stamp = l.Fingerprint, via, stale, l.Revision, l.Stamp
	d, err := dv.get()
	if err == nil {
		err = d.StatusSaved(ctx, data, l.Created)
	}
	if err != nil {
		return settle.Wrap(settle.Unavailable, err, "the status save was done but its events failed")
	}
	return nil
}

// activated appends the scene.activated event of a done activation,
// keyed by the manifest's stamp as a server's and a follower's.
func (dv *deriver) activated(ctx context.Context, ref scene.Ref, version int, stamp string) error {
	data := derive.SceneEvent(ref, version, cliPrincipal)
	data.Stamp = stamp
	return dv.scene(ctx, event.SceneActivated, data)
}
