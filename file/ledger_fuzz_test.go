package file_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/settlehq/settle/file"
	"github.com/settlehq/settle/storetest"
	"github.com/settlehq/settle/writeback"
)

// FuzzLedgerReader feeds arbitrary bytes as a ledger file: opening must not
// fail or panic, every complete line is counted, the index holds exactly
// the lines DecodeLine accepts (in order, with their bytes), Check agrees,
// and an append repairs a torn tail without gluing to it.
func FuzzLedgerReader(f *testing.F) {
	reg := lgLine(f, storetest.Registry("task-1", writeback.StatusRegistered))
	dur := lgLine(f, storetest.Binding("task-1", "T1", "b").Record(writeback.DurableSuccessWritten))
	for _, seed := range []string{
		"",
		"\n",
		reg,
		reg + dur,
		reg + dur[:40],
		"[1,2]\n" + reg + "garbage\n\n  \n",
		"{\"schema\": \"other.v1\"}\n" + dur,
		"{\"schema\": \"callback_4tuple_ledger_record.v1\", \"task_id\": 7}\n",
		"{\"schema\": \"durable_success_writeback.v1\"}\r\n{\"schema\": \"writeback_conflict.v1\", \"reasons\": [1]}\n",
		"{\"schema\": \"durable_success_writeback.v1\", \"task_id\": \"a\u2028b\"}\n",
		"\xff\xfe{}\n{\"schema\": NaN}\n",
		"{\"schema\": \"callback_4tuple_ledger_record.v1\", \"schema\": \"x\"}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		path := lgLedgerPath(root)
		file.AppendRawForTest(t, path, string(data))
		l, err := file.OpenLedger(file.LedgerOptions{Root: root, Config: storetest.Config(), Logger: lgQuiet()})
		if err != nil {
			t.Fatalf("OpenLedger: %v", err)
		}
		defer l.Close()

		complete := data
		if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
			complete = data[:i+1]
		} else {
			complete = nil
		}
		type want struct {
			kind writeback.RecordKind
			raw  []byte
		}
		var wants []want
		lines := 0
		kinds := map[writeback.RecordKind]int64{}
		for len(complete) > 0 {
			i := bytes.IndexByte(complete, '\n')
			line := complete[:i]
			complete = complete[i+1:]
			lines++
			if rec, ok := writeback.DecodeLine(line); ok {
				wants = append(wants, want{rec.Kind, line})
				kinds[rec.Kind]++
			}
		}
		st := l.Stats()
		if st.Lines != int64(lines) || st.Skipped != int64(lines-len(wants)) {
			t.Fatalf("stats lines %d skipped %d, want %d and %d", st.Lines, st.Skipped, lines, lines-len(wants))
		}
		for k, n := range kinds {
			if st.Records[k] != n {
				t.Fatalf("stats records %v, want %v", st.Records, kinds)
			}
		}
		recs := storetest.AllRecords(t, l, writeback.RecordQuery{Limit: 3})
		if len(recs) != len(wants) {
			t.Fatalf("%d records, want %d", len(recs), len(wants))
		}
		for i, r := range recs {
			if r.Seq != int64(i) || r.Kind != wants[i].kind || !bytes.Equal(r.Raw, wants[i].raw) {
				t.Fatalf("record %d = seq %d kind %s raw %q, want kind %s raw %q", i, r.Seq, r.Kind, r.Raw, wants[i].kind, wants[i].raw)
			}
		}
		rep, err := l.Check(lgCtx)
		if err != nil {
			t.Fatal(err)
		}
		torn := len(data) > 0 && data[len(data)-1] != '\n'
		if !rep.IndexAgrees || rep.Lines != int64(lines) || (rep.TornTail != nil) != torn {
			t.Fatalf("Check %+v (torn %v)", rep, torn)
		}

		// An append keeps every complete line, drops a torn tail, and adds
		// exactly its line.
		if err := l.AppendRegistry(lgCtx, storetest.Registry("fuzz-task", writeback.StatusRegistered)); err != nil {
			t.Fatal(err)
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		prefix := data
		if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
			prefix = data[:i+1]
		} else {
			prefix = nil
		}
		if !bytes.Equal(after, append(append([]byte{}, prefix...), lgLine(t, storetest.Registry("fuzz-task", writeback.StatusRegistered))...)) {
			t.Fatalf("after append the ledger is %q", after)
		}
		if h, _ := l.RegistryHistory(lgCtx, "fuzz-task"); len(h) < 1 {
			t.Fatal("appended record not indexed")
		}
	})
}
