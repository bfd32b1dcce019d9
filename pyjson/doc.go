// Package pyjson reads and writes JSON exactly as CPython's json module does,
// so that settle's files and hashes are byte-compatible with the Python seed
// modules and the tools that read the same workspace.
//
// A decoded document is a tree of these Go values:
//
//	nil        JSON null            (Python None)
//	bool       true / false         (Python bool)
//	Int        an integer literal   (Python int: every digit kept, any size)
//	float64    a number with a fraction or exponent, NaN, Infinity, -Infinity
//	string     a string; lone surrogates are kept as WTF-8 bytes
//	[]any      an array
//	*Object    an object: keys in first-insertion order, last value wins
//	           for a duplicated key (as Python's dict)
//
// Parse accepts what json.loads accepts (NaN, Infinity, -Infinity included)
// and refuses what it refuses. Encode prints what json.dumps prints for the
// chosen Options: floats as Python's repr (1.0, 1e-07, 1e+21, -0.0),
// integers with every digit, \uXXXX escapes with surrogate pairs when
// EnsureASCII is set, and never HTML escaping.
//
// The Python recipes settle reproduces map to Options as follows:
//
//	json.dumps(v)                                    {Indent: -1, EnsureASCII: true}
//	json.dumps(v, indent=2)                          {Indent: 2, EnsureASCII: true}
//	json.dumps(v, sort_keys=True, separators=(",", ":"))
//	                                                 {Indent: -1, EnsureASCII: true, SortKeys: true, ItemSep: ",", KeySep: ":"}
//	json.dumps(v, ensure_ascii=False, sort_keys=True) {Indent: -1, SortKeys: true}
//
// (The zero Options is json.dumps(v, indent=0, ensure_ascii=False), which is
// rarely what is wanted: set Indent and EnsureASCII explicitly.)
//
// Python reads files with read_text, which also turns "\r\n" and "\r" into
// "\n" before json.loads sees them; that changes nothing that Parse accepts
// or returns (a raw CR or LF inside a string is refused either way), only the
// positions in error messages.
//
// Differences from CPython, all outside what settle's files contain: Parse
// accepts nesting up to MaxDepth (CPython stops near 1000), and Equal does
// not reproduce object identity except for the NaN singleton json.loads
// shares between "NaN" literals.
//
// Helpers reproduce the Python operations the seed modules apply to decoded
// values, and settle's other packages use these and no others: Equal (==,
// the one equality), SameKey and Hashable (dict keys and list members, where
// the NaN json.loads shares is one object), Str (str()), Repr (repr()),
// Truthy (bool()), IsSpace, Strip and Fields (str.isspace, str.strip(),
// str.split()), DeepCopy (copy.deepcopy). FromGo converts ordinary Go values;
// *Object and Int implement json.Marshaler and json.Unmarshaler for use
// inside encoding/json structs.
//
// AppendFloat, AppendU4, AppendEscapedASCII and SimpleEscape are the pieces
// of Encode and Parse that a hand-written codec needs to stay byte-identical
// with them (settle's ledger lines are encoded and scanned that way); most
// programs need only Parse and Encode.
//
// The differential tests run testdata/pyjson_driver.py under python3 (3.11)
// and skip loudly without it (they fail under CI=true). TestCorpusDocuments
// replays CPython's recorded answers (testdata/corpus) with no Python.
package pyjson
