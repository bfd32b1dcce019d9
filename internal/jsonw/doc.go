// Package jsonw appends the bytes encoding/json's Marshal gives for the
// few value kinds settle's hot answers are made of (strings, booleans,
// integers, null), without reflection: a write-back's decision answer and
// its event data are encoded per request, and json.Marshal's reflection
// was a measurable part of a write-back's CPU. The encoders built on it
// are checked against json.Marshal by differential tests.
package jsonw
