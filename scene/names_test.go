package scene_test

import (
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/scene"
)

// episodeCase is a canonical episode name wanted of in, or an error code.
type episodeCase[In any] struct {
	name string
	in   In
	want string
	code settle.Code
}

func checkEpisodes[In any](t *testing.T, canonical func(In) (string, error), tests []episodeCase[In]) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := canonical(tt.in)
			wantCode(t, err, tt.code)
			if got != tt.want {
				t.Fatalf("canonical(%#v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCanonicalEpisode(t *testing.T) {
	checkEpisodes(t, scene.CanonicalEpisode, []episodeCase[string]{
		{"int string", "1", "ep_001", ""},
		{"zero", "0", "ep_000", ""},
		{"leading zeros", "0007", "ep_007", ""},
		{"four digits", "1234", "ep_1234", ""},
		{"canonical passes", "ep_001", "ep_001", ""},
		{"canonical long", "ep_0001", "ep_0001", ""},
		{"whitespace stripped", " \t12\n", "ep_012", ""},
		{"python whitespace stripped", "\u00a0\u30003\u2028", "ep_003", ""},
		{"arabic-indic digits", "\u0661\u0662", "ep_012", ""},
		{"mixed scripts", "1\u0661", "ep_011", ""},
		{"canonical with other digits kept", "ep_\u0661\u0662\u0663", "ep_\u0661\u0662\u0663", ""},
		{"big number", "123456789012345678901234567890", "ep_123456789012345678901234567890", ""},
		{"4300 digits", strings.Repeat("7", 4300), "ep_" + strings.Repeat("7", 4300), ""},
		{"4301 digits", strings.Repeat("7", 4301), "", settle.InvalidEpisode},
		{"empty", "", "", settle.InvalidEpisode},
		{"spaces only", "   ", "", settle.InvalidEpisode},
		{"negative", "-1", "", settle.InvalidEpisode},
		{"plus sign", "+1", "", settle.InvalidEpisode},
		{"short canonical", "ep_01", "", settle.InvalidEpisode},
		{"upper case", "EP_001", "", settle.InvalidEpisode},
		{"batch glued", "ep_001_x", "", settle.InvalidEpisode},
		{"superscript digit", "\u00b2", "", settle.InvalidEpisode},
		{"underscore int", "1_000", "", settle.InvalidEpisode},
		{"float", "1.0", "", settle.InvalidEpisode},
		{"unicode 15 digit python lacks", "\U00011F51", "", settle.InvalidEpisode},
		{"trailing NUL", "1\x00", "", settle.InvalidEpisode},
		{"path", "../1", "", settle.InvalidEpisode},
	})
}

func TestCanonicalEpisodeInt(t *testing.T) {
	checkEpisodes(t, scene.CanonicalEpisodeInt, []episodeCase[int]{
		{"zero", 0, "ep_000", ""},
		{"one", 1, "ep_001", ""},
		{"wide", 12345, "ep_12345", ""},
		{"negative", -1, "", settle.InvalidEpisode},
	})
}

func TestValidateNames(t *testing.T) {
	tests := []struct {
		name, in     string
		batchOK, pOK bool
	}{
		{"plain", "BATCH_001", true, true},
		{"unicode", "샷_01", true, true},
		{"dots inside", "a..b", true, true},
		{"empty", "", false, false},
		{"dot", ".", false, false},
		{"dotdot", "..", false, false},
		{"slash", "a/b", false, false},
		{"backslash", `a\b`, false, false},
		{"nul", "a\x00b", false, false},
		{"invalid utf8", "a\xffb", false, false},
		{"manifest lookalike", "x.versions", false, true},
		{"version body lookalike", "x.v001", false, true},
		{"version body lookalike other digits", "x.v\u0661", false, true},
		{"v without digits", "x.v", true, true},
		{"versions inside", "x.versions.y", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, scene.ValidateBatchID(tt.in), codeUnless(tt.batchOK, settle.InvalidInput))
			wantCode(t, scene.ValidateProject(tt.in), codeUnless(tt.pOK, settle.InvalidInput))
		})
	}
}

func TestFileNames(t *testing.T) {
	for _, tt := range []struct{ name, got, want string }{
		{"FlatName", scene.FlatName("ep_001", "B"), "ep_001_B.json"},
		{"VersionName", scene.VersionName("ep_001", "B", 7), "ep_001_B.v007.json"},
		{"VersionName wide", scene.VersionName("ep_001", "B", 1234), "ep_001_B.v1234.json"},
		{"ManifestName", scene.ManifestName("ep_001", "B"), "ep_001_B.versions.json"},
		{"LockName", scene.LockName("ep_001", "B"), "ep_001_B.versions.lock"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestIsListedScene(t *testing.T) {
	tests := []struct {
		name, file string
		want       bool
	}{
		{"flat", "ep_001_B.json", true},
		{"other episode", "ep_002_B.json", false},
		{"longer episode token", "ep_0011_B.json", false},
		{"manifest", "ep_001_B.versions.json", false},
		{"version body", "ep_001_B.v001.json", false},
		{"version body other digits", "ep_001_B.v\u0661.json", false},
		{"v without digits", "ep_001_B.v.json", true},
		{"lock", "ep_001_B.versions.lock", false},
		{"tmp", "ep_001_B.json.tmp", false},
		{"durable tmp", "ep_001_B.json.tmp-1-abcd", false},
		{"no underscore", "ep_001.json", false},
		{"upper suffix", "ep_001_B.JSON", false},
		{"trailing newline", "ep_001_B.json\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scene.IsListedScene(tt.file, "ep_001"); got != tt.want {
				t.Fatalf("IsListedScene(%q) = %v, want %v", tt.file, got, tt.want)
			}
		})
	}
	// Every valid batch's flat body is listed, none of its sidecars.
	for _, b := range []string{"B", "x.v", "a..b", "v001", "x.versions.y"} {
		if err := scene.ValidateBatchID(b); err != nil {
			t.Fatalf("ValidateBatchID(%q): %v", b, err)
		}
		if !scene.IsListedScene(scene.FlatName("ep_001", b), "ep_001") {
			t.Errorf("flat body of %q not listed", b)
		}
		if scene.IsListedScene(scene.VersionName("ep_001", b, 2), "ep_001") || scene.IsListedScene(scene.ManifestName("ep_001", b), "ep_001") {
			t.Errorf("sidecar of %q listed", b)
		}
	}
}

func TestCheckArtifact(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"flat", "ep_001_B.json", true},
		{"version", "ep_001_B.v002.json", true},
		{"empty", "", false},
		{"dot", ".", false},
		{"dotdot", "..", false},
		{"dotdot inside", "a..json", false},
		{"absolute", "/etc/passwd", false},
		{"relative dir", "sub/ep_001_B.json", false},
		{"backslash", `..\x`, false},
		{"windows sep", `a\b.json`, false},
		{"nul", "a\x00.json", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, scene.CheckArtifact(tt.in), codeUnless(tt.ok, settle.UnsafeArtifact))
		})
	}
}

// codeUnless is the error code wanted of a check: none when ok.
func codeUnless(ok bool, code settle.Code) settle.Code {
	if ok {
		return ""
	}
	return code
}
