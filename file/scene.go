package file

// # Scene store
//
// Scenes implements scene.Store on the seed's directory layout (persistence.py
// and its SceneVersionStore), so the seed and settle read and write the same
// files. Everything of one project lives in one directory:
//
//	<root>/projects/<project>/orchestration/scenes/
//	  ep_NNN_<batch>.json           flat body: the implicit version 1 of a batch
//	                                without a manifest, or a materialized v1
//	  ep_NNN_<batch>.vNNN.json      versioned body (NNN zero-padded to 3, any width)
//	  ep_NNN_<batch>.versions.json  manifest: {schema_version, batch_id,
//	                                active_version, versions: [{version, artifact,
//	                                structure_fingerprint, created_at, reason}]}
//	  ep_NNN_<batch>.versions.lock  the batch lock (flock); never renamed or deleted
//	  *.tmp-<pid>-<hex>             a temporary file of an interrupted write; never
//	                                read as a scene and never listed
//
// A body is json.dumps({"schema_version": 1, **scene.to_dict()}, indent=2)
// (ASCII, Python's separators); a manifest is json.dumps(m, indent=2,
// sort_keys=True). A manifest entry's artifact is a bare basename in the same
// directory (UNSAFE_ARTIFACT otherwise).
//
// Every mutation of a batch (WriteCandidate, Activate, PatchStatus,
// UpdateStatus, SaveRunner, Save, SaveGuarded, InitFromPlan's create and
// re-stamp)
// holds the batch's exclusive flock, the same lock the seed takes, so Python
// and Go writers exclude each other. Reads take no lock: every file is
// replaced atomically, so a reader sees a whole old or a whole new file.
//
// Every file is written through internal/durable: a tmp name no other process
// can pick, write, fsync, rename, fsync of the directory. Bodies are written
// before the manifest that registers them, so after a crash at any point the
// manifest's active pointer names a registered version whose body exists;
// a body written without its manifest entry (a crash in between) is an
// unregistered orphan that the next candidate of the batch overwrites.
//
// If a write or fsync fails, the operation returns UNAVAILABLE and the store
// refuses every further mutation with UNAVAILABLE until it is reopened (the
// state of the failed file on disk is unknown); reads keep working.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/scene"
)

// ScenesRelDir is the scenes directory of a project, relative to the root,
// with the project name as %s.
const ScenesRelDir = "projects/%s/orchestration/scenes"

const (
	sceneFilePerm = 0o644
	sceneDirPerm  = 0o755
)

// SceneOptions configures OpenScenes.
type SceneOptions struct {
	// Root is the workspace root ("" = the current directory). It must
	// exist; project directories under it are created on first write.
	Root string
	// Logger receives version, activation and failure events
	// (nil = slog.Default()).
	Logger *slog.Logger
	// LockTimeout bounds the wait for a batch lock another process holds
	// (0 = durable.DefaultLockTimeout, negative = no limit); giving up is
	// UNAVAILABLE.
	LockTimeout time.Duration
}

// Scenes is the filesystem scene.Store. It is safe for concurrent use by
// many goroutines and by many processes (Go or the Python seed) sharing the
// root.
type Scenes struct {
	root        string
	log         *slog.Logger
	now         func() time.Time
	lockTimeout time.Duration

	// bodies keeps the active bodies status writes decode and write, so
	// that the next write of a long-running server does not decode them
	// again (used only for the same bytes, read under the lock).
	bodies *scene.BodyCache

	mu     sync.Mutex
	closed bool
	poison error // non-nil: a write failed; mutations refused until reopened
}

var (
	_ scene.Store      = (*Scenes)(nil)
	_ scene.CondWriter = (*Scenes)(nil)
)

// OpenScenes opens the scene store rooted at opts.Root. Errors: InvalidInput
// (the root is not an existing directory).
func OpenScenes(opts SceneOptions) (*Scenes, error) {
	root, err := absRoot(opts.Root, "scene root")
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, settle.Wrap(settle.InvalidInput, err, "scene root %s", root)
	}
	if !fi.IsDir() {
		return nil, settle.Errorf(settle.InvalidInput, "scene root %s is not a directory", root)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Scenes{root: root, log: log.With("store", "scenes"), now: time.Now, lockTimeout: opts.LockTimeout,
		bodies: scene.NewBodyCache(0)}, nil
}

