package scene_test

import (
	"strings"
	"testing"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/scene"
)

func TestCanonicalEpisode(t *testing.T) {
	tests := []struct {
		name, in, want string
		code           settle.Code
	}{
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scene.CanonicalEpisode(tt.in)
			wantCode(t, err, tt.code)
			if got != tt.want {
				t.Fatalf("CanonicalEpisode(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCanonicalEpisodeInt(t *testing.T) {
	tests := []struct {
		name string
		in   int
		want string
		code settle.Code
	}{
		{"zero", 0, "ep_000", ""},
		{"one", 1, "ep_001", ""},
		{"wide", 12345, "ep_12345", ""},
		{"negative", -1, "", settle.InvalidEpisode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scene.CanonicalEpisodeInt(tt.in)
			wantCode(t, err, tt.code)
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
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
			err := scene.ValidateBatchID(tt.in)
			if tt.batchOK {
				wantCode(t, err, "")
			} else {
				wantCode(t, err, settle.InvalidInput)
			}
			err = scene.ValidateProject(tt.in)
			if tt.pOK {
				wantCode(t, err, "")
			} else {
				wantCode(t, err, settle.InvalidInput)
			}
		})
	}
}

func TestFileNames(t *testing.T) {
	if got := scene.FlatName("ep_001", "B"); got != "ep_001_B.json" {
		t.Errorf("FlatName = %q", got)
	}
	if got := scene.VersionName("ep_001", "B", 7); got != "ep_001_B.v007.json" {
		t.Errorf("VersionName = %q", got)
	}
	if got := scene.VersionName("ep_001", "B", 1234); got != "ep_001_B.v1234.json" {
		t.Errorf("VersionName wide = %q", got)
	}
	if got := scene.ManifestName("ep_001", "B"); got != "ep_001_B.versions.json" {
		t.Errorf("ManifestName = %q", got)
	}
	if got := scene.LockName("ep_001", "B"); got != "ep_001_B.versions.lock" {
		t.Errorf("LockName = %q", got)
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
			err := scene.CheckArtifact(tt.in)
			if tt.ok {
				wantCode(t, err, "")
			} else {
				wantCode(t, err, settle.UnsafeArtifact)
			}
		})
	}
}
