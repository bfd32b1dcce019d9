package settle_test

import (
	"bufio"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// testOnly is the layer of the packages only tests may import.
const testOnly = -1

// packageMap reads the package map of doc.go: each package's directory
// (relative, "." for the root) and its layer.
func packageMap(t *testing.T) map[string]int {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	layerRe := regexp.MustCompile(`^Layer (\d+),`)
	itemRe := regexp.MustCompile(`^\s+- (\S+): `)
	layers := map[string]int{}
	layer := 0
	sc := bufio.NewScanner(strings.NewReader(f.Doc.Text()))
	for sc.Scan() {
		line := sc.Text()
		if m := layerRe.FindStringSubmatch(line); m != nil {
			layer, _ = strconv.Atoi(m[1])
		} else if strings.HasPrefix(line, "Test only") {
			layer = testOnly
		} else if m := itemRe.FindStringSubmatch(line); m != nil && layer != 0 {
			if _, dup := layers[m[1]]; dup {
				t.Errorf("doc.go lists %s twice", m[1])
			}
			layers[m[1]] = layer
		}
	}
	if len(layers) == 0 {
		t.Fatal("doc.go has no package map")
	}
	return layers
}

// packageDirs returns every directory holding a non-test Go file, relative
// to the module root.
func packageDirs(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	var dirs []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && p != "." && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			dir := filepath.ToSlash(filepath.Dir(p))
			if !seen[dir] {
				seen[dir] = true
				dirs = append(dirs, dir)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

func modulePath(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if m, ok := strings.CutPrefix(line, "module "); ok {
			return strings.TrimSpace(m)
		}
	}
	t.Fatal("go.mod has no module line")
	return ""
}

// TestPackageMap: doc.go's package map names every package of the module,
// and only those, and each package has a doc.go with its package comment.
func TestPackageMap(t *testing.T) {
	layers := packageMap(t)
	dirs := packageDirs(t)
	for _, dir := range dirs {
		if _, ok := layers[dir]; !ok {
			t.Errorf("package %s is missing from the package map in doc.go", dir)
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, "doc.go"), nil, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil || f.Doc == nil {
			t.Errorf("package %s has no doc.go with its package comment (%v)", dir, err)
		}
	}
	for dir := range layers {
		if !slices.Contains(dirs, dir) {
			t.Errorf("doc.go maps %s, which is not a package", dir)
		}
	}
}

// TestImportRule: a package's code (tests excepted) imports only packages
// of lower layers of doc.go's map, so the domain core imports no store; and
// no package's code imports a test-only package.
func TestImportRule(t *testing.T) {
	layers := packageMap(t)
	mod := modulePath(t)
	fset := token.NewFileSet()
	for dir, layer := range layers {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if p != mod && !strings.HasPrefix(p, mod+"/") {
					continue
				}
				target := "."
				if p != mod {
					target = strings.TrimPrefix(p, mod+"/")
				}
				tl, ok := layers[target]
				switch {
				case !ok:
					t.Errorf("%s imports %s, which doc.go does not map", file, path.Clean(target))
				case tl == testOnly:
					t.Errorf("%s imports the test-only package %s", file, target)
				case layer != testOnly && tl >= layer:
					t.Errorf("%s (layer %d) imports %s (layer %d): a package imports only lower layers", file, layer, target, tl)
				}
			}
		}
	}
}