// Close marks the store closed; every later operation returns UNAVAILABLE.
// It holds no open files between operations.
func (s *Scenes) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Root returns the absolute workspace root.
func (s *Scenes) Root() string { return s.root }

// Dir returns a project's scenes directory. Errors: InvalidInput (an unsafe
// project name), PathRefused (a directory of the path below the root is
// a symbolic link).
func (s *Scenes) Dir(project string) (string, error) {
	if err := scene.ValidateProject(project); err != nil {
		return "", err
	}
	dir := filepath.Join(s.root, filepath.FromSlash(fmt.Sprintf(ScenesRelDir, project)))
	if err := durable.CheckUnder(s.root, dir); err != nil {
		return "", pathErr(settle.Internal, err, "scenes directory of %s", project)
	}
	return dir, nil
}

// absRoot is a store's workspace root as an absolute path ("": the current
// directory); what names the root in the error.
func absRoot(root, what string) (string, error) {
	if root == "" {
		root = "."
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", settle.Wrap(settle.InvalidInput, err, "%s", what)
	}
	return abs, nil
}

// pathErr wraps an I/O error with code, or with PathRefused when
// internal/durable refused a symbolic link.
func pathErr(code settle.Code, err error, format string, args ...any) error {
	if errors.Is(err, durable.ErrSymlink) {
		code = settle.PathRefused
	}
	return settle.Wrap(code, err, format, args...)
}

// usable refuses every operation on a closed store.
func (s *Scenes) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("scene store: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return settle.Errorf(settle.Unavailable, "scene store is closed")
	}
	return nil
}

// writable refuses mutations on a closed store or after a failed write.
func (s *Scenes) writable(ctx context.Context) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.poison != nil {
		return settle.Wrap(settle.Unavailable, s.poison, "scene store refuses writes after a failed write (reopen it)")
	}
	return nil
}

// failed records a write failure: the store refuses further mutations.
func (s *Scenes) failed(err error, what string) error {
	s.mu.Lock()
	if s.poison == nil {
		s.poison = err
	}
	s.mu.Unlock()
	s.log.Error("scene write failed; refusing writes until reopened", "op", what, "err", err)
	return settle.Wrap(settle.Unavailable, err, "%s", what)
}

// sceneBatch is a resolved batch with its scenes directory.
type sceneBatch struct {
	scene.Batch
	dir string
}

func (b sceneBatch) path(name string) string { return filepath.Join(b.dir, name) }
func (b sceneBatch) flat() string            { return b.path(b.Flat()) }
func (b sceneBatch) manifest() string        { return b.path(b.Manifest()) }
func (b sceneBatch) lock() string            { return b.path(b.Lock()) }
func (b sceneBatch) version(v int) string    { return b.path(b.Version(v)) }

// files is the batch in the engine of package scene, over its directory.
func (s *Scenes) files(b sceneBatch) scene.BatchFiles {
	return scene.BatchFiles{Batch: b.Batch, Files: sceneDir{s: s, dir: b.dir}, Cache: s.bodies, CacheKey: b.dir}
}

// sceneDir is a project's scenes directory as scene.Files: a name is a
// file in it, written through internal/durable.
type sceneDir struct {
	s   *Scenes // nil: read only
	dir string
}

func (d sceneDir) ReadFile(name string) ([]byte, bool, error) {
	return sceneReadFile(filepath.Join(d.dir, name))
}

func (d sceneDir) Exists(name string) (bool, error) {
	return sceneFileExists(filepath.Join(d.dir, name))
}

func (d sceneDir) WriteFile(name string, data []byte) error {
	return d.s.writeFile(filepath.Join(d.dir, name), data)
}

