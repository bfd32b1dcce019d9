package scene

import (
	"bytes"
	"sync"
)

// BodyCache keeps the decoded active bodies of a long-running process
// between its status writes, so that a write does not parse and
// fingerprint the body it wrote the time before. An entry is used only for
// exactly the bytes it was decoded from: the writer reads the body under
// the batch lock anyway (a body another tool replaced, in place or by
// rename, is a miss), and comparing bytes costs far less than decoding
// them. Safe for concurrent use.
type BodyCache struct {
	mu    sync.Mutex
	m     map[string]cachedBody
	bytes int
	max   int
}

type cachedBody struct {
	data  []byte
	sc    *Scene // the cache's own: never changed, never handed out
	fp    string
	beats []beatSpan // where each of sc's beats lies in data (nil: unknown)
}

// DefaultBodyCacheBytes bounds the bodies a BodyCache holds (their size on
// disk; the decoded scenes take a few times more).
const DefaultBodyCacheBytes = 16 << 20

// NewBodyCache returns a cache of at most maxBytes of bodies (<= 0:
// DefaultBodyCacheBytes). When full it is emptied: a body is cheap to
// decode again, and a server writes few batches at a time.
func NewBodyCache(maxBytes int) *BodyCache {
	if maxBytes <= 0 {
		maxBytes = DefaultBodyCacheBytes
	}
	return &BodyCache{m: map[string]cachedBody{}, max: maxBytes}
}

// get returns the cached entry decoded from data under key. Its scene
// must not be changed.
func (c *BodyCache) get(key string, data []byte) (cachedBody, bool) {
	if c == nil {
		return cachedBody{}, false
	}
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if !ok || !bytes.Equal(e.data, data) {
		return cachedBody{}, false
	}
	return e, true
}

// put remembers sc, which the cache then owns, as the decoding of data,
// whose beats lie at beats.
func (c *BodyCache) put(key string, data []byte, sc *Scene, fp string, beats []beatSpan) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forget(key)
	if len(data) > c.max {
		return
	}
	if c.bytes+len(data) > c.max {
		clear(c.m)
		c.bytes = 0
	}
	c.m[key] = cachedBody{data: data, sc: sc, fp: fp, beats: beats}
	c.bytes += len(data)
}

// drop forgets key.
func (c *BodyCache) drop(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forget(key)
}

// forget removes key's entry, if any. mu held.
func (c *BodyCache) forget(key string) {
	if old, ok := c.m[key]; ok {
		c.bytes -= len(old.data)
		delete(c.m, key)
	}
}

// sameStructure reports whether b's structural projection (the one
// Fingerprint hashes) is written exactly as a's: then their fingerprints
// are equal without encoding either. false may still be equal
// fingerprints (the caller computes them).
func sameStructure(a, b *Scene) bool {
	if a.SceneID != b.SceneID || len(a.Beats) != len(b.Beats) {
		return false
	}
	for i, ab := range a.Beats {
		bb := b.Beats[i]
		if ab.BeatID != bb.BeatID {
			return false
		}
		if ab.BeatMetadata == bb.BeatMetadata {
			continue
		}
		for _, k := range StructuralBeatMetadataKeys {
			av, aok := ab.BeatMetadata.Get(k)
			bv, bok := bb.BeatMetadata.Get(k)
			if aok != bok || (aok && !sameJSON(av, bv)) {
				return false
			}
		}
	}
	return true
}

// sameJSON reports whether a and b are the same JSON value as
// json.dumps(sort_keys=True) writes it: objects as sets of members (see
// jsonEqual).
func sameJSON(a, b any) bool { return jsonEqual(a, b, eqSorted) }
