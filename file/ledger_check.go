package file

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/writeback"
)

// maxCheckItems caps the lists of a CheckReport.
const maxCheckItems = 1000

// CheckReport is the result of Check (settle fsck).
type CheckReport struct {
	Path string `json:"path"`
	// Size is the file size read; Lines the complete lines in it.
	Size  int64 `json:"size"`
	Lines int64 `json:"lines"`
	// Records counts the valid records by kind.
	Records map[writeback.RecordKind]int64 `json:"records"`
	// Skipped counts lines that are not records; SkippedLines lists the
	// first of them.
	Skipped      int64         `json:"skipped"`
	SkippedLines []SkippedLine `json:"skipped_lines"`
	// TornTail is set when the file ends with bytes after the last '\n'.
	TornTail *TornTail `json:"torn_tail"`
	// TornSidecars lists the <ledger>.torn-* files earlier repairs left
	// (informational: each holds the bytes of one repaired torn line).
	TornSidecars []string `json:"torn_sidecars"`
	// InvalidRecords lists records that DecodeLine reads but that break
	// their schema (writeback.CheckLine): a wrong type, a missing or empty
	// mandatory field, a writeback_id or conflict_id that does not match
	// the record's content.
	InvalidRecords []InvalidRecord `json:"invalid_records"`
	// DuplicateWritebackIDs lists writeback ids held by more than one
	// durable record (the store never appends such a duplicate).
	DuplicateWritebackIDs []DuplicateID `json:"duplicate_writeback_ids"`
	// IndexAgrees is true when the in-memory index matches the file;
	// IndexProblems says where it does not.
	IndexAgrees   bool     `json:"index_agrees"`
	IndexProblems []string `json:"index_problems"`
	// Truncated is true when a list was cut at 1000 entries.
	Truncated bool `json:"truncated"`
}

// OK reports a ledger without torn tail, skipped lines, invalid records,
// duplicates or index disagreement.
func (r *CheckReport) OK() bool {
	return r.TornTail == nil && r.Skipped == 0 && len(r.InvalidRecords) == 0 && len(r.DuplicateWritebackIDs) == 0 && r.IndexAgrees
}

// InvalidRecord is a record that breaks its schema.
type InvalidRecord struct {
	Line     int64                `json:"line"` // 1-based
	Offset   int64                `json:"offset"`
	Kind     writeback.RecordKind `json:"kind"`
	Problems []string             `json:"problems"`
}

// SkippedLine is a line that is not a ledger record.
type SkippedLine struct {
	Line   int64  `json:"line"` // 1-based
	Offset int64  `json:"offset"`
	Reason string `json:"reason"`
	// Excerpt is the line's first bytes.
	Excerpt string `json:"excerpt"`
}

// TornTail is a last line without its '\n'.
type TornTail struct {
	Offset int64 `json:"offset"`
	Bytes  int64 `json:"bytes"`
}

// DuplicateID is a writeback id shared by several durable records.
type DuplicateID struct {
	WritebackID string  `json:"writeback_id"`
	Seqs        []int64 `json:"seqs"`
}

