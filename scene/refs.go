package scene

import (
	"context"
	"sort"
	"strings"
)

// Lister is implemented by stores that can list every scene batch of every
// project (the file and PostgreSQL stores); the dashboard's scene browser
// needs it.
type Lister interface {
	// Refs returns a Ref per batch with a flat body or a versions
	// manifest, sorted by project, episode and batch. Episodes are
	// canonical tokens ("ep_001").
	Refs(ctx context.Context) ([]Ref, error)
}

// RefsOfNames returns the batches that a project's scenes directory names
// hold: "<token>_<batch>.json" flat bodies and
// "<token>_<batch>.versions.json" manifests (versioned bodies, locks and
// temporary files are skipped), deduplicated and sorted.
func RefsOfNames(project string, names []string) []Ref {
	seen := map[Ref]bool{}
	for _, name := range names {
		stem, ok := strings.CutSuffix(name, manifestSuffix)
		if !ok {
			if stem, ok = strings.CutSuffix(name, flatSuffix); !ok || hasVersionSuffix(stem) {
				continue
			}
		}
		rest, ok := strings.CutPrefix(stem, "ep_")
		if !ok {
			continue
		}
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i < 3 || i >= len(rest)-1 || rest[i] != '_' {
			continue
		}
		r := Ref{Project: project, Episode: "ep_" + rest[:i], Batch: rest[i+1:]}
		if !IsListedScene(FlatName(r.Episode, r.Batch), r.Episode) {
			continue
		}
		seen[r] = true
	}
	out := make([]Ref, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	SortRefs(out)
	return out
}

// SortRefs sorts refs by project, episode and batch.
func SortRefs(refs []Ref) {
	sort.Slice(refs, func(i, j int) bool {
		a, b := refs[i], refs[j]
		if a.Project != b.Project {
			return a.Project < b.Project
		}
		if a.Episode != b.Episode {
			return a.Episode < b.Episode
		}
		return a.Batch < b.Batch
	})
}
