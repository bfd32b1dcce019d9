package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sceneShow runs scene show --json and decodes it.
func sceneShow(t *testing.T, dir, batch string) (version int, revision string, scene map[string]any) {
	t.Helper()
	out, errOut, code := run(t, nil, "--json", "--root", dir, "scene", "show", "--project", "p", "--episode", "1", "--batch", batch)
	if code != 0 {
		t.Fatalf("scene show %s: exit %d %s %s", batch, code, out, errOut)
	}
	var doc struct {
		Version  int            `json:"version"`
		Revision string         `json:"revision"`
		Scene    map[string]any `json:"scene"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Revision) != 64 {
		t.Fatalf("scene show: %q (%v)", out, err)
	}
	return doc.Version, doc.Revision, doc.Scene
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHardeningC_CLIKeepsColdStart: the CLI keeps the seed's Case A, a
// status write to a brand-new flat batch materializes it (over HTTP only
// an operator's does).
func TestHardeningC_CLIKeepsColdStart(t *testing.T) {
	dir := t.TempDir()
	patch := writeFile(t, t.TempDir(), "p.json", `[{"op": "add", "path": "/scene_metadata/k", "value": 1}]`)
	out, errOut, code := run(t, nil, "--root", dir, "scene", "patch", "--project", "p", "--episode", "1", "--batch", "NEW", "--expected-version", "1", "--patch", patch)
	if code != 0 {
		t.Fatalf("cold start: exit %d %s %s", code, out, errOut)
	}
	if v, _, sc := sceneShow(t, dir, "NEW"); v != 1 || sc["scene_id"] != "NEW" {
		t.Fatalf("cold-started scene: v%d %v", v, sc)
	}
}

// TestHardeningD_CLISaveRunnerRevision: save-runner names the revision of
// the body its scene was based on (--expected-revision, printed by scene
// show); a second save from the same base, or one that names no body, is
// VERSION_CONFLICT instead of replacing the first's takes.
func TestHardeningD_CLISaveRunnerRevision(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	base := `{"scene_id": "B", "beats": [{"beat_id": "SH_001", "beat_metadata": {"plan_shot": {"shot_id": "SH_001"}}, "takes": [%s]}], "scene_metadata": {}}`
	cand := writeFile(t, files, "base.json", strings.Replace(base, "%s", "", 1))
	if out, errOut, code := run(t, nil, "--root", dir, "scene", "candidate", "--project", "p", "--episode", "1", "--batch", "B", "--scene", cand); code != 0 {
		t.Fatalf("candidate: exit %d %s %s", code, out, errOut)
	}
	_, rev, _ := sceneShow(t, dir, "B")
	save := func(take string, extra ...string) (string, int) {
		f := writeFile(t, files, take+".json", strings.Replace(base, "%s", `{"take_id": "`+take+`", "status": "running"}`, 1))
		args := append([]string{"--json", "--root", dir, "scene", "save-runner", "--project", "p", "--episode", "1", "--batch", "B", "--expected-version", "1", "--scene", f}, extra...)
		out, _, code := run(t, nil, args...)
		return out, code
	}
	if out, code := save("first", "--expected-revision", rev); code != 0 {
		t.Fatalf("first save: exit %d %s", code, out)
	}
	for _, extra := range [][]string{{"--expected-revision", rev}, nil} {
		out, code := save("second", extra...)
		if code != 1 || !strings.Contains(out, `"VERSION_CONFLICT"`) {
			t.Fatalf("second save %v: exit %d %s", extra, code, out)
		}
	}
	_, _, sc := sceneShow(t, dir, "B")
	takes := sc["beats"].([]any)[0].(map[string]any)["takes"].([]any)
	if len(takes) != 1 || takes[0].(map[string]any)["take_id"] != "first" {
		t.Fatalf("takes after the refused save: %v", takes)
	}
}
