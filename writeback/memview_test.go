package writeback_test

import (
	"fmt"
	"testing"

	"github.com/settlehq/settle/writeback"
)

func TestMemView(t *testing.T) {
	a := cleanBinding().Record(writeback.DurableSuccessWritten)
	bb := cleanBinding()
	bb.AuthoritativeVerdict = "PASS"
	b := bb.Record(writeback.WritebackBindingConflict)
	conflict := writeback.ConflictRecord{Schema: writeback.ConflictSchema, ConflictID: "c1"}
	v := viewOf(t,
		a,
		registry("task-1", "d", "c", "n", "REGISTERED"),
		"[1,2]",
		b,
		registry("task-1", "d", "c", "n", "COMPLETED"),
		&conflict,
		`{"schema": "callback_4tuple_ledger_record.v1", "task_id": 5}`,
		`{"schema": "callback_4tuple_ledger_record.v1", "task_id": ""}`,
		`{"schema": "durable_success_writeback.v1", "task_id": "task-1", "track_id": "T1", "dispatch_id": "disp-1", "collector_key": "anu-a", "batch_id": null, "writeback_id": "w"}`,
	)

	if got := v.DurableByWritebackID(a.WritebackID); len(got) != 1 || got[0].Seq != 0 || got[0].Rec.WritebackClassification != writeback.DurableSuccessWritten {
		t.Errorf("by writeback id %+v", got)
	}
	if got := v.DurableByIdentity(a.Identity()); len(got) != 2 || got[0].Seq != 0 || got[1].Seq != 3 {
		t.Errorf("by identity %+v", got)
	}
	if got := v.DurableByIdentity(writeback.IdentityKey{TaskID: "task-1", TrackID: "T1", DispatchID: "disp-1", CollectorKey: "anu-a"}); len(got) != 0 {
		t.Errorf("a null batch_id matched \"\": %+v", got)
	}
	if got := v.RegistryHistory("task-1"); len(got) != 2 || got[1].Status != "COMPLETED" {
		t.Errorf("history %+v", got)
	}
	if got := v.RegistryHistory(""); len(got) != 1 {
		t.Errorf("history of \"\" %+v (only the real empty task id)", got)
	}
	if got := v.Latest("B1", "T1"); got == nil || got.AuthoritativeVerdict != "AUTHORITATIVE_PASS" {
		t.Errorf("latest %+v (the refused record must not count)", got)
	}
	if v.Latest("B2", "T1") != nil {
		t.Error("latest of another batch")
	}
	if !v.HasConflict("c1") || v.HasConflict("c2") {
		t.Error("conflicts seen")
	}
	st := v.Stats()
	if st.Durable != 3 || st.Registry != 4 || st.Conflicts != 1 || st.Tasks != 2 || st.Tracks != 1 || v.MemBytes() <= 0 || st.Bytes != v.MemBytes() {
		t.Errorf("stats %+v", st)
	}

	// Results are copies.
	h := v.RegistryHistory("task-1")
	h[0].Status = "X"
	if v.RegistryHistory("task-1")[0].Status != "REGISTERED" {
		t.Error("history aliases the view")
	}

	v.Reset()
	if v.Stats() != (writeback.MemStats{}) || v.Latest("B1", "T1") != nil || len(v.RegistryHistory("task-1")) != 0 || v.HasConflict("c1") {
		t.Error("Reset left something")
	}
}

func TestMemViewZeroValue(t *testing.T) {
	var v writeback.MemView
	if v.Latest("b", "t") != nil || len(v.DurableByWritebackID("x")) != 0 || v.HasConflict("c") {
		t.Fatal("zero view not empty")
	}
	v.Add(writeback.LedgerRecord{Kind: writeback.KindDurable, Durable: cleanBinding().Record(writeback.DurableSuccessWritten)})
	if v.Latest("B1", "T1") == nil {
		t.Fatal("zero view did not index")
	}
}

// BenchmarkMemViewAdd measures what opening a ledger costs per line:
// decoding it and indexing it.
func BenchmarkMemViewAdd(b *testing.B) {
	lines := make([][]byte, 1000)
	for i := range lines {
		bd := cleanBinding()
		bd.TaskID = fmt.Sprintf("task-%d", i)
		bd.BatchID = fmt.Sprintf("B%d", i%50)
		var err error
		if i%2 == 0 {
			lines[i], err = writeback.EncodeLine(bd.Record(writeback.DurableSuccessWritten))
		} else {
			m, _ := writeback.MirrorRecord(bd.Record(writeback.DurableSuccessWritten), testConfig)
			lines[i], err = writeback.EncodeLine(&m)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	v := writeback.NewMemView()
	for i := 0; i < b.N; i++ {
		if i%len(lines) == 0 && i > 0 && i%(100*len(lines)) == 0 {
			v.Reset()
		}
		rec, ok := writeback.DecodeLine(lines[i%len(lines)])
		if !ok {
			b.Fatal("not decoded")
		}
		rec.Seq = int64(i)
		v.Add(rec)
	}
	b.ReportMetric(float64(v.MemBytes())/float64(min(b.N, 100*len(lines))), "membytes/rec")
}

func BenchmarkEvaluate(b *testing.B) {
	v := writeback.NewMemView()
	for i := 0; i < 10000; i++ {
		bd := cleanBinding()
		bd.TaskID = fmt.Sprintf("task-%d", i)
		v.Add(writeback.LedgerRecord{Seq: int64(i), Kind: writeback.KindDurable, Durable: bd.Record(writeback.DurableSuccessWritten)})
	}
	req := writeback.WritebackRequest{Binding: cleanBinding()}
	req.Binding.TaskID = "task-5000"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if d := writeback.Evaluate(req, testConfig, v); d.Classification != writeback.WritebackIdempotentSkip {
			b.Fatal(d.Classification)
		}
	}
}
