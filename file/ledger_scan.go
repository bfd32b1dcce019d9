package file

import (
	"bytes"
	"io"
	"runtime"
	"sync"

	"github.com/settlehq/settle/writeback"
)

const (
	// scanBlock is the size of the blocks a large region is read and
	// decoded in, in parallel.
	scanBlock = 4 << 20
	// parallelMin is the region size from which decoding is parallel.
	parallelMin = 2 << 20
)

// decoded is one record of a chunk with its place in the file.
type decoded struct {
	rec writeback.LedgerRecord
	off int64  // offset of the line's first byte
	n   uint32 // line length without the '\n'
}

// chunk is a run of complete lines, decoded by a worker.
type chunk struct {
	data    []byte // whole lines, ending with '\n'
	base    int64  // file offset of data[0]
	recs    []decoded
	lines   int
	skipped int
	done    chan struct{}
}

// decodeChunk decodes every line of c.data.
func decodeChunk(c *chunk) {
	data := c.data
	for pos := 0; pos < len(data); {
		i := bytes.IndexByte(data[pos:], '\n')
		if i < 0 { // cannot happen: data ends with '\n'
			break
		}
		line := data[pos : pos+i]
		c.lines++
		if rec, ok := writeback.DecodeLine(line); ok {
			c.recs = append(c.recs, decoded{rec: rec, off: c.base + int64(pos), n: uint32(i)})
		} else {
			c.skipped++
		}
		pos += i + 1
	}
}

// scanRegion reads [from, to) of r, decodes every complete ('\n'-ended)
// line and hands the decoded chunks to consume in file order. It returns the
// offset just after the last complete line. Bytes after it (a torn or still
// growing last line) are not consumed.
func scanRegion(r io.ReaderAt, from, to int64, consume func(*chunk)) (int64, error) {
	n := to - from
	if n <= 0 {
		return from, nil
	}
	if n <= parallelMin {
		buf := make([]byte, n)
		m, err := r.ReadAt(buf, from)
		if err != nil && err != io.EOF {
			return from, err
		}
		buf = buf[:m]
		last := bytes.LastIndexByte(buf, '\n')
		if last < 0 {
			return from, nil
		}
		c := &chunk{data: buf[:last+1], base: from}
		decodeChunk(c)
		consume(c)
		return from + int64(last+1), nil
	}

	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan *chunk, workers)
	ordered := make(chan *chunk, 2*workers+2)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c := range jobs {
				decodeChunk(c)
				close(c.done)
			}
		})
	}
	var (
		readErr error
		end     = from
	)
	go func() {
		defer close(ordered)
		defer close(jobs)
		sr := io.NewSectionReader(r, from, n)
		var carry []byte
		pos := from
		for {
			buf := make([]byte, len(carry)+scanBlock)
			copy(buf, carry)
			m, err := io.ReadFull(sr, buf[len(carry):])
			buf = buf[:len(carry)+m]
			if last := bytes.LastIndexByte(buf, '\n'); last >= 0 {
				c := &chunk{data: buf[:last+1], base: pos, done: make(chan struct{})}
				ordered <- c
				jobs <- c
				pos += int64(last + 1)
				carry = buf[last+1:]
			} else {
				carry = buf
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				readErr = err
				break
			}
		}
		end = pos
	}()
	for c := range ordered {
		<-c.done
		consume(c)
		c.data, c.recs = nil, nil
	}
	wg.Wait()
	if readErr != nil {
		return from, readErr
	}
	return end, nil
}

// Record kinds in the offset table.
const (
	kDurable uint8 = iota
	kRegistry
	kConflict
)

func kindCode(k writeback.RecordKind) uint8 {
	switch k {
	case writeback.KindRegistry:
		return kRegistry
	case writeback.KindConflict:
		return kConflict
	default:
		return kDurable
	}
}

var kindNames = [...]writeback.RecordKind{writeback.KindDurable, writeback.KindRegistry, writeback.KindConflict}

// recordKeys returns the task and batch of a record (registry records have
// no batch).
func recordKeys(rec *writeback.LedgerRecord) (task, batch string) {
	switch {
	case rec.Durable != nil:
		return rec.Durable.TaskID, rec.Durable.BatchID
	case rec.Registry != nil:
		return rec.Registry.TaskID, ""
	case rec.Conflict != nil:
		return rec.Conflict.TaskID, rec.Conflict.BatchID
	}
	return "", ""
}
