package file

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// TestDurableSinceSkipsOwn: DurableSince offers skip exactly the durable
// successes this store appended, and reads every other durable record
// (another store on the file, a tool appending lines) as Records does.
func TestDurableSinceSkipsOwn(t *testing.T) {
	for _, limit := range []int{1000, 1, 2, 3} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) { testDurableSince(t, limit) })
	}
}

func testDurableSince(t *testing.T, limit int) {
	ctx := context.Background()
	root := t.TempDir()
	path := filepath.Join(root, filepath.FromSlash(writeback.DefaultLedgerRelPath))
	l := ixOpen(t, root)
	defer l.Close()
	other := ixOpen(t, root)
	defer other.Close()

	write := func(s *Ledger, task string) string {
		t.Helper()
		out, err := s.Writeback(ctx, writeback.WritebackRequest{Binding: storetest.Binding(task, "T1", "b1")})
		if err != nil || !out.Decision.Appended {
			t.Fatalf("write-back %s: %v %+v", task, err, out.Decision)
		}
		return out.Decision.DurableRecord.WritebackID
	}
	own := []string{write(l, "own-1"), write(l, "own-2")}
	// A refusal appends a conflict record, never a durable success.
	bad := storetest.Binding("own-bad", "T1", "b1")
	bad.AuthoritativeVerdict = "FAIL"
	if _, err := l.Writeback(ctx, writeback.WritebackRequest{Binding: bad}); err != nil {
		t.Fatal(err)
	}
	foreign := write(other, "foreign-1")
	AppendRawForTest(t, path, toolLine(t, "tool-1")+"\n")
	own = append(own, write(l, "own-3"), write(l, "own-4"))
	// A batch: its items land in one group.
	items, err := l.WritebackMany(ctx, []writeback.WritebackRequest{
		{Binding: storetest.Binding("own-5", "T2", "b1")}, {Binding: storetest.Binding("own-6", "T2", "b2")},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Err != nil || !it.Outcome.Decision.Appended {
			t.Fatalf("batch item: %v %+v", it.Err, it.Outcome.Decision)
		}
		own = append(own, it.Outcome.Decision.DurableRecord.WritebackID)
	}

	var all []writeback.LedgerRecord
	for after := int64(-1); ; {
		p, err := l.Records(ctx, writeback.RecordQuery{Kind: writeback.KindDurable, After: after, Limit: MaxRecordsLimit})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Records...)
		if p.Next < 0 {
			break
		}
		after = p.Next
	}
	if len(all) != len(own)+2 {
		t.Fatalf("%d durable records, want %d", len(all), len(own)+2)
	}

	// Skip own-2 and own-4 only: the other own records are read.
	keep := map[string]bool{own[0]: true, own[2]: true, own[4]: true, own[5]: true}
	for pass := range 2 {
		var asked []string
		skip := func(wid string) bool {
			asked = append(asked, wid)
			return !keep[wid]
		}
		var got []writeback.LedgerRecord
		after := int64(-1)
		for calls := 0; ; calls++ {
			if calls > len(all)+1 {
				t.Fatalf("limit %d: DurableSince does not advance", limit)
			}
			recs, last, err := l.DurableSince(ctx, after, limit, skip)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) > limit {
				t.Fatalf("limit %d: %d records", limit, len(recs))
			}
			got = append(got, recs...)
			if last == after {
				break
			}
			after = last
		}
		if after != all[len(all)-1].Seq {
			t.Errorf("limit %d: last %d, want %d", limit, after, all[len(all)-1].Seq)
		}
		// The store forgets the records a follower passed: a second
		// pass reads them all.
		var want []writeback.LedgerRecord
		for _, r := range all {
			if pass == 1 || keep[r.Durable.WritebackID] || !slices.Contains(own, r.Durable.WritebackID) {
				r.Raw = nil
				want = append(want, r)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("limit %d: got %d records, want %d:\ngot  %+v\nwant %+v", limit, len(got), len(want), got, want)
		}
		// Each own record once, in ledger order; never a foreign one.
		if pass == 0 && !slices.Equal(asked, own) {
			t.Errorf("skip asked %q, want the own records %q (not %s nor the tool's)", asked, own, foreign)
		}
		if pass == 1 && len(asked) != 0 {
			t.Errorf("skip asked %q after the records were passed", asked)
		}
	}
}

// toolLine is a durable success as a tool writing the ledger directly
// appends it.
func toolLine(t *testing.T, task string) string {
	t.Helper()
	d := writeback.Evaluate(writeback.WritebackRequest{Binding: storetest.Binding(task, "T3", "b1")}, storetest.Config(), writeback.NewMemView())
	line, err := writeback.AppendLine(nil, d.DurableRecord)
	if err != nil {
		t.Fatal(err)
	}
	return string(line[:len(line)-1])
}
