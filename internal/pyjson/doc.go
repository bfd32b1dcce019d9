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
package pyjson
