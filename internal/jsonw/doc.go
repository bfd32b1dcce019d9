// Package jsonw appends JSON to byte slices without reflection, byte for
// byte as encoding/json writes it (json.Marshal's string escaping, HTML
// escaping included), for the few documents the server writes on every
// request. Tests compare every appender with json.Marshal.
package jsonw
