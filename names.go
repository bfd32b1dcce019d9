package settle

import (
	"strings"
	"unicode/utf8"
)

// MaxNameBytes is the longest name, in bytes, that CheckName accepts. A
// name becomes part of a file name: the longest settle derives is a scene
// version body's temporary file,
// "<episode>_<batch>.v<version>.json.tmp-<pid>-<12 hex>", which with an
// episode token of MaxEpisodeBytes, a version of up to 9 digits and a pid
// of up to 7 digits stays under NAME_MAX (255 bytes on every common
// filesystem): 32 + 1 + 128 + 2 + 9 + 5 + 25 = 202.
const MaxNameBytes = 128

// MaxEpisodeBytes is the longest canonical episode token ("ep_" and its
// digits) that fits a file name beside a batch id of MaxNameBytes.
const MaxEpisodeBytes = 32

// tmpMarker is the infix of the durable writer's temporary files
// (internal/durable.TmpMarker); a name holding it would be taken for one.
const tmpMarker = ".tmp-"

// CheckName is the one rule for a name settle turns into a file or
// directory name (a batch id, a project, a plan's sequence id), whatever
// the store, command or route. A name must be valid UTF-8, non-empty, at
// most MaxNameBytes bytes, not "." or "..", and hold no '/', '\\', NUL or
// ".tmp-". field names the refused input in the error (InvalidInput).
func CheckName(field, name string) error {
	switch {
	case name == "":
		return Errorf(InvalidInput, "%s: empty", field)
	case len(name) > MaxNameBytes:
		return Errorf(InvalidInput, "%s: %d bytes, longer than %d", field, len(name), MaxNameBytes)
	case !utf8.ValidString(name):
		return Errorf(InvalidInput, "%s %q: not valid UTF-8", field, name)
	case name == "." || name == "..":
		return Errorf(InvalidInput, "%s %q: not a name", field, name)
	case strings.ContainsAny(name, "/\\\x00"):
		return Errorf(InvalidInput, "%s %q: contains a path separator or NUL", field, name)
	case strings.Contains(name, tmpMarker):
		return Errorf(InvalidInput, "%s %q: contains %q, the mark of a temporary file", field, name, tmpMarker)
	}
	return nil
}
