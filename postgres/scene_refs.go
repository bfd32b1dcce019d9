package postgres

import (
	"context"

	"github.com/settlehq/settle/scene"
)

// Refs implements scene.Lister: every batch with a flat body or a
// versions manifest, of every project.
func (s *Store) Refs(ctx context.Context) ([]scene.Ref, error) {
	byProject := map[string][]string{}
	var order []string
	var p, name string
	err := s.eachRow(ctx, "list scenes", "SELECT project, name FROM scene_files ORDER BY project", []any{&p, &name}, func() error {
		if _, ok := byProject[p]; !ok {
			order = append(order, p)
		}
		byProject[p] = append(byProject[p], name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := []scene.Ref{}
	for _, p := range order {
		out = append(out, scene.RefsOfNames(p, byProject[p])...)
	}
	scene.SortRefs(out)
	return out, nil
}
