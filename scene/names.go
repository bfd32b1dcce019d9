package scene

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
)

// File name suffixes of a batch's files in the scenes directory.
const (
	flatSuffix     = ".json"
	manifestSuffix = ".versions.json"
	lockSuffix     = ".versions.lock"
)

// decimalValue returns the value of r if it is a decimal digit (category Nd)
// in Python 3.11's Unicode database, else -1.
func decimalValue(r rune) int {
	lo, hi := 0, len(pyDecimal)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case r < pyDecimal[m][0]:
			hi = m
		case r > pyDecimal[m][1]:
			lo = m + 1
		default:
			return int(r-pyDecimal[m][0]) % 10
		}
	}
	return -1
}

// isDecimal reports Python's str.isdecimal() for a non-empty s.
func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if decimalValue(r) < 0 {
			return false
		}
	}
	return true
}

// CanonicalEpisode is the seed's _canonical_episode_token for a string: the
// token is stripped of Python whitespace; "ep_" followed by three or more
// decimal digits passes through unchanged; a token of decimal digits only
// is read as an int (any script's digits, as Python's int() does) and
// written "ep_%03d" (every digit kept, however large). Anything else is
// InvalidEpisode, and so is a number of more than 4300 digits, which
// Python 3.11's int() refuses.
//
// "Decimal digit" is category Nd of Python 3.11's Unicode database
// (Unicode 14.0), not Go's newer one, so exactly the seed's tokens pass.
func CanonicalEpisode(ep string) (string, error) {
	token := pyjson.Strip(ep)
	if rest, ok := strings.CutPrefix(token, "ep_"); ok && utf8.RuneCountInString(rest) >= 3 && isDecimal(rest) {
		return token, nil
	}
	if isDecimal(token) {
		if utf8.RuneCountInString(token) > pyjson.MaxIntDigits {
			return "", settle.Errorf(settle.InvalidEpisode,
				"episode token of %d digits: Python's int() refuses more than %d", utf8.RuneCountInString(token), pyjson.MaxIntDigits)
		}
		digits := make([]byte, 0, len(token))
		for _, r := range token {
			d := byte(decimalValue(r))
			if len(digits) == 0 && d == 0 {
				continue // leading zero
			}
			digits = append(digits, '0'+d)
		}
		for len(digits) < 3 {
			digits = append([]byte{'0'}, digits...)
		}
		return "ep_" + string(digits), nil
	}
	shown := pyjson.Repr(ep)
	if r := []rune(shown); len(r) > 80 {
		shown = string(r[:80]) + "..."
	}
	return "", settle.Errorf(settle.InvalidEpisode,
		"non-canonical episode token %s: expected an int or 'ep_NNN'", shown)
}

// CanonicalEpisodeInt is _canonical_episode_token for an int: "ep_%03d";
// a negative episode is InvalidEpisode.
func CanonicalEpisodeInt(n int) (string, error) {
	if n < 0 {
		return "", settle.Errorf(settle.InvalidEpisode,
			"negative episode %d: episodes are non-negative", n)
	}
	return fmt.Sprintf("ep_%03d", n), nil
}

// ValidateProject refuses a project name that is not one safe directory
// name under settle.CheckName (InvalidInput naming project). The seed builds
// paths from the name blindly.
func ValidateProject(p string) error { return settle.CheckName("project", p) }

// ValidateBatchID refuses a batch id that cannot name a batch's files
// safely (InvalidInput naming batch_id): what settle.CheckName refuses, and ids
// whose flat body name would read as another batch's sidecar: ending in
// ".versions" (the flat body would be batch X's manifest) or in ".v" and
// decimal digits (a version body of batch X). The seed builds such names
// blindly and then never lists them.
func ValidateBatchID(b string) error {
	if err := settle.CheckName("batch_id", b); err != nil {
		return err
	}
	if strings.HasSuffix(b, ".versions") || hasVersionSuffix(b) {
		return settle.Errorf(settle.InvalidInput,
			"batch_id %q: would name another batch's versioning sidecar", b)
	}
	return nil
}

// CheckEpisodeToken refuses a canonical episode token longer than
// settle.MaxEpisodeBytes: the seed accepts any number of digits, but the
// token is part of every file name of the batch (InvalidInput naming episode).
func CheckEpisodeToken(token string) error {
	if len(token) > settle.MaxEpisodeBytes {
		return settle.Errorf(settle.InvalidInput, "episode: token of %d bytes, longer than %d", len(token), settle.MaxEpisodeBytes)
	}
	return nil
}