// resolve validates a Ref and computes its paths. Errors: InvalidInput (project
// or batch), InvalidEpisode.
func (s *Scenes) resolve(ref scene.Ref) (sceneBatch, error) {
	dir, err := s.Dir(ref.Project)
	if err != nil {
		return sceneBatch{}, err
	}
	b, err := scene.ResolveBatch(ref)
	if err != nil {
		return sceneBatch{}, err
	}
	return sceneBatch{Batch: b, dir: dir}, nil
}

// ScenePath is the seed's scene_path: the flat body of a batch.
func (s *Scenes) ScenePath(ref scene.Ref) (string, error) {
	b, err := s.resolve(ref)
	if err != nil {
		return "", err
	}
	return b.flat(), nil
}

// ManifestPath is the seed's scene_manifest_path.
func (s *Scenes) ManifestPath(ref scene.Ref) (string, error) {
	b, err := s.resolve(ref)
	if err != nil {
		return "", err
	}
	return b.manifest(), nil
}

// VersionPath is the seed's scene_version_path: the body name of version v.
func (s *Scenes) VersionPath(ref scene.Ref, v int) (string, error) {
	b, err := s.resolve(ref)
	if err != nil {
		return "", err
	}
	return b.version(v), nil
}

// lockBatch creates the scenes directory if needed and takes the batch's
// exclusive flock (creating the lock file), giving up when ctx is done or
// after the store's lock timeout (UNAVAILABLE). A caller that may refuse a
// batch without a scene checks that first, so the refusal creates nothing.
func (s *Scenes) lockBatch(ctx context.Context, b sceneBatch) (*durable.Lock, error) {
	// The directory is created only when the lock file cannot be opened
	// for want of it: resolve has just refused a link on its path, and
	// MkdirUnder would stat every component again on each write.
	l, err := durable.LockFile(ctx, b.lock(), s.lockTimeout)
	if errors.Is(err, fs.ErrNotExist) {
		if err := durable.MkdirUnder(s.root, b.dir, sceneDirPerm); err != nil {
			if errors.Is(err, durable.ErrSymlink) {
				return nil, pathErr(settle.Internal, err, "create scenes directory")
			}
			return nil, s.failed(err, "create scenes directory")
		}
		l, err = durable.LockFile(ctx, b.lock(), s.lockTimeout)
	}
	if errors.Is(err, durable.ErrSymlink) {
		return nil, pathErr(settle.Internal, err, "lock batch %s", b.Ref.Batch)
	}
	if err != nil {
		return nil, settle.Wrap(settle.ErrorCode(err), err, "lock batch %s", b.Ref.Batch)
	}
	return l, nil
}

func (s *Scenes) unlock(l *durable.Lock, b sceneBatch) {
	if err := l.Unlock(); err != nil {
		s.log.Warn("unlock batch", "batch", b.Ref.Batch, "err", err)
	}
}

// sceneReadFile reads a file; exists is false (and err nil) when it is
// absent. A symbolic link is PathRefused, never followed.
func sceneReadFile(path string) (data []byte, exists bool, err error) {
	data, err = durable.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, pathErr(settle.Internal, err, "read %s", filepath.Base(path))
	}
	return data, true, nil
}

// sceneFileExists is Python's Path.exists(): true for anything that
// stats, except that a symbolic link is PathRefused (the seed follows
// it).
func sceneFileExists(path string) (bool, error) {
	fi, err := os.Lstat(path)
	if err == nil {
		if fi.Mode()&fs.ModeSymlink != 0 {
			return false, settle.Errorf(settle.PathRefused, "%s is a symbolic link", filepath.Base(path))
		}
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, settle.Wrap(settle.Internal, err, "stat %s", filepath.Base(path))
}

// writeFile writes path durably; a failure poisons the store.
func (s *Scenes) writeFile(path string, data []byte) error {
	if err := durable.WriteFile(path, data, sceneFilePerm); err != nil {
		return s.failed(err, "write "+filepath.Base(path))
	}
	return nil
}

// removeFile removes path durably (the rollback of a cold start).
func (s *Scenes) removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s.failed(err, "remove "+filepath.Base(path))
	}
	if err := durable.SyncDir(filepath.Dir(path)); err != nil {
		return s.failed(err, "remove "+filepath.Base(path))
	}
	return nil
}
