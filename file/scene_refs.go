package file

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/scene"
)

// Refs implements scene.Lister: every batch of every project directory
// under <root>/projects with a flat body or a versions manifest.
func (s *Scenes) Refs(ctx context.Context) ([]scene.Ref, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	projects, err := os.ReadDir(filepath.Join(s.root, "projects"))
	if errors.Is(err, fs.ErrNotExist) {
		return []scene.Ref{}, nil
	}
	if err != nil {
		return nil, settle.Wrap(settle.Internal, err, "list projects")
	}
	out := []scene.Ref{}
	for _, p := range projects {
		if !p.IsDir() || scene.ValidateProject(p.Name()) != nil {
			continue
		}
		dir, err := s.Dir(p.Name())
		if err != nil {
			continue
		}
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, settle.Wrap(settle.Internal, err, "list %s", dir)
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			if e.Type().IsRegular() {
				names = append(names, e.Name())
			}
		}
		out = append(out, scene.RefsOfNames(p.Name(), names)...)
	}
	scene.SortRefs(out)
	return out, nil
}
