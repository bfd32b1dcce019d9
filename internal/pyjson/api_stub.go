package pyjson

// THIS FILE IS A PLACEHOLDER: the implementation replaces it.

// Options selects the json.dumps flavour.
type Options struct {
	// Indent: <0 means no newlines (json.dumps indent=None); >=0 means
	// newline-and-indent with that many spaces (indent=0 gives newlines only).
	Indent int
	// SortKeys sorts object keys by code point (sort_keys=True).
	SortKeys bool
	// EnsureASCII escapes every non-ASCII character as \uXXXX, with
	// surrogate pairs beyond the BMP (ensure_ascii=True, Python's default).
	EnsureASCII bool
	// ItemSep and KeySep are the separators. Empty strings mean Python's
	// defaults: ", " and ": " without indent, "," and ": " with indent.
	ItemSep, KeySep string
	// EscapeLineSeps additionally escapes U+0085, U+2028 and U+2029 as
	// \uXXXX when EnsureASCII is false, so that Python's str.splitlines()
	// does not split a JSONL line inside a string. (Not a Python option.)
	EscapeLineSeps bool
}

// Parse decodes one JSON document as json.loads does (leading and trailing
// whitespace allowed, nothing else after the value).
func Parse(data []byte) (any, error) { panic("pyjson: not implemented") }

// Encode encodes v as json.dumps(v, ...) does with the given options.
// It returns an error for a value that is not of a pyjson type.
func Encode(v any, opt Options) ([]byte, error) { panic("pyjson: not implemented") }

// Equal reports Python equality (==) of two decoded values: numbers compare
// by value across Int, float64 and bool (True == 1 == 1.0), NaN equals
// nothing, objects compare as unordered dicts, arrays element-wise.
func Equal(a, b any) bool { panic("pyjson: not implemented") }

// Str returns Python's str(v) for a decoded value: strings as themselves,
// None, True, False, int digits, float repr, and Python's repr for lists and
// dicts ("[1, 'a']", "{'k': None}").
func Str(v any) string { panic("pyjson: not implemented") }

// Truthy reports Python truthiness: None, False, 0, 0.0, "", [], {} are false.
func Truthy(v any) bool { panic("pyjson: not implemented") }

// IsSpace reports whether r is whitespace for Python's str.strip/split.
func IsSpace(r rune) bool { panic("pyjson: not implemented") }

// Strip returns s without leading and trailing Python whitespace (str.strip()).
func Strip(s string) string { panic("pyjson: not implemented") }

// Fields splits s around runs of Python whitespace (str.split()).
func Fields(s string) []string { panic("pyjson: not implemented") }
