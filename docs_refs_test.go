package settle_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The forms of reference the repository uses:
//
//	docs/ledger.md                a file, from the repository root
//	[text](errors.md#anchor)      a markdown link, from the linking file
//	docs/contracts.md §3          a numbered section of a page
//	contracts §3                  the same, short
//	[ledger.md](ledger.md) §2     the same, after a markdown link
//	§4.2                          a section of the page it is written in,
//	                              or one of the seed's section numbers that
//	                              docs/ledger.md §8 explains
//
// RFC sections ("RFC 6902 §4.6") are not the repository's.
var (
	docPathRE    = regexp.MustCompile(`\bdocs/[A-Za-z0-9_.-]+\.md\b`)
	mdLinkRE     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	sectionRE    = regexp.MustCompile(`(?:(docs/[A-Za-z0-9_.-]+\.md)|\b(contracts)|\]\(([A-Za-z0-9_./-]+\.md)\))?\s*§(\d+(?:\.\d+)*)`)
	rfcRE        = regexp.MustCompile(`RFC \d+ $`)
	headingNumRE = regexp.MustCompile(`^#+\s+(\d+(?:\.\d+)*)\.?\s`)
	seedRowRE    = regexp.MustCompile("^\\| §(\\d+(?:\\.\\d+)*) \\|")
)

// TestDocReferences: every reference to a document, a section or an anchor
// in the repository's code and documentation resolves.
func TestDocReferences(t *testing.T) {
	seed := seedSections(t)
	var files []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "docs_refs_test.go" {
			return nil // its comments show the forms, not references
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		switch filepath.Ext(p) {
		case ".go", ".md", ".py", ".sh", ".json", ".sql", ".yml", ".yaml":
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(data), `\u00a7`, "§")
		isMD := filepath.Ext(p) == ".md"
		for n, line := range strings.Split(text, "\n") {
			where := p + ":" + itoa(n+1)
			for _, ref := range docPathRE.FindAllString(line, -1) {
				checked++
				if _, err := os.Stat(filepath.FromSlash(ref)); err != nil {
					t.Errorf("%s: %s does not exist", where, ref)
				}
			}
			if isMD {
				for _, m := range mdLinkRE.FindAllStringSubmatch(line, -1) {
					target := m[1]
					if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
						continue
					}
					checked++
					file, anchor, _ := strings.Cut(target, "#")
					path := p
					if file != "" {
						path = filepath.Join(filepath.Dir(p), filepath.FromSlash(file))
						if _, err := os.Stat(path); err != nil {
							t.Errorf("%s: link to %s: no such file", where, target)
							continue
						}
					}
					if anchor != "" && !hasAnchor(t, path, anchor) {
						t.Errorf("%s: link to %s: no such heading", where, target)
					}
				}
			}
			for _, loc := range sectionRE.FindAllStringSubmatchIndex(line, -1) {
				if rfcRE.MatchString(line[:loc[0]+strings.Index(line[loc[0]:], "§")]) {
					continue
				}
				sub := func(i int) string {
					if loc[2*i] < 0 {
						return ""
					}
					return line[loc[2*i]:loc[2*i+1]]
				}
				num := sub(4)
				checked++
				var doc string
				switch {
				case sub(1) != "":
					doc = filepath.FromSlash(sub(1))
				case sub(2) != "":
					doc = filepath.Join("docs", "contracts.md")
				case sub(3) != "":
					doc = filepath.Join(filepath.Dir(p), filepath.FromSlash(sub(3)))
				}
				if doc != "" {
					if !hasSection(t, doc, num) {
						t.Errorf("%s: %s has no section %s", where, doc, num)
					}
					continue
				}
				if (isMD && hasSection(t, p, num)) || seed[num] {
					continue
				}
				t.Errorf("%s: §%s is neither a section of this page nor a seed section explained in docs/ledger.md §8", where, num)
			}
		}
	}
	if checked < 50 {
		t.Fatalf("only %d references checked: the scan is broken", checked)
	}
}

// seedSections are the seed's section numbers that docs/ledger.md explains
// in its table.
func seedSections(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("docs", "ledger.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		if m := seedRowRE.FindStringSubmatch(l); m != nil {
			out[m[1]] = true
		}
	}
	if len(out) == 0 {
		t.Fatal("docs/ledger.md explains no seed sections")
	}
	return out
}

func headings(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var hs []string
	fence := false
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "```") {
			fence = !fence
		}
		if !fence && strings.HasPrefix(l, "#") {
			hs = append(hs, l)
		}
	}
	return hs
}

func hasSection(t *testing.T, path, num string) bool {
	for _, h := range headings(t, path) {
		if m := headingNumRE.FindStringSubmatch(h); m != nil && m[1] == num {
			return true
		}
	}
	return false
}

// hasAnchor reports whether a heading of path has GitHub's anchor.
func hasAnchor(t *testing.T, path, anchor string) bool {
	for _, h := range headings(t, path) {
		if slug(strings.TrimLeft(h, "# ")) == anchor {
			return true
		}
	}
	return false
}

// slug is GitHub's heading anchor: lower case, punctuation dropped, spaces
// as hyphens.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
