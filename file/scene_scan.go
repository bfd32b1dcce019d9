package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/internal/durable"
	"github.com/settlehq/settle/scene"
)

// fileStamp is a file's identity: inode, modification time and size. Every
// scene write (settle's and the seed's) renames a new file into place, so
// two saves of the same bytes have different stamps.
func fileStamp(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%x-%x-%x", st.Ino, fi.ModTime().UnixNano(), fi.Size())
}

// pathStamp is the stamp of path ("" when it cannot be read: the stamp
// only keys an event, and an unkeyed one is still appended).
func pathStamp(path string) string {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	return fileStamp(fi)
}

// readStamped reads a file and the stamp of the very file it read.
func readStamped(path string) (data []byte, stamp string, exists bool, err error) {
	data, fi, err := readStat(path)
	if err != nil || fi == nil {
		return nil, "", false, err
	}
	return data, fileStamp(fi), true, nil
}

// readStat reads a file and stats the very file it read (nil, nil, nil
// when it does not exist).
func readStat(path string) ([]byte, fs.FileInfo, error) {
	f, err := durable.Open(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, err
	}
	return data, fi, nil
}

// stampDir is a sceneDir that records the stamp of every file it reads.
type stampDir struct {
	sceneDir
	stamps map[string]string
}

func (d *stampDir) ReadFile(name string) ([]byte, bool, error) {
	data, st, ok, err := readStamped(filepath.Join(d.dir, name))
	if err != nil {
		return nil, false, pathErr(settle.Internal, err, "read %s", name)
	}
	if ok {
		d.stamps[name] = st
	}
	return data, ok, nil
}

// loadStamped runs a load over the batch's files and sets the Stamp of
// the body it read.
func (s *Scenes) loadStamped(b sceneBatch, load func(scene.BatchFiles) (scene.Loaded, error)) (scene.Loaded, error) {
	d := &stampDir{sceneDir: sceneDir{s: s, dir: b.dir}, stamps: map[string]string{}}
	l, err := load(scene.BatchFiles{Batch: b.Batch, Files: d})
	if err != nil {
		return l, err
	}
	for name, st := range d.stamps {
		if name != b.Manifest() {
			l.Stamp = st
		}
	}
	return l, nil
}

// SceneScanner finds the version bodies of a scene store that changed
// since its previous Scan (all of them on the first): the follower of
// scene writes made by other tools (derive.Deriver.FollowScenes). Every
// writer, settle and the seed, replaces a file by renaming a new one into
// place, which changes the directory's modification time: a scenes
// directory unchanged since it was last read, and quiet for a while
// before that, is not read again (but every sceneFullScan). In a
// directory that is read, file stamps tell the changed bodies, so a Scan
// reads and hashes only those and the manifests that changed. Not safe
// for concurrent use.
type SceneScanner struct {
	s *Scenes
	// OnDir, if set, is called with the projects directory and every
	// scenes directory a Scan reads (to watch them for changes).
	OnDir func(dir string)

	dirs      map[string]*scannedDir
	manifests []scene.ManifestState // read by the last Scan
}

// scannedDir is what the last read of a scenes directory found.
type scannedDir struct {
	stamp     string    // the directory's, before it was read
	mtime     time.Time // its modification time then
	readAt    time.Time
	seen      map[string]string // body path -> stamp at its last read
	manifests map[string]scannedManifest
}

type scannedManifest struct {
	stamp string
	m     *scene.Manifest
}

const (
	// sceneQuiet is how long before its last read a directory must have
	// been left unchanged for its modification time to be trusted: the
	// file system's clock is coarse, so a change in the same tick as the
	// read would not move it.
	sceneQuiet = time.Second
	// sceneFullScan is how often a directory is read even when it looks
	// unchanged (a tool that rewrites a file in place, without a rename).
	sceneFullScan = 10 * time.Second
)

// Scanner returns a SceneScanner over the store.
func (s *Scenes) Scanner() *SceneScanner {
	return &SceneScanner{s: s, dirs: map[string]*scannedDir{}}
}

// ProjectsDir is the directory of the projects under the root.
func (s *Scenes) ProjectsDir() string { return filepath.Join(s.root, "projects") }