// hasVersionSuffix reports whether s ends in ".v" and one or more decimal
// digits (the seed's `\.v\d+` before ".json").
func hasVersionSuffix(s string) bool {
	i := len(s)
	n := 0
	for i > 0 {
		r, size := utf8.DecodeLastRuneInString(s[:i])
		if decimalValue(r) < 0 {
			break
		}
		i -= size
		n++
	}
	return n > 0 && strings.HasSuffix(s[:i], ".v")
}

// FlatName is the flat body's basename "<token>_<batch>.json" (the seed's
// scene_path). token must be canonical (CanonicalEpisode).
func FlatName(token, batch string) string { return token + "_" + batch + flatSuffix }

// VersionName is a versioned body's basename "<token>_<batch>.v%03d.json"
// (scene_version_path).
func VersionName(token, batch string, v int) string {
	return fmt.Sprintf("%s_%s.v%03d.json", token, batch, v)
}

// ManifestName is the versions manifest's basename
// "<token>_<batch>.versions.json" (scene_manifest_path).
func ManifestName(token, batch string) string { return token + "_" + batch + manifestSuffix }

// LockName is the batch lock's basename "<token>_<batch>.versions.lock"
// (the manifest path with its suffix replaced by ".lock").
func LockName(token, batch string) string { return token + "_" + batch + lockSuffix }

// IsListedScene is list_scenes' filter on a basename in the scenes
// directory: it starts with "<token>_", its suffix is ".json", and it is
// neither a manifest (".versions.json") nor a version body (".v<digits>.json").
// (The caller checks that it is a regular file.)
func IsListedScene(name, token string) bool {
	if !strings.HasPrefix(name, token+"_") || !strings.HasSuffix(name, flatSuffix) {
		return false
	}
	// pathlib's suffix is empty when the only dot starts the name.
	if strings.LastIndexByte(name, '.') <= 0 {
		return false
	}
	if strings.HasSuffix(name, manifestSuffix) {
		return false
	}
	return !hasVersionSuffix(strings.TrimSuffix(name, flatSuffix))
}

// CheckArtifact is manifest_artifact_path's check on a manifest entry's
// artifact: it must be a bare basename, not empty and without '/', '\\',
// "..", NUL, and not "." (UnsafeArtifact).
func CheckArtifact(artifact string) error {
	if artifact == "" || artifact == "." || strings.ContainsAny(artifact, "/\\\x00") || strings.Contains(artifact, "..") {
		return settle.Errorf(settle.UnsafeArtifact,
			"unsafe manifest artifact %s: must be a bare basename (no path separator or '..')", pyjson.Repr(artifact))
	}
	return nil
}

// ListedScenes is list_scenes on a scenes directory's names: those
// IsListedScene keeps for token and, if isFile is not nil, isFile accepts
// (the seed's is_file()), sorted; never nil.
func ListedScenes(names []string, token string, isFile func(name string) bool) []string {
	out := []string{}
	for _, name := range names {
		if IsListedScene(name, token) && (isFile == nil || isFile(name)) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// itoa formats an int for messages.
func itoa(n int) string { return strconv.Itoa(n) }

// ParseBatchName reads a batch's canonical episode token and batch id from
// the name of its flat body or manifest in a scenes directory; ok is false
// for any other name (a version body, a lock, a temporary file) and for a
// token or batch id that ResolveBatch would refuse.
func ParseBatchName(name string) (token, batch string, ok bool) {
	var prefix string
	switch {
	case strings.HasSuffix(name, manifestSuffix):
		prefix = strings.TrimSuffix(name, manifestSuffix)
	case strings.HasSuffix(name, flatSuffix) && !hasVersionSuffix(strings.TrimSuffix(name, flatSuffix)):
		prefix = strings.TrimSuffix(name, flatSuffix)
	default:
		return "", "", false
	}
	if !strings.HasPrefix(prefix, "ep_") {
		return "", "", false
	}
	i := strings.IndexByte(prefix[3:], '_')
	if i < 0 {
		return "", "", false
	}
	token, batch = prefix[:3+i], prefix[3+i+1:]
	if CheckEpisodeToken(token) != nil || ValidateBatchID(batch) != nil {
		return "", "", false
	}
	if c, err := CanonicalEpisode(token); err != nil || c != token {
		return "", "", false
	}
	return token, batch, true
}
