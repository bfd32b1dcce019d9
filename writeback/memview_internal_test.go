package writeback

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestMemViewHashedKeys checks the view's hashed maps against a linear
// scan of the records, with real hashes and with every key hashing alike
// (so that every lookup has to tell keys apart by their fields).
func TestMemViewHashedKeys(t *testing.T) {
	pick := func(r *rand.Rand, xs ...string) string { return xs[r.IntN(len(xs))] }
	for _, collide := range []bool{false, true} {
		t.Run(fmt.Sprintf("collide=%v", collide), func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, uint64(len(fmt.Sprint(collide)))))
			v := NewMemView()
			v.collide = collide
			var durables []*DurableRecord
			var registries []*RegistryRecord
			tasks := []string{"", "t1", "t2", "t3"}
			tracks := []string{"", "T1", "T2"}
			batches := []string{"", "B1", "B2"}
			wids := []string{"", "w1", "w2", "w3"}
			for seq := int64(0); seq < 600; seq++ {
				if r.IntN(3) == 0 {
					g := &RegistryRecord{Schema: RegistrySchema, TaskID: pick(r, tasks...), Status: pick(r, StatusCompleted, StatusRegistered)}
					if r.IntN(2) == 0 {
						fb := "fb"
						g.FallbackCallbackCronID = &fb
					}
					registries = append(registries, g)
					v.Add(LedgerRecord{Seq: seq, Kind: KindRegistry, Registry: g})
					continue
				}
				d := &DurableRecord{
					Schema: DurableSchema, TaskID: pick(r, tasks...), TrackID: pick(r, tracks...),
					DispatchID: pick(r, "", "d1"), CollectorKey: pick(r, "", "k1"), BatchID: pick(r, batches...),
					AuthoritativeVerdict:    pick(r, "PASS", "AUTHORITATIVE_PASS"),
					WritebackClassification: pick(r, DurableSuccessWritten, WritebackBindingConflict),
					WritebackID:             pick(r, wids...),
				}
				durables = append(durables, d)
				v.Add(LedgerRecord{Seq: seq, Kind: KindDurable, Durable: d})
			}
			scan := func(keep func(*DurableRecord) bool) []*DurableRecord {
				var out []*DurableRecord
				for _, d := range durables {
					if keep(d) {
						out = append(out, d)
					}
				}
				return out
			}
			recs := func(ixs []Indexed) []*DurableRecord {
				var out []*DurableRecord
				last := int64(-1)
				for _, ix := range ixs {
					if ix.Seq <= last {
						t.Fatalf("out of ledger order: %+v", ixs)
					}
					last = ix.Seq
					out = append(out, ix.Rec)
				}
				return out
			}
			for _, w := range append(wids, "w9") {
				want := scan(func(d *DurableRecord) bool { return w != "" && d.WritebackID == w })
				if got := recs(v.DurableByWritebackID(w)); !reflect.DeepEqual(got, want) {
					t.Errorf("DurableByWritebackID(%q): %d records, want %d", w, len(got), len(want))
				}
			}
			for _, task := range append(tasks, "t9") {
				for _, track := range tracks {
					for _, batch := range batches {
						for _, disp := range []string{"", "d1"} {
							for _, key := range []string{"", "k1"} {
								k := IdentityKey{TaskID: task, TrackID: track, DispatchID: disp, CollectorKey: key, BatchID: batch}
								want := scan(func(d *DurableRecord) bool { return d.Identity() == k })
								if got := recs(v.DurableByIdentity(k)); !reflect.DeepEqual(got, want) {
									t.Errorf("DurableByIdentity(%+v): %d records, want %d", k, len(got), len(want))
								}
							}
						}
					}
				}
			}
			pairs := map[[2]string]bool{}
			for _, batch := range append(batches, "B9") {
				for _, track := range append(tracks, "T9") {
					var want *DurableRecord
					for _, d := range durables {
						if d.WritebackClassification == DurableSuccessWritten && d.BatchID == batch && d.TrackID == track {
							want = d
							pairs[[2]string{batch, track}] = true
						}
					}
					if got := v.Latest(batch, track); got != want {
						t.Errorf("Latest(%q, %q) = %p, want %p", batch, track, got, want)
					}
				}
			}
			taskSet := map[string]bool{}
			for _, task := range append(tasks, "t9") {
				var want []RegistryRecord
				for _, g := range registries {
					if g.TaskID == task {
						want = append(want, *g)
						taskSet[task] = true
					}
				}
				got := v.RegistryHistory(task)
				if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
					t.Errorf("RegistryHistory(%q): %d records, want %d", task, len(got), len(want))
				}
			}
			st := v.Stats()
			if st.Tasks != len(taskSet) || st.Tracks != len(pairs) || st.Durable != int64(len(durables)) || st.Registry != int64(len(registries)) {
				t.Errorf("stats %+v, want %d tasks, %d tracks", st, len(taskSet), len(pairs))
			}
		})
	}
}
