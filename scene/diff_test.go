package scene_test

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
)

// job is one oracle job with the Go-side check of its result.
type job struct {
	req   *pyjson.Object
	check func(t *testing.T, res *pyjson.Object)
}

func jobReq(kv ...any) *pyjson.Object {
	o := pyjson.NewObject()
	for i := 0; i < len(kv); i += 2 {
		v := kv[i+1]
		switch x := v.(type) {
		case int:
			v = pyjson.Int(fmt.Sprint(x))
		case bool, string:
		default:
			panic(fmt.Sprintf("jobReq: %T", v))
		}
		o.Set(kv[i].(string), v)
	}
	return o
}

// runOracle runs every job through one python process, checks each answer
// and returns them.
func runOracle(t *testing.T, root string, jobs []job) []*pyjson.Object {
	t.Helper()
	python, refDir := referenceDir(t)
	var in bytes.Buffer
	for _, j := range jobs {
		b, err := pyjson.Encode(j.req, pyjson.Options{Indent: -1, EnsureASCII: true})
		if err != nil {
			t.Fatal(err)
		}
		in.Write(b)
		in.WriteByte('\n')
	}
	jobsPath := filepath.Join(root, "jobs.jsonl")
	if err := os.WriteFile(jobsPath, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "seed_oracle.py"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, script, jobsPath)
	cmd.Dir = refDir
	cmd.Env = append(os.Environ(), "REFERENCE_ROOT="+filepath.Join(root, "ref"), "PYTHONPATH="+refDir, "PYTHONDONTWRITEBYTECODE=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	started := time.Now()
	out, err := cmd.Output()
	t.Logf("oracle: %d jobs in %v", len(jobs), time.Since(started))
	if err != nil {
		t.Fatalf("oracle: %v\n%s", err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var answers []*pyjson.Object
	for sc.Scan() {
		if len(answers) >= len(jobs) {
			t.Fatalf("oracle printed more results than jobs")
		}
		res := obj(t, sc.Text())
		jobs[len(answers)].check(t, res)
		answers = append(answers, res)
	}
	if len(answers) != len(jobs) {
		t.Fatalf("oracle printed %d results for %d jobs\n%s", len(answers), len(jobs), stderr.String())
	}
	return answers
}

func resString(res *pyjson.Object, k string) (string, bool) { return res.GetString(k) }

// pyErr returns the seed's exception class for field, "" when it returned.
func pyErr(res *pyjson.Object, field string) string {
	s, _ := res.GetString(field + "_error")
	return s
}

func snippet(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "..."
	}
	return string(b)
}

// TestDifferentialSeed compares the package with the seed persistence.py on
// generated inputs: structure fingerprints (model and raw), save bytes,
// structural mutations, the writer-1 overlay, manifests, episode tokens
// and isoformat.
func TestDifferentialSeed(t *testing.T) {
	if testing.Short() {
		t.Skip("differential test skipped in -short mode")
	}
	referenceDir(t) // skip early, loudly
	root := scratchDir(t)
	started := time.Now()
	defer func() { t.Logf("differential test took %v", time.Since(started)) }()
	cases := genSceneCases(t, newGen(20260602))
	stats := map[string]int{}
	jobs := sceneJobs(t, root, cases, stats)
	runOracle(t, root, jobs)
	checkSceneStats(t, stats, 1000)
}

// sceneCase is one differential case as data: what the oracle job reads,
// and what the generator knows about it.
type sceneCase struct {
	kind string // fp | mut | manifest | ep | iso
	// fp: the body file; manifest: the manifest file; mut: the disk file.
	data []byte
	// mut: the rebuild file.
	data2 []byte
	// fp: no save asked (the body has keys save_scene drops), and whether
	// the generator made it well typed.
	extras, wellTyped bool
	// manifest: the batch and the code DecodeManifest must return.
	batch string
	code  settle.Code
	// ep: the token.
	token string
	// iso: the time, and the case index (sub-microsecond noise).
	sec    int64
	us, ix int
}

// genSceneCases generates the differential's cases.
func genSceneCases(t *testing.T, g *gen) []sceneCase {
	t.Helper()
	var cases []sceneCase

	// 1. Bodies: fingerprints, save bytes, decode codes.
	var wellTyped, oddTrees []*pyjson.Object
	body := func(data []byte, extras, odd, wantWellTyped bool) {
		cases = append(cases, sceneCase{kind: "fp", data: data, extras: extras, wellTyped: wantWellTyped})
		if tree, err := scene.DecodeBodyTree(data); err == nil {
			if wantWellTyped {
				wellTyped = append(wellTyped, tree)
			} else if odd {
				oddTrees = append(oddTrees, tree)
			}
		}
	}
	for i := range 1200 {
		extras := i%2 == 1
		body([]byte(g.scene(extras, false)), extras, false, true)
	}
	for range 300 {
		body([]byte(g.scene(g.chance(0.5), true)), true, true, false)
	}
	corrupt := []string{
		"", "{", "[]", "null", `"x"`, "1", `{"scene_id":"B"}`, `{"schema_version":2,"scene_id":"B"}`,
		`{"schema_version":"1","scene_id":"B"}`, `{"schema_version":null,"scene_id":"B"}`,
		`{"schema_version":NaN,"scene_id":"B"}`, `{"schema_version":1,"scene_id":"B"} x`,
		"\ufeff{\"schema_version\":1,\"scene_id\":\"B\"}", "{\"schema_version\":1,\"scene_id\":\"\xff\xfe\"}",
		"{\"schema_version\":1,\"scene_id\":\"\xed\xa0\x80\"}", `{"schema_version":1,"scene_id":"a` + "\x01" + `"}`,
		`{"schema_version":1,"scene_id":"B",}`, `{"schema_version":1,'scene_id':"B"}`, `{"schema_version":01}`,
		`{"schema_version":1,"scene_id":"B","beats":[{"beat_id":"b","max_takes":` + strings.Repeat("9", 4301) + `}]}`,
		`{"schema_version":1,"scene_id":"\ud800\udc00\udbff"}`,
	}
	for _, c := range corrupt {
		body([]byte(c), true, true, false)
	}
	for range 60 { // truncated and bit-flipped bodies
		b := []byte(g.scene(false, false))
		if g.chance(0.5) {
			b = b[:g.intn(len(b))]
		} else {
			b[g.intn(len(b))] ^= byte(1 << g.intn(8))
		}
		body(b, true, true, false)
	}
	if len(wellTyped) < 1000 {
		t.Fatalf("only %d well-typed scenes generated", len(wellTyped))
	}

	// 2. Structural mutations and the writer-1 overlay on pairs.
	var pairTrees [][2]*pyjson.Object
	for i := range 700 {
		pairTrees = append(pairTrees, mutate(g, wellTyped[i%len(wellTyped)]))
	}
	for i := range 200 {
		odd := oddTrees[i%len(oddTrees)]
		pairTrees = append(pairTrees, mutate(g, odd))
		// The runner side odd, the disk side well typed.
		pairTrees = append(pairTrees, [2]*pyjson.Object{wellTyped[i], mutate(g, odd)[1]})
	}
	for _, p := range pairTrees {
		var files [2][]byte
		for k := range p {
			b, err := pyjson.Encode(p[k], pyjson.Options{Indent: -1, EnsureASCII: true})
			if err != nil {
				t.Fatal(err)
			}
			files[k] = b
		}
		cases = append(cases, sceneCase{kind: "mut", data: files[0], data2: files[1]})
	}

	// 3. Manifests through load_manifest and atomic_write_json.
	for i := range 250 {
		batch := fmt.Sprintf("M%03d_%s", i, safeName(g))
		data, wantCode := genManifest(g, batch)
		cases = append(cases, sceneCase{kind: "manifest", batch: batch, data: data, code: wantCode})
	}

	// 4. Episode tokens.
	for _, tok := range episodeTokens(g) {
		cases = append(cases, sceneCase{kind: "ep", token: tok})
	}

	// 5. isoformat.
	for i := range 300 {
		sec := g.r.Int64N(4102444800)
		us := 0
		if i%3 != 0 {
			us = g.intn(1000000)
		}
		cases = append(cases, sceneCase{kind: "iso", sec: sec, us: us, ix: i})
	}
	return cases
}

// sceneJobs writes the cases' files under root and returns the oracle jobs
// with the checks of their answers; the checks count outcomes in stats.
// Files the seed writes (saved bodies, rewritten manifests) go to the
// paths sceneOutputs names.
func sceneJobs(t *testing.T, root string, cases []sceneCase, stats map[string]int) []job {
	t.Helper()
	bodies := filepath.Join(root, "bodies")
	pairs := filepath.Join(root, "pairs")
	scenesDir := filepath.Join(root, "ref", "projects", "proj", "orchestration", "scenes")
	for _, d := range []string{bodies, pairs, scenesDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path string, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var jobs []job
	counts := map[string]int{}
	for _, c := range cases {
		i := counts[c.kind]
		counts[c.kind]++
		switch c.kind {
		case "fp":
			path := filepath.Join(bodies, fmt.Sprintf("b%04d.json", i))
			write(path, c.data)
			req := jobReq("op", "fp", "path", path)
			savePath := sceneOutput(root, c.kind, i)
			if !c.extras {
				req.Set("save", savePath)
			}
			jobs = append(jobs, job{req, func(t *testing.T, res *pyjson.Object) {
				// _disk_structure_fingerprint on the raw file.
				var goDisk string
				var goDiskErr error
				if v, err := pyjson.Parse(c.data); err != nil {
					goDiskErr = err
				} else if o, ok := v.(*pyjson.Object); !ok {
					goDiskErr = fmt.Errorf("not an object")
				} else {
					goDisk, goDiskErr = scene.FingerprintTreeStrict(o)
				}
				pyDisk, pyOK := resString(res, "disk")
				switch {
				case goDiskErr == nil && pyOK:
					if goDisk != pyDisk {
						t.Errorf("body %d: FingerprintTree %s != seed %s\n%s", i, goDisk, pyDisk, snippet(c.data))
					}
					stats["disk fingerprint equal"]++
				case goDiskErr != nil && !pyOK:
					stats["disk fingerprint both refuse"]++
				default:
					t.Errorf("body %d: FingerprintTree err %v, seed %s %v\n%s", i, goDiskErr, pyErr(res, "disk"), res.Keys(), snippet(c.data))
				}

				// structure_fingerprint(load_scene(path)).
				sc, err := scene.DecodeBody(c.data)
				pyModel, pyOK := resString(res, "model")
				switch {
				case err == nil && pyOK:
					if fp := scene.Fingerprint(sc); fp != pyModel {
						t.Errorf("body %d: Fingerprint %s != seed %s\n%s", i, fp, pyModel, snippet(c.data))
					}
					stats["model fingerprint equal"]++
				case err == nil:
					msg, _ := res.GetString("model_msg")
					t.Errorf("body %d: seed refuses (%s: %s), DecodeBody accepts\n%s", i, pyErr(res, "model"), msg, snippet(c.data))
				case c.wellTyped:
					t.Errorf("body %d: well-typed body refused: %v\n%s", i, err, snippet(c.data))
				case settle.ErrorCode(err) == settle.SchemaMismatch:
					msg, _ := res.GetString("model_msg")
					if pyErr(res, "model") != "KeyError" || !strings.Contains(msg, "schema_version") {
						t.Errorf("body %d: SchemaMismatch but seed %s %q", i, pyErr(res, "model"), msg)
					}
					stats["decode SchemaMismatch both"]++
				case settle.ErrorCode(err) == settle.Corrupt:
					if _, treeErr := scene.DecodeBodyTree(c.data); treeErr == nil {
						// A model shape error: the seed may hydrate garbage.
						if pyOK {
							stats["decode Corrupt shape, seed hydrates (documented)"]++
						} else {
							stats["decode Corrupt shape, seed raises"]++
						}
					} else if pyOK {
						t.Errorf("body %d: Corrupt (%v) but the seed loads it\n%s", i, err, snippet(c.data))
					} else {
						switch pyErr(res, "model") {
						case "JSONDecodeError", "UnicodeDecodeError", "ValueError", "AttributeError", "TypeError":
							stats["decode Corrupt both"]++
						default:
							t.Errorf("body %d: Corrupt (%v), seed %s", i, err, pyErr(res, "model"))
						}
					}
				default:
					t.Errorf("body %d: unexpected error %v", i, err)
				}

				// save_scene bytes.
				if _, asked := res.Get("saved"); asked || pyErr(res, "saved") != "" {
					if err != nil {
						if pyErr(res, "saved") == "" {
							t.Errorf("body %d: seed saved what DecodeBody refuses", i)
						}
						return
					}
					want, rerr := os.ReadFile(savePath)
					if rerr != nil {
						t.Errorf("body %d: seed save: %v (%s)", i, rerr, pyErr(res, "saved"))
						return
					}
					got, eerr := scene.EncodeBody(sc)
					if eerr != nil || !bytes.Equal(got, want) {
						t.Errorf("body %d: EncodeBody differs from save_scene (%v)\n got %s\nwant %s", i, eerr, snippet(got), snippet(want))
					}
					stats["save bytes equal"]++
				}
			}})
		case "mut":
			dp := filepath.Join(pairs, fmt.Sprintf("p%04d.disk.json", i))
			rp := filepath.Join(pairs, fmt.Sprintf("p%04d.rebuild.json", i))
			write(dp, c.data)
			write(rp, c.data2)
			// The trees as the seed's json.loads reads the files.
			p := [2]*pyjson.Object{obj(t, string(c.data)), obj(t, string(c.data2))}
			jobs = append(jobs, job{jobReq("op", "mut", "disk", dp, "rebuild", rp), func(t *testing.T, res *pyjson.Object) {
				desc := func() string { return compact(t, p[0]) + "\n" + compact(t, p[1]) }
				got, err := scene.StructuralMutationsStrict(p[0], p[1])
				pyMut, pyOK := res.Get("mut")
				switch {
				case err == nil && pyOK:
					gotV := make([]any, len(got))
					for i, m := range got {
						gotV[i] = m
					}
					if !pyjson.Equal(gotV, pyMut) {
						t.Errorf("pair %d: mutations %q != seed %s\n%s", i, got, compact(t, pyMut), desc())
					}
					if len(got) == 0 {
						stats["mutations none"]++
					} else {
						stats["mutations some"]++
					}
				case err != nil && !pyOK:
					stats["mutations both raise"]++
				default:
					t.Errorf("pair %d: mutations err %v, seed %s\n%s", i, err, pyErr(res, "mut"), desc())
				}
				for _, allow := range []bool{false, true} {
					field := "ov0"
					if allow {
						field = "ov1"
					}
					merged, err := scene.Writer1Overlay(p[0], p[1], allow)
					pyOut, pyOK := res.GetString(field)
					switch {
					case err == nil && pyOK:
						b, eerr := scene.EncodeBodyTree(merged)
						if eerr != nil || string(b) != pyOut {
							t.Errorf("pair %d allow=%v: overlay differs (%v)\n got %s\nwant %s", i, allow, eerr, snippet(b), snippet([]byte(pyOut)))
						}
						stats["overlay equal"]++
					case err == nil:
						msg, _ := res.GetString(field + "_msg")
						if pyErr(res, field) != "TypeError" || !strings.Contains(msg, "NoneType") {
							t.Errorf("pair %d allow=%v: seed raises %s %q, overlay succeeds\n%s", i, allow, pyErr(res, field), msg, desc())
						}
						stats["overlay null metadata repaired (documented)"]++
					case pyOK:
						t.Errorf("pair %d allow=%v: overlay %v, seed succeeds\n%s", i, allow, err, desc())
					default:
						want := map[string][]settle.Code{"KeyError": {settle.StructureImmutable}, "TypeError": {settle.Corrupt, settle.InvalidInput}, "AttributeError": {settle.Corrupt, settle.InvalidInput}}[pyErr(res, field)]
						ok := false
						for _, c := range want {
							ok = ok || settle.ErrorCode(err) == c
						}
						if !ok {
							t.Errorf("pair %d allow=%v: overlay %v, seed %s", i, allow, err, pyErr(res, field))
						}
						stats["overlay both raise "+string(settle.ErrorCode(err))]++
					}
				}
			}})
		case "manifest":
			batch, data, wantCode := c.batch, c.data, c.code
			write(filepath.Join(scenesDir, scene.ManifestName("ep_001", batch)), data)
			out := sceneOutput(root, c.kind, i)
			jobs = append(jobs, job{jobReq("op", "manifest", "project", "proj", "batch", batch, "out", out), func(t *testing.T, res *pyjson.Object) {
				m, err := scene.DecodeManifest(data, batch)
				if settle.ErrorCode(err) != wantCode {
					t.Errorf("manifest %d: code %q (%v), generated as %q\n%s", i, settle.ErrorCode(err), err, wantCode, data)
				}
				py := pyErr(res, "manifest")
				switch settle.ErrorCode(err) {
				case "":
					want, rerr := os.ReadFile(out)
					if rerr == nil && !bytes.Contains(want, []byte(`"schema_version": 1,`)) {
						// The seed writes back the 1.0 or true it read;
						// settle normalizes it to 1.
						want = bytes.Replace(want, []byte(`"schema_version": 1.0,`), []byte(`"schema_version": 1,`), 1)
						want = bytes.Replace(want, []byte(`"schema_version": true,`), []byte(`"schema_version": 1,`), 1)
						stats["manifest schema 1.0/true normalized"]++
					}
					got, eerr := scene.EncodeManifest(m)
					if py != "" || rerr != nil || eerr != nil || !bytes.Equal(got, want) {
						t.Errorf("manifest %d: seed %s, encode %v\n got %s\nwant %s", i, py, eerr, got, want)
					}
					stats["manifest bytes equal"]++
				case settle.SchemaMismatch:
					if py != "KeyError" {
						t.Errorf("manifest %d: SchemaMismatch, seed %q", i, py)
					}
					stats["manifest SchemaMismatch both"]++
				case settle.ManifestIdentity:
					if py != "ValueError" {
						t.Errorf("manifest %d: ManifestIdentity, seed %q", i, py)
					}
					stats["manifest identity both"]++
				case settle.Corrupt:
					if py != "JSONDecodeError" && py != "UnicodeDecodeError" && py != "AttributeError" {
						t.Errorf("manifest %d: Corrupt, seed %q", i, py)
					}
					stats["manifest Corrupt both"]++
				}
			}})
		case "ep":
			tok := c.token
			jobs = append(jobs, job{jobReq("op", "ep", "token", tok), func(t *testing.T, res *pyjson.Object) {
				got, err := scene.CanonicalEpisode(tok)
				want, ok := res.GetString("ep")
				switch {
				case err == nil && ok:
					if got != want {
						t.Errorf("CanonicalEpisode(%q) = %q, seed %q", tok, got, want)
					}
					stats["episode equal"]++
				case err != nil && !ok:
					if settle.ErrorCode(err) != settle.InvalidEpisode || pyErr(res, "ep") != "ValueError" {
						t.Errorf("CanonicalEpisode(%q): %v, seed %s", tok, err, pyErr(res, "ep"))
					}
					stats["episode both refuse"]++
				default:
					t.Errorf("CanonicalEpisode(%q) = %q, %v; seed %q %s", tok, got, err, want, pyErr(res, "ep"))
				}
			}})
		case "iso":
			sec, us, i := c.sec, c.us, c.ix
			jobs = append(jobs, job{jobReq("op", "iso", "sec", int(sec), "us", us), func(t *testing.T, res *pyjson.Object) {
				got := scene.PyISOFormat(time.Unix(sec, int64(us)*1000+int64(g2ns(i))))
				if want, _ := res.GetString("iso"); got != want {
					t.Errorf("PyISOFormat(%d, %d) = %q, seed %q", sec, us, got, want)
				}
				stats["isoformat equal"]++
			}})
		default:
			t.Fatalf("unknown case kind %q", c.kind)
		}
	}
	return jobs
}

// sceneOutput is where the seed writes the i-th case of kind (a saved
// body, a rewritten manifest).
func sceneOutput(root, kind string, i int) string {
	switch kind {
	case "fp":
		return filepath.Join(root, "bodies", fmt.Sprintf("b%04d.saved.json", i))
	case "manifest":
		return filepath.Join(root, fmt.Sprintf("m%03d.out.json", i))
	}
	return ""
}

// checkSceneStats logs the outcomes and fails when a kind of outcome was
// never reached, or fewer than minModel model fingerprints were compared.
func checkSceneStats(t *testing.T, stats map[string]int, minModel int) {
	t.Helper()
	for _, k := range sortedKeys(stats) {
		t.Logf("%-55s %d", k, stats[k])
	}
	for _, k := range []string{"disk fingerprint equal", "model fingerprint equal", "save bytes equal", "mutations none", "mutations some",
		"overlay equal", "manifest bytes equal", "episode equal", "episode both refuse", "decode Corrupt both", "decode SchemaMismatch both"} {
		if stats[k] == 0 {
			t.Errorf("no case reached %q", k)
		}
	}
	if stats["model fingerprint equal"] < minModel {
		t.Errorf("only %d model fingerprints compared", stats["model fingerprint equal"])
	}
}

// scratchDir is a temporary directory on tmpfs (/dev/shm) when there is
// one: the test writes thousands of small files, which a busy disk makes
// slow to create. Elsewhere it is t.TempDir().
func scratchDir(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "settle-scene-test-"); err == nil {
			t.Cleanup(func() {
				if err := os.RemoveAll(dir); err != nil {
					t.Errorf("remove %s: %v", dir, err)
				}
			})
			return dir
		}
	}
	return t.TempDir()
}

// g2ns adds sub-microsecond noise that isoformat must truncate.
func g2ns(i int) int { return (i * 37) % 1000 }

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

// safeName is a random file-name-safe batch suffix in several scripts.
func safeName(g *gen) string {
	var b strings.Builder
	for range 1 + g.intn(6) {
		b.WriteRune(pick(g, 'a'+rune(g.intn(26)), 'Z', '_', '-', 'é', 'ж', 'ק', 'ب', '漢', '한', '🎬', '0'+rune(g.intn(10))))
	}
	return b.String()
}

// genManifest writes a manifest for batch (sometimes a broken one) and the
// code DecodeManifest must return.
func genManifest(g *gen, batch string) ([]byte, settle.Code) {
	var entries []string
	n := g.intn(5)
	for v := 1; v <= n; v++ {
		ms := []member{
			{g.str("version"), fmt.Sprint(v)},
			{g.str("artifact"), g.lit(g.text(12))},
			{g.str("structure_fingerprint"), g.str(fmt.Sprintf("%064x", g.r.Uint64()))},
			{g.str("created_at"), pick(g, "null", g.str(scene.PyISOFormat(time.Unix(g.r.Int64N(4e9), int64(g.intn(2)*g.intn(1e9))))), g.lit(g.text(5)))},
			{g.str("reason"), g.lit(g.text(10))},
		}
		entries = append(entries, g.object(ms, true))
	}
	ms := []member{
		{g.str("schema_version"), pick(g, "1", "1", "1", "1", "1.0", "true")},
		{g.str("batch_id"), g.str(batch)},
		{g.str("active_version"), fmt.Sprint(g.intn(n + 1))},
		{g.str("versions"), g.array(entries)},
	}
	code := settle.Code("")
	switch g.intn(12) {
	case 0:
		ms[0].v = pick(g, "2", `"1"`, "null", "0", "false", "NaN")
		code = settle.SchemaMismatch
	case 1:
		ms = ms[1:]
		code = settle.SchemaMismatch
	case 2:
		ms[1].v = pick(g, g.str(batch+"x"), "null", "1", g.str(strings.ToUpper(batch)+"\u0301"))
		code = settle.ManifestIdentity
	case 3:
		data := []byte(g.object(ms, true))
		return data[:g.intn(len(data))], settle.Corrupt
	}
	return []byte(g.ws() + g.object(ms, true) + g.ws()), code
}

// pyWhitespace are the characters Python's str.strip() removes, and some
// it keeps.
var (
	pyWhitespace = []string{" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\u0085", "\u00a0", "\u1680", "\u2000", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"}
	notSpace     = []string{"\u200b", "\ufeff", "\x00", "\u180e", "_"}
)

func episodeTokens(g *gen) []string {
	toks := []string{"", "0", "1", "01", "001", "0001", "ep_001", "ep_01", "ep_1", "EP_001", "ep_001 ", " ep_001", "ep-001", "ep_001_B", "-1", "+1", "1.0", "1e3", "1_000", "0x10", "²", "³", "①", "Ⅻ", "½", "ep_²²²", "ep_١٢٣", "١٢٣", "𝟏𝟐", "ep_𝟏𝟐𝟑", "１２", "ep_１２３",
		strings.Repeat("1", 4299), strings.Repeat("1", 4300), strings.Repeat("1", 4301), strings.Repeat("0", 4301), "ep_" + strings.Repeat("9", 5000), " " + strings.Repeat("5", 4300) + " "}
	// Every decimal digit Go knows (a newer Unicode than Python 3.11's).
	for _, rg := range unicode.Nd.R16 {
		for r := rune(rg.Lo); r <= rune(rg.Hi); r += rune(rg.Stride) {
			if (r-rune(rg.Lo))%7 == 0 || r == rune(rg.Lo) {
				toks = append(toks, string(r), "ep_"+strings.Repeat(string(r), 3), "1"+string(r))
			}
		}
	}
	for _, rg := range unicode.Nd.R32 {
		for r := rune(rg.Lo); r <= rune(rg.Hi); r += rune(rg.Stride) {
			if (r-rune(rg.Lo))%7 == 0 || r == rune(rg.Lo) {
				toks = append(toks, string(r), "ep_"+strings.Repeat(string(r), 3), "1"+string(r))
			}
		}
	}
	for _, s := range append(pyWhitespace, notSpace...) {
		toks = append(toks, s+"7"+s, s+"ep_007", "ep_007"+s, s)
	}
	digitZeros := []rune{'0', 0x660, 0x966, 0xE50, 0xFF10, 0x1D7CE, 0x104A0, 0x11F50, 0x1E4F0}
	for range 600 {
		var b strings.Builder
		for range g.intn(3) {
			b.WriteString(pick(g, pyWhitespace...))
		}
		b.WriteString(pick(g, "", "", "ep_", "ep", "EP_", "ep__"))
		for range g.intn(7) {
			b.WriteRune(pick(g, digitZeros...) + rune(g.intn(10)))
		}
		if g.chance(0.1) {
			b.WriteString(pick(g, "a", "_", ".", "-", "\u200b"))
		}
		for range g.intn(3) {
			b.WriteString(pick(g, pyWhitespace...))
		}
		toks = append(toks, b.String())
	}
	return toks
}

// mutate returns a (disk, rebuild) pair from a raw scene tree: the disk
// side a copy, sometimes with NaN values (json.loads' singleton) put into
// structural metadata, the rebuild side a changed copy of that:
// structural and non-structural edits, builder-variant shot keys, beat
// reorders, renames, numeric spellings, key order.
func mutate(g *gen, src *pyjson.Object) [2]*pyjson.Object {
	sk := func() string { return scene.StructuralBeatMetadataKeys[g.intn(len(scene.StructuralBeatMetadataKeys))] }
	beatsOf := func(o *pyjson.Object) []any {
		v, _ := o.Get("beats")
		l, _ := v.([]any)
		return l
	}
	md := func(b any) *pyjson.Object {
		bo, _ := b.(*pyjson.Object)
		if bo == nil {
			return nil
		}
		m, _ := bo.GetObject("beat_metadata")
		return m
	}
	disk := src.Clone()
	if bs := beatsOf(disk); len(bs) > 0 && g.chance(0.2) {
		if m := md(bs[g.intn(len(bs))]); m != nil {
			m.Set(sk(), pick[any](g, math.NaN(), []any{math.NaN(), pyjson.Int("1")}, objWith("n", math.NaN())))
		}
	}
	rb := disk.Clone()
	beats := beatsOf(rb)
	randomBeat := func() *pyjson.Object {
		if len(beats) == 0 {
			return nil
		}
		b, _ := beats[g.intn(len(beats))].(*pyjson.Object)
		return b
	}
	for range g.intn(4) {
		switch g.intn(16) {
		case 0: // change a structural value
			if m := md(randomBeat()); m != nil {
				m.Set(sk(), parseTree(g.value(2)))
			}
		case 1: // remove structural keys
			if m := md(randomBeat()); m != nil {
				for _, k := range m.Keys() {
					if g.chance(0.5) {
						m.Delete(k)
					}
				}
			}
		case 2: // add (enrich) a structural key
			if m := md(randomBeat()); m != nil {
				if k := sk(); !m.Has(k) {
					m.Set(k, parseTree(g.structuralValue(k)))
				}
			}
		case 3, 4: // builder-variant shot keys
			if m := md(randomBeat()); m != nil {
				var shots []*pyjson.Object
				for _, k := range []string{"shot", "plan_shot"} {
					if s, ok := m.GetObject(k); ok {
						shots = append(shots, s)
					}
				}
				if v, ok := m.Get("batch_shots"); ok {
					if l, ok := v.([]any); ok {
						for _, e := range l {
							if s, ok := e.(*pyjson.Object); ok {
								shots = append(shots, s)
							}
						}
					}
				}
				for _, s := range shots {
					k := pick(g, "is_env_only", "aspect_ratio", "raw")
					if g.chance(0.5) {
						s.Delete(k)
					} else {
						s.Set(k, parseTree(g.value(1)))
					}
				}
			}
		case 5: // swap beats
			if len(beats) > 1 {
				i, j := g.intn(len(beats)), g.intn(len(beats))
				beats[i], beats[j] = beats[j], beats[i]
			}
		case 6: // drop a beat
			if len(beats) > 0 {
				i := g.intn(len(beats))
				beats = append(beats[:i:i], beats[i+1:]...)
				rb.Set("beats", beats)
			}
		case 7: // rename a beat
			if b := randomBeat(); b != nil {
				b.Set("beat_id", pick[any](g, "renamed", pyjson.Int("1"), nil, 1.0))
			}
		case 8:
			rb.Set("scene_id", pick[any](g, "other", nil, pyjson.Int("1")))
		case 9, 10: // runner-owned status
			if b := randomBeat(); b != nil {
				b.Set("takes", parseTree(g.array([]string{g.take(false)})))
				b.Set("primary_take_id", pick[any](g, "t", nil))
				if g.chance(0.5) {
					b.Set("phantom_recovery_count", pyjson.Int("9"))
				} else {
					b.Delete("phantom_recovery_count")
				}
				if m := md(b); m != nil {
					m.Set(pick(g, "inputs_fingerprint", "reroll_cleared_stale"), parseTree(g.value(1)))
				}
			}
		case 11: // beat_metadata null, {}, missing
			if b := randomBeat(); b != nil {
				switch g.intn(3) {
				case 0:
					b.Set("beat_metadata", nil)
				case 1:
					b.Set("beat_metadata", pyjson.NewObject())
				default:
					b.Delete("beat_metadata")
				}
			}
		case 12: // numbers spelled otherwise: 1 -> 1.0 -> true
			if m := md(randomBeat()); m != nil {
				for _, k := range m.Keys() {
					v, _ := m.Get(k)
					m.Set(k, respell(g, v))
				}
			}
		case 13: // nested key order
			if m := md(randomBeat()); m != nil {
				for _, k := range m.Keys() {
					v, _ := m.Get(k)
					m.Set(k, reorder(v))
				}
			}
		case 14: // the runner carries status and structural keys a null disk lacks
			if b := randomBeat(); b != nil {
				b.Set("beat_metadata", parseTree(`{"inputs_fingerprint":"x","plan_shot":{"id":1}}`))
			}
		default: // duplicate a beat
			if len(beats) > 0 {
				beats = append(beats, pyjson.DeepCopy(beats[g.intn(len(beats))]))
				rb.Set("beats", beats)
			}
		}
	}
	return [2]*pyjson.Object{disk, rb}
}

// respell rewrites small ints as equal floats or booleans, everywhere in v.
func respell(g *gen, v any) any {
	switch x := v.(type) {
	case pyjson.Int:
		switch {
		case (x == "1" || x == "0") && g.chance(0.3):
			return x == "1"
		case len(x) < 10:
			var f float64
			fmt.Sscan(string(x), &f)
			return f
		}
	case *pyjson.Object:
		o := pyjson.NewObject()
		for _, k := range x.Keys() {
			e, _ := x.Get(k)
			o.Set(k, respell(g, e))
		}
		return o
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = respell(g, e)
		}
		return out
	}
	return v
}

// reorder returns v with every object's keys reversed.
func reorder(v any) any {
	switch x := v.(type) {
	case *pyjson.Object:
		o := pyjson.NewObject()
		keys := x.Keys()
		for i := len(keys) - 1; i >= 0; i-- {
			e, _ := x.Get(keys[i])
			o.Set(keys[i], reorder(e))
		}
		return o
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = reorder(e)
		}
		return out
	}
	return v
}
