package postgres

import (
	"context"

	"github.com/settlehq/settle/scene"
)

// Refs implements scene.Lister: every batch with a flat body or a
// versions manifest, of every project.
func (s *Store) Refs(ctx context.Context) ([]scene.Ref, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, "SELECT project, name FROM scene_files ORDER BY project")
	if err != nil {
		return nil, s.fail(err, "list scenes")
	}
	defer rows.Close()
	byProject := map[string][]string{}
	var order []string
	for rows.Next() {
		var p, name string
		if err := rows.Scan(&p, &name); err != nil {
			return nil, s.fail(err, "list scenes")
		}
		if _, ok := byProject[p]; !ok {
			order = append(order, p)
		}
		byProject[p] = append(byProject[p], name)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "list scenes")
	}
	out := []scene.Ref{}
	for _, p := range order {
		out = append(out, scene.RefsOfNames(p, byProject[p])...)
	}
	scene.SortRefs(out)
	return out, nil
}
