// Package scene is the pure domain of settle's versioned scene store, a port
// of the seed module persistence.py: the Scene > Beat > Take models with
// their on-disk JSON names, canonical episode tokens and file names, the
// structure fingerprint (byte-identical to the seed's), the structure guard,
// the writer-1 overlay and JSON Patch status writes. Nothing here does I/O;
// package file and package postgres implement Store.
package scene
