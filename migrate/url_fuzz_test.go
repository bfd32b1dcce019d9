package migrate

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzURLs: fileRoot names a directory for every file: URL it accepts,
// and redact replaces the password of every URL that has one.
func FuzzURLs(f *testing.F) {
	for _, s := range []string{"file:", "file:rel/dir", "file:/abs", "file:///abs/dir", "file://localhost/x", "file://host/x",
		"postgres://u:secret@h:5432/db?search_path=s", "postgresql://u@h/db", "file:%zz", "postgres://u:pw@[::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if strings.HasPrefix(raw, "file:") {
			if root, err := fileRoot(raw); err == nil && root == "" {
				t.Fatalf("%q: empty root", raw)
			}
		}
		u, err := url.Parse(raw)
		if err != nil || u.User == nil {
			return
		}
		if _, has := u.User.Password(); !has {
			return
		}
		r, err := url.Parse(redact(raw))
		if err != nil {
			t.Fatalf("%q: redacted %q does not parse: %v", raw, redact(raw), err)
		}
		if p, _ := r.User.Password(); p != "xxxxx" {
			t.Fatalf("%q: redacted %q keeps password %q", raw, redact(raw), p)
		}
	})
}