// Check re-reads the whole ledger and reports torn tail, skipped lines,
// records that break their schema, duplicate writeback ids, and whether the in-memory index agrees with the
// file. It holds a shared flock while reading, so appenders wait.
func (l *Ledger) Check(ctx context.Context) (CheckReport, error) {
	r := CheckReport{Path: l.path, Records: map[writeback.RecordKind]int64{}, IndexAgrees: true}
	for _, k := range kindNames {
		r.Records[k] = 0
	}
	if side, err := filepath.Glob(l.path + ".torn-*"); err == nil {
		r.TornSidecars = side
	}
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(); err != nil {
		return r, err
	}
	if err := l.refresh(ctx, false); err != nil {
		return r, err
	}
	l.publish()
	if l.f == nil {
		if l.ix.len() != 0 {
			r.IndexAgrees = false
			r.IndexProblems = append(r.IndexProblems, fmt.Sprintf("no ledger file but %d indexed records", l.ix.len()))
		}
		return r, nil
	}
	if err := l.flock(ctx, unix.LOCK_SH); err != nil {
		return r, settle.Wrap(settle.ErrorCode(err), err, "lock ledger for checking")
	}
	defer funlock(l.f)
	if err := l.catchUp(); err != nil {
		return r, err
	}
	l.publish()
	fi, err := l.f.Stat()
	if err != nil {
		return r, settle.Wrap(settle.Internal, err, "stat ledger")
	}
	r.Size = fi.Size()

	problem := func(format string, args ...any) {
		r.IndexAgrees = false
		if len(r.IndexProblems) < maxCheckItems {
			r.IndexProblems = append(r.IndexProblems, fmt.Sprintf(format, args...))
		} else {
			r.Truncated = true
		}
	}
	firstSeq := map[string]int64{}
	dups := map[string][]int64{}
	var seq, off int64
	br := bufio.NewReaderSize(io.NewSectionReader(l.f, 0, r.Size), 1<<20)
	for {
		if seq&0xfff == 0 {
			if err := ctx.Err(); err != nil {
				return r, settle.Wrap(settle.Unavailable, err, "check")
			}
		}
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: gather it whole.
			long := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err == io.EOF {
			if len(line) > 0 {
				r.TornTail = &TornTail{Offset: off, Bytes: int64(len(line))}
			}
			break
		}
		if err != nil {
			return r, settle.Wrap(settle.Internal, err, "read ledger")
		}
		r.Lines++
		body := line[:len(line)-1]
		rec, ok := writeback.DecodeLine(body)
		if !ok {
			r.Skipped++
			if len(r.SkippedLines) < maxCheckItems {
				ex := body
				if len(ex) > 80 {
					ex = ex[:80]
				}
				r.SkippedLines = append(r.SkippedLines, SkippedLine{
					Line: r.Lines, Offset: off, Reason: skipReason(body), Excerpt: string(ex),
				})
			} else {
				r.Truncated = true
			}
			off += int64(len(line))
			continue
		}
		r.Records[rec.Kind]++
		if problems := writeback.CheckLine(body); len(problems) > 0 {
			if len(r.InvalidRecords) < maxCheckItems {
				r.InvalidRecords = append(r.InvalidRecords, InvalidRecord{Line: r.Lines, Offset: off, Kind: rec.Kind, Problems: problems})
			} else {
				r.Truncated = true
			}
		}
		if seq >= int64(l.ix.len()) {
			if off < l.off {
				problem("record %d at offset %d is not indexed", seq, off)
			}
		} else {
			if row, err := l.ix.row(seq); err != nil {
				problem("record %d: %v", seq, err)
			} else if row.off != off || row.n != uint32(len(body)) || row.kind != kindCode(rec.Kind) {
				problem("record %d: index has offset %d length %d kind %s, file has offset %d length %d kind %s",
					seq, row.off, row.n, kindNames[row.kind%3], off, len(body), rec.Kind)
			}
			// Every key of the record finds it.
			for _, k := range recordIndexKeys(&rec, body) {
				seqs, err := l.ix.lookup(k.hash())
				if err != nil {
					problem("record %d: %v", seq, err)
					break
				}
				if !slices.Contains(seqs, uint32(seq)) {
					problem("record %d missing from the index under one of its keys (kind %d)", seq, k[0])
					break
				}
			}
		}
		if rec.Durable != nil {
			id := rec.Durable.WritebackID
			if first, seen := firstSeq[id]; seen {
				if dups[id] == nil {
					dups[id] = []int64{first}
				}
				dups[id] = append(dups[id], seq)
			} else {
				firstSeq[id] = seq
			}
		}
		seq++
		off += int64(len(line))
	}
	if off != l.off {
		problem("index ends at offset %d, file's last complete line ends at %d", l.off, off)
	}
	if int64(l.ix.len()) != seq {
		problem("index holds %d records, file %d", l.ix.len(), seq)
	}
	ids := make([]string, 0, len(dups))
	for id := range dups {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return int(dups[a][0] - dups[b][0]) })
	for _, id := range ids {
		if len(r.DuplicateWritebackIDs) == maxCheckItems {
			r.Truncated = true
			break
		}
		r.DuplicateWritebackIDs = append(r.DuplicateWritebackIDs, DuplicateID{WritebackID: id, Seqs: dups[id]})
	}
	return r, nil
}

// skipReason says why a line is not a record.
func skipReason(line []byte) string {
	if len(bytes.TrimSpace(line)) == 0 {
		return "blank line"
	}
	v, err := pyjson.Parse(line)
	if err != nil {
		return "not JSON"
	}
	obj, ok := v.(*pyjson.Object)
	if !ok {
		return "not a JSON object"
	}
	schema, ok := obj.GetString("schema")
	if !ok {
		return "no schema"
	}
	switch schema {
	case writeback.DurableSchema, writeback.RegistrySchema, writeback.ConflictSchema:
		return fmt.Sprintf("malformed %s record", schema)
	}
	return fmt.Sprintf("unknown schema %q", schema)
}
