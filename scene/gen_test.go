package scene_test

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
)

// gen writes random JSON texts the way hand-edited and foreign-tool files
// look: any key order, duplicate keys, random whitespace, characters raw or
// \u-escaped, number literals in every form Python reads.
type gen struct {
	r *rand.Rand
}

func newGen(seed uint64) *gen { return &gen{r: rand.New(rand.NewPCG(seed, 0x5ce4e))} }

func (g *gen) intn(n int) int        { return g.r.IntN(n) }
func (g *gen) chance(p float64) bool { return g.r.Float64() < p }
func pick[T any](g *gen, xs ...T) T  { return xs[g.intn(len(xs))] }

// runePools are the scripts strings are drawn from; surrogates are lone.
var runePools = [][2]rune{
	{'a', 'z'}, {'A', 'Z'}, {'0', '9'}, {' ', '~'},
	{0x00, 0x1F}, {0x7F, 0x9F}, {0xA0, 0xFF}, // controls, C1, Latin-1
	{0x391, 0x3C9}, {0x410, 0x44F}, {0x5D0, 0x5EA}, {0x627, 0x64A}, // Greek, Cyrillic, Hebrew, Arabic
	{0x905, 0x939}, {0xE01, 0xE2E}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}, // Devanagari, Thai, CJK, Hangul
	{0x1F300, 0x1FAFF}, {0x1F1E6, 0x1F1FF}, {0x10000, 0x10FFFF}, // emoji, flags, astral
	{0x300, 0x36F}, {0x2028, 0x2029}, {0xFEFF, 0xFEFF}, {0xFFF0, 0xFFFF}, {0x200B, 0x200D}, {0x85, 0x85},
	{0xD800, 0xDFFF}, // lone surrogates (written as escapes)
}

func (g *gen) randRune() rune {
	p := runePools[g.intn(len(runePools))]
	if g.chance(0.35) {
		p = runePools[g.intn(4)] // mostly ASCII
	}
	return p[0] + rune(g.intn(int(p[1]-p[0])+1))
}

func (g *gen) text(maxLen int) []rune {
	n := g.intn(maxLen + 1)
	rs := make([]rune, n)
	for i := range rs {
		rs[i] = g.randRune()
	}
	return rs
}

func hex4(b *strings.Builder, r rune, upper bool) {
	if upper {
		fmt.Fprintf(b, `\u%04X`, r)
	} else {
		fmt.Fprintf(b, `\u%04x`, r)
	}
}