// Scan returns the version bodies written since the previous Scan: for a
// batch with a manifest, its registered versions' bodies; for one
// without, its flat body as version 1. A body that cannot be read or
// decoded now (a manifest or body being replaced, a corrupt file) is
// passed over and tried again by the next Scan; a project or file behind
// a symbolic link is never read.
func (sc *SceneScanner) Scan(ctx context.Context) ([]scene.BodyState, error) {
	if err := sc.s.usable(ctx); err != nil {
		return nil, err
	}
	projects, err := os.ReadDir(sc.s.ProjectsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, pathErr(settle.Internal, err, "read the projects directory")
	}
	if sc.OnDir != nil {
		sc.OnDir(sc.s.ProjectsDir())
	}
	dirs := make(map[string]*scannedDir, len(sc.dirs))
	var out []scene.BodyState
	sc.manifests = sc.manifests[:0]
	for _, p := range projects {
		if !p.IsDir() || scene.ValidateProject(p.Name()) != nil {
			continue
		}
		dir, err := sc.s.Dir(p.Name())
		if err != nil {
			continue
		}
		now := time.Now()
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() {
			continue
		}
		prev := sc.dirs[dir]
		if prev != nil && prev.stamp == fileStamp(fi) && prev.mtime.Before(prev.readAt.Add(-sceneQuiet)) && now.Sub(prev.readAt) < sceneFullScan {
			dirs[dir] = prev
			continue
		}
		if prev == nil {
			prev = &scannedDir{}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		if sc.OnDir != nil {
			sc.OnDir(dir)
		}
		cur := &scannedDir{stamp: fileStamp(fi), mtime: fi.ModTime(), readAt: now,
			seen: make(map[string]string, len(prev.seen)), manifests: make(map[string]scannedManifest, len(prev.manifests))}
		names := make(map[string]bool, len(entries))
		for _, e := range entries {
			names[e.Name()] = e.Type().IsRegular()
		}
		done := map[string]bool{}
		for _, e := range entries {
			token, batch, ok := scene.ParseBatchName(e.Name())
			if !ok || done[token+"_"+batch] {
				continue
			}
			done[token+"_"+batch] = true
			b := scene.Batch{Ref: scene.Ref{Project: p.Name(), Episode: token, Batch: batch}, Token: token}
			var ms *scene.ManifestState
			out, ms = scanBatch(sceneBatch{Batch: b, dir: dir}, names, prev, cur, out)
			if ms != nil {
				sc.manifests = append(sc.manifests, *ms)
			}
		}
		dirs[dir] = cur
	}
	sc.dirs = dirs
	return out, nil
}

// Manifests returns the manifests the last Scan read: those written since
// the Scan before it (all of them on the first), with their active
// version and stamp. The follower announces the activations among them
// (derive.Deriver.FollowScenes).
func (sc *SceneScanner) Manifests() []scene.ManifestState {
	return append([]scene.ManifestState(nil), sc.manifests...)
}

// scanBatch appends the changed bodies of one batch to out: those whose
// stamp is not the one prev read; what it reads goes into cur. It returns
// the batch's manifest too when it read it (its stamp changed).
func scanBatch(b sceneBatch, names map[string]bool, prev, cur *scannedDir, out []scene.BodyState) ([]scene.BodyState, *scene.ManifestState) {
	if !names[b.Manifest()] {
		path := b.flat()
		st := pathStamp(path)
		if st == "" {
			return out, nil
		}
		if prev.seen[path] == st {
			cur.seen[path] = st
			return out, nil
		}
		data, fi, err := readStat(path)
		if err != nil || fi == nil {
			return out, nil
		}
		body, err := scene.DecodeBody(data)
		if err != nil {
			return out, nil
		}
		st = fileStamp(fi)
		cur.seen[path] = st
		return append(out, scene.BodyState{Ref: b.Ref, Version: 1, Revision: scene.Revision(data), Stamp: st,
			Fingerprint: scene.Fingerprint(body), Active: true, ModTime: fi.ModTime()}), nil
	}
	mpath := b.manifest()
	mst := pathStamp(mpath)
	if mst == "" {
		return out, nil
	}
	var ms *scene.ManifestState
	cached, ok := prev.manifests[mpath]
	if !ok || cached.stamp != mst {
		data, st, ok, err := readStamped(mpath)
		if err != nil || !ok {
			return out, nil
		}
		m, err := scene.DecodeManifest(data, b.Ref.Batch)
		if err != nil {
			return out, nil
		}
		cached = scannedManifest{stamp: st, m: m}
		ms = &scene.ManifestState{Ref: b.Ref, Active: m.ActiveVersion, Stamp: st}
	}
	cur.manifests[mpath] = cached
	m := cached.m
	for _, e := range m.Versions {
		if scene.CheckArtifact(e.Artifact) != nil {
			continue
		}
		path := b.path(e.Artifact)
		st := pathStamp(path)
		if st == "" {
			continue
		}
		if prev.seen[path] == st {
			cur.seen[path] = st
			continue
		}
		data, fi, err := readStat(path)
		if err != nil || fi == nil {
			continue
		}
		st = fileStamp(fi)
		fp := e.StructureFingerprint
		if fp == "" {
			body, err := scene.DecodeBody(data)
			if err != nil {
				continue
			}
			fp = scene.Fingerprint(body)
		}
		cur.seen[path] = st
		out = append(out, scene.BodyState{Ref: b.Ref, Version: e.Version, Revision: scene.Revision(data), Stamp: st,
			Fingerprint: fp, Reason: e.Reason, Active: m.ActiveVersion == e.Version, ModTime: fi.ModTime()})
	}
	return out, ms
}
