package writeback

import (
	"testing"

	"github.com/settlehq/settle/internal/testenv"
)

// TestRelPathFastPaths: RelPath and PythonPath answer as the lexical
// pathlib computation they shortcut (a relative path against an absolute
// root, a path of one component), on random paths of every shape.
func TestRelPathFastPaths(t *testing.T) {
	rng := testenv.Rand(t)
	pieces := []string{"/", "/", "//", ".", "..", "ws", "a", "api:verdict-sha256:00ff", " ", ""}
	path := func() string { return testenv.RandString(rng, pieces, 5) }
	for range 20000 {
		root, resolved, asGiven := path(), path(), path()
		if rng.Intn(3) == 0 {
			asGiven = resolved
		}
		slowPy := func(p string) string { return parsePurePath(p).String() }
		want := slowPy(asGiven)
		if rel, ok := relativeTo(parsePurePath(resolved), parsePurePath(root)); ok {
			want = rel.String()
		}
		if got := RelPath(root, resolved, asGiven); got != want {
			t.Fatalf("RelPath(%q, %q, %q) = %q, want %q", root, resolved, asGiven, got, want)
		}
		if got, want := PythonPath(asGiven), slowPy(asGiven); got != want {
			t.Fatalf("PythonPath(%q) = %q, want %q", asGiven, got, want)
		}
	}
}