// lit writes rs as a JSON string literal, each character raw or escaped.
func (g *gen) lit(rs []rune) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range rs {
		esc := g.chance(0.3)
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '/' && esc:
			b.WriteString(`\/`)
		case r < 0x20:
			short := map[rune]string{'\n': `\n`, '\t': `\t`, '\r': `\r`, '\b': `\b`, '\f': `\f`}[r]
			if short != "" && g.chance(0.6) {
				b.WriteString(short)
			} else {
				hex4(&b, r, g.chance(0.5))
			}
		case r >= 0xD800 && r <= 0xDFFF:
			hex4(&b, r, g.chance(0.5))
		case esc && r >= 0x10000:
			r -= 0x10000
			up := g.chance(0.5)
			hex4(&b, 0xD800|(r>>10), up)
			hex4(&b, 0xDC00|(r&0x3FF), up)
		case esc:
			hex4(&b, r, g.chance(0.5))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func (g *gen) str(s string) string { return g.lit([]rune(s)) }

func (g *gen) ws() string {
	if g.chance(0.6) {
		return ""
	}
	return pick(g, " ", "\n", "\n  ", "\t", "\r\n", "  ")
}

func (g *gen) digits(n int) string {
	var b strings.Builder
	for i := range n {
		d := g.intn(10)
		if i == 0 && n > 1 && d == 0 {
			d = 1
		}
		b.WriteByte(byte('0' + d))
	}
	return b.String()
}

// number is a number literal: small and huge ints, floats across the
// exponent range, subnormals, -0.0, overflow to infinity, NaN, Infinity.
func (g *gen) number() string {
	sign := ""
	if g.chance(0.3) {
		sign = "-"
	}
	switch g.intn(12) {
	case 0, 1:
		return sign + fmt.Sprint(g.intn(20))
	case 2:
		return sign + g.digits(19+g.intn(45)) // past 2^64
	case 3:
		return pick(g, "1e-07", "1e+21", "1e21", "1E+21", "1e16", "1e-5", "0.0001", "1.0", "100.0e-2", "0.1", "2.5", "1e22", "123456789012345678.0", "9007199254740993.0")
	case 4:
		return sign + pick(g, "0.0", "0e0", "0E-5")
	case 5:
		return pick(g, "5e-324", "4.9406564584124654e-324", "2.2250738585072014e-308", "2.2250738585072009e-308", "1.7976931348623157e308", "1e-320", "-1e-310")
	case 6:
		return pick(g, "1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1e309")
	case 7:
		return sign + g.digits(1+g.intn(25)) + "." + g.digits(1+g.intn(25)) + pick(g, "e", "E") + pick(g, "", "+", "-") + fmt.Sprint(g.intn(330))
	case 8:
		return sign + g.digits(1+g.intn(17)) + "e" + fmt.Sprint(g.intn(310)-300)
	case 9:
		return sign + "0." + g.digits(1+g.intn(20))
	default:
		return sign + g.digits(1+g.intn(8)) + "." + g.digits(1+g.intn(6))
	}
}

type member struct{ k, v string } // k and v are JSON texts

func (g *gen) object(ms []member, shuffle bool) string {
	if shuffle && g.chance(0.5) {
		g.r.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	}
	var b strings.Builder
	b.WriteString("{" + g.ws())
	for i, m := range ms {
		if i > 0 {
			b.WriteString(g.ws() + "," + g.ws())
		}
		b.WriteString(m.k + g.ws() + ":" + g.ws() + m.v)
	}
	b.WriteString(g.ws() + "}")
	return b.String()
}

func (g *gen) array(items []string) string {
	return "[" + g.ws() + strings.Join(items, g.ws()+","+g.ws()) + g.ws() + "]"
}

var keyPool = append(append([]string{"id", "shot_id", "prompt", "camera", "duration", "is_env_only", "aspect_ratio", "raw",
	"inputs_fingerprint", "reroll_cleared_stale", "note", "", "beat_id", "takes", "Z", "a", "é", "键", "🎬", "\u2028"},
	scene.StructuralBeatMetadataKeys...), "take_id", "status")

func (g *gen) key() string {
	if g.chance(0.6) {
		return g.str(pick(g, keyPool...))
	}
	return g.lit(g.text(8))
}

// value is any JSON value nested up to depth.
func (g *gen) value(depth int) string {
	k := g.intn(10)
	if depth <= 0 && k >= 7 {
		k = g.intn(7)
	}
	switch k {
	case 0:
		return pick(g, "null", "true", "false")
	case 1, 2:
		return g.number()
	case 3, 4, 5, 6:
		return g.lit(g.text(12))
	case 7, 8:
		n := g.intn(5)
		ms := make([]member, n)
		for i := range ms {
			ms[i] = member{g.key(), g.value(depth - 1)}
		}
		if n > 1 && g.chance(0.1) { // duplicate key: first position, last value
			ms = append(ms, member{ms[0].k, g.value(depth - 1)})
		}
		return g.object(ms, false)
	default:
		n := g.intn(5)
		items := make([]string, n)
		for i := range items {
			items[i] = g.value(depth - 1)
		}
		return g.array(items)
	}
}

// deep nests a value depth levels down in objects and arrays.
func (g *gen) deep(depth int) string {
	v := g.value(0)
	for range depth {
		if g.chance(0.5) {
			v = g.object([]member{{g.key(), v}}, false)
		} else {
			v = g.array([]string{v})
		}
	}
	return v
}

func (g *gen) shot(variant bool) string {
	var ms []member
	if g.chance(0.7) {
		ms = append(ms, member{g.str(pick(g, "id", "shot_id")), g.lit(g.text(6))})
	}
	ms = append(ms, member{g.str("prompt"), g.lit(g.text(20))})
	if g.chance(0.5) {
		ms = append(ms, member{g.str("duration"), g.number()})
	}
	if g.chance(0.3) {
		ms = append(ms, member{g.str("camera"), g.value(2)})
	}
	if variant {
		for _, k := range []string{"is_env_only", "aspect_ratio", "raw"} {
			if g.chance(0.5) {
				ms = append(ms, member{g.str(k), g.value(1)})
			}
		}
	}
	for range g.intn(2) {
		ms = append(ms, member{g.key(), g.value(2)})
	}
	return g.object(ms, true)
}

func (g *gen) structuralValue(key string) string {
	switch key {
	case "plan_shot", "shot":
		if g.chance(0.85) {
			return g.shot(true)
		}
	case "batch_shots":
		if g.chance(0.85) {
			items := make([]string, g.intn(4))
			for i := range items {
				if g.chance(0.8) {
					items[i] = g.shot(true)
				} else {
					items[i] = g.value(1)
				}
			}
			return g.array(items)
		}
	}
	if g.chance(0.05) {
		return g.deep(10 + g.intn(40))
	}
	return g.value(3)
}

// beatMetadata: missing, falsy, or an object of structural and other keys.
// odd adds shapes the model refuses (list, str, number, true).
func (g *gen) beatMetadata(odd bool) (string, bool) {
	if odd && g.chance(0.5) {
		sk := scene.StructuralBeatMetadataKeys[g.intn(len(scene.StructuralBeatMetadataKeys))]
		return pick(g,
			g.array([]string{g.str("note"), g.number()}),
			g.array([]string{g.str(sk)}),
			g.str("plain words"),
			g.str("has "+sk+" inside"),
			"5", "true", "-1.5"), true
	}
	switch g.intn(10) {
	case 0:
		return "", false
	case 1:
		return pick(g, "null", "{}", "false", "0", `""`, "[]", "0.0"), true
	}
	var ms []member
	for _, k := range scene.StructuralBeatMetadataKeys {
		if g.chance(0.4) {
			ms = append(ms, member{g.str(k), g.structuralValue(k)})
		}
	}
	for _, k := range []string{"inputs_fingerprint", "reroll_cleared_stale", "note"} {
		if g.chance(0.3) {
			ms = append(ms, member{g.str(k), g.value(1)})
		}
	}
	if len(ms) > 1 && g.chance(0.08) {
		ms = append(ms, member{ms[0].k, g.structuralValue("grouping")})
	}
	return g.object(ms, true), true
}

func (g *gen) optString() string {
	return pick(g, "null", g.lit(g.text(10)), g.str("2026-01-02T03:04:05.123456+00:00"))
}

func (g *gen) extras(ms []member, known map[string]bool) []member {
	for range 1 + g.intn(3) {
		k := pick(g, "zz_extra", "_v", "note", "x-custom", "\u00e9t\u00e9", "🎬")
		if !known[k] {
			ms = append(ms, member{g.str(k), g.value(3)})
		}
	}
	return ms
}

var (
	knownScene = map[string]bool{"scene_id": true, "beats": true, "scene_metadata": true, "locked": true, "lock_reason": true, "schema_version": true}
	knownBeat  = map[string]bool{"beat_id": true, "max_takes": true, "beat_metadata": true, "takes": true, "primary_take_id": true, "phantom_recovery_count": true, "board": true, "approved": true}
	knownTake  = map[string]bool{"take_id": true, "status": true, "created_at": true, "started_at": true, "finished_at": true, "artifact_path": true, "receipt": true, "error": true}
)

func (g *gen) take(extras bool) string {
	ms := []member{{g.str("take_id"), g.lit(g.text(8))}}
	if g.chance(0.8) {
		ms = append(ms, member{g.str("status"), g.str(pick(g, "pending", "running", "succeeded", "failed", "stale", "weird"))})
	}
	for _, k := range []string{"created_at", "started_at", "finished_at", "artifact_path", "error"} {
		if g.chance(0.6) {
			ms = append(ms, member{g.str(k), g.optString()})
		}
	}
	if g.chance(0.6) {
		if g.chance(0.3) {
			ms = append(ms, member{g.str("receipt"), "null"})
		} else {
			ms = append(ms, member{g.str("receipt"), g.object([]member{{g.str("job"), g.lit(g.text(8))}, {g.str("cost"), g.number()}, {g.key(), g.value(3)}}, true)})
		}
	}
	if extras {
		ms = g.extras(ms, knownTake)
	}
	return g.object(ms, true)
}

func (g *gen) beat(extras, odd bool) string {
	if odd && g.chance(0.05) {
		return pick(g, "1", g.str("beat"), "[]", "null")
	}
	var ms []member
	switch {
	case odd && g.chance(0.3):
		if v := pick(g, "1", "null", "2.0", "NaN", "true", ""); v != "" {
			ms = append(ms, member{g.str("beat_id"), v})
		}
	default:
		ms = append(ms, member{g.str("beat_id"), g.lit(g.text(6))})
	}
	if g.chance(0.7) {
		ms = append(ms, member{g.str("max_takes"), pick(g, "3", "5", "3.0", "1e1", "0")})
	}
	if md, ok := g.beatMetadata(odd); ok {
		ms = append(ms, member{g.str("beat_metadata"), md})
	}
	if g.chance(0.8) {
		takes := make([]string, g.intn(4))
		for i := range takes {
			takes[i] = g.take(extras)
		}
		ms = append(ms, member{g.str("takes"), g.array(takes)})
	}
	if g.chance(0.5) {
		ms = append(ms, member{g.str("primary_take_id"), pick(g, "null", g.lit(g.text(8)))})
	}
	if g.chance(0.5) {
		ms = append(ms, member{g.str("phantom_recovery_count"), pick(g, "0", "2", "1.0")})
	}
	if g.chance(0.5) {
		ms = append(ms, member{g.str("board"), pick(g, "null", g.object([]member{{g.str("state"), g.str("open")}, {g.key(), g.value(2)}}, true))})
	}
	if g.chance(0.5) {
		ms = append(ms, member{g.str("approved"), pick(g, "true", "false")})
	}
	if extras {
		ms = g.extras(ms, knownBeat)
	}
	g.r.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	if len(ms) > 1 && g.chance(0.05) {
		// A duplicated known key: the seed keeps the first position and
		// the last value.
		ms = append([]member{{ms[0].k, g.value(1)}}, ms...)
	}
	return g.object(ms, false)
}

// scene is a body. extras adds unknown members at every level; odd makes
// shapes the seed accepts or crashes on but the model refuses.
func (g *gen) scene(extras, odd bool) string {
	ms := []member{{g.str("schema_version"), pick(g, "1", "1", "1", "1.0", "true", "1E0")}}
	switch {
	case odd && g.chance(0.2):
		if v := pick(g, "7", "null", "1.5", ""); v != "" {
			ms = append(ms, member{g.str("scene_id"), v})
		}
	default:
		ms = append(ms, member{g.str("scene_id"), g.lit(g.text(10))})
	}
	switch {
	case odd && g.chance(0.15):
		ms = append(ms, member{g.str("beats"), pick(g, g.str("ab"), `{"a":1}`, "5", `""`, "{}", "0")})
	case g.chance(0.1):
		if v := pick(g, "null", "[]", ""); v != "" {
			ms = append(ms, member{g.str("beats"), v})
		}
	default:
		n := g.intn(9)
		if g.chance(0.03) {
			n = 40 + g.intn(40)
		}
		beats := make([]string, n)
		for i := range beats {
			beats[i] = g.beat(extras, odd)
		}
		ms = append(ms, member{g.str("beats"), g.array(beats)})
	}
	if g.chance(0.7) {
		ms = append(ms, member{g.str("scene_metadata"), pick(g, "null", "{}", g.object([]member{{g.str("episode"), g.str("1")}, {g.str("project"), g.lit(g.text(6))}}, true))})
	}
	if g.chance(0.5) {
		ms = append(ms, member{g.str("locked"), pick(g, "true", "false")})
	}
	if g.chance(0.5) {
		ms = append(ms, member{g.str("lock_reason"), pick(g, "null", g.lit(g.text(10)))})
	}
	if extras {
		ms = g.extras(ms, knownScene)
	}
	return g.ws() + g.object(ms, true) + g.ws()
}

// parseTree parses a generated text into a tree (test helper, panics on
// the generator's own bugs).
func parseTree(text string) any {
	v, err := pyjson.Parse([]byte(text))
	if err != nil {
		panic(fmt.Sprintf("generator wrote invalid JSON: %v\n%s", err, text))
	}
	return v
}
