package file

import (
	"encoding/json"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/settlehq/settle/event"
	"github.com/settlehq/settle/internal/testenv"
)

// TestEventLineIsMarshal: an event line is json.Marshal of the event, for
// types and keys holding every character encoding/json escapes.
func TestEventLineIsMarshal(t *testing.T) {
	rng := rand.New(rand.NewSource(testenv.Seed(t)))
	pieces := []string{"a", "Z", ".", ":", "é", "日本", "😀", "\u2028", "<", ">", "&", "\"", "\\", "\n", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "\xff", "\xc3"}
	str := func() string {
		var b strings.Builder
		for range rng.Intn(8) {
			b.WriteString(pieces[rng.Intn(len(pieces))])
		}
		return b.String()
	}
	for i := range 5000 {
		ev := event.Event{ID: rng.Int63n(1 << 40), Type: str(), Key: str(),
			Time: time.Unix(rng.Int63n(1<<32), rng.Int63n(1e9)).UTC(), Data: json.RawMessage(`{"i":` + strconv.Itoa(i) + `}`)}
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := encodeEventLine(ev); string(got) != string(want) {
			t.Fatalf("%#v:\ngot  %s\nwant %s", ev, got, want)
		}
	}
}
