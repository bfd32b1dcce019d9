package httpapi_test

import (
	"context"
	"testing"

	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/internal/testenv"
	"github.com/settlehq/settle/scene"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// The HTTP client passes the same conformance suites as the stores it
// serves: code written against writeback.Store and scene.Store can switch
// to a remote server.

// server gives the options of a new server: on files under a fresh root,
// or on a fresh PostgreSQL schema (SETTLE_TEST_POSTGRES).
type server func(t *testing.T) envOptions

func onFiles(*testing.T) envOptions { return envOptions{} }

func onPostgres(t *testing.T) envOptions { return envOptions{pg: newSchema(t)} }

// clientLedgerConformance runs the ledger suite on a client of a new
// server per store.
func clientLedgerConformance(t *testing.T, srv server) {
	storetest.RunLedger(t, func(t *testing.T, cfg writeback.Config) writeback.Store {
		o := srv(t)
		o.cfg = &cfg
		return startEnv(t, o).client("tok-operator")
	})
}

// clientScenesConformance runs the scene suite on a client of a new
// server per store, planting files through the server's store.
func clientScenesConformance(t *testing.T, srv server) {
	storetest.RunScenes(t, func(t *testing.T) scene.Store {
		e := startEnv(t, srv(t))
		return sceneClient{Client: e.client("tok-operator"), files: e.scenes}
	})
}

func TestClientLedgerConformance(t *testing.T) { clientLedgerConformance(t, onFiles) }

func TestPostgresClientLedgerConformance(t *testing.T) {
	testenv.PostgresDSN(t)
	clientLedgerConformance(t, onPostgres)
}

func TestClientLedgerConformanceShared(t *testing.T) {
	// n clients of one server, and clients of two servers on one root.
	storetest.RunLedgerShared(t, func(t *testing.T, cfg writeback.Config, n int) []writeback.Store {
		e := startEnv(t, envOptions{cfg: &cfg})
		f := startEnv(t, envOptions{cfg: &cfg, root: e.root})
		var out []writeback.Store
		for i := range n {
			if i%2 == 0 {
				out = append(out, e.client("tok-operator"))
			} else {
				out = append(out, f.client("tok-operator"))
			}
		}
		return out
	})
}

// sceneClient is the client plus the server's store for planting files
// (storetest.SceneFiles), as the suite allows for an HTTP client.
type sceneClient struct {
	*httpapi.Client
	files storetest.SceneFiles
}

func (c sceneClient) WalkSceneFiles(ctx context.Context, fn func(project, name string, data []byte) error) error {
	return c.files.WalkSceneFiles(ctx, fn)
}

func (c sceneClient) PutSceneFile(ctx context.Context, project, name string, data []byte) error {
	return c.files.PutSceneFile(ctx, project, name, data)
}

func TestClientScenesConformance(t *testing.T) { clientScenesConformance(t, onFiles) }

func TestPostgresClientScenesConformance(t *testing.T) {
	testenv.PostgresDSN(t)
	clientScenesConformance(t, onPostgres)
}
