package loadgen

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"time"

	settle "github.com/settlehq/settle"
	"github.com/settlehq/settle/writeback"
)

// The load generator's HTTP client and request bodies. With --embedded
// the clients share the machine's cores with the server they measure, so
// every operation here avoids fmt, encoding/json, net/http and per-request
// allocations: request bodies are pre-encoded templates with the varying
// ids appended, and responses are read by a small HTTP/1.1 reader into
// buffers reused by the next request on the same connection.

const (
	// benchIOTimeout bounds each request's write and read.
	benchIOTimeout = 2 * time.Minute
	// maxBenchHeaderLines and maxBenchBody bound a response.
	maxBenchHeaderLines = 256
	maxBenchBody        = 64 << 20
)

// benchConn is a minimal HTTP/1.1 keep-alive client on one connection,
// one per bench client: the load generator shares the machine with an
// embedded server and must cost far less than what it measures (Go's
// http.Transport spends as much CPU per request as the server).
type benchConn struct {
	host, addr, serverName, token string
	tls                           bool
	tlsConfig                     *tls.Config // nil: the system's roots, ServerName from the URL
	capture                       []string    // response headers kept in res
	c                             net.Conn
	br                            *bufio.Reader
	deadline                      time.Time
	buf                           []byte // the request being written
	res                           benchResponse
}

// benchResponse is one response. Its slices belong to the connection and
// are overwritten by its next request.
type benchResponse struct {
	status int
	body   []byte
	// values[i] is the first value of the header capture[i] given to
	// readBenchResponse, and has[i] whether it was present.
	values [][]byte
	has    []bool
	// close: the server ends the connection after this response.
	close bool
}

// header returns the value of the i-th captured header ("" when absent).
// The string(...) comparison of its result allocates nothing.
func (r *benchResponse) header(i int) []byte {
	if i >= len(r.has) || !r.has[i] {
		return nil
	}
	return r.values[i]
}

// newBenchConn prepares a client of rawURL (http or https) sending token;
// responses keep the headers named in capture. It connects on first use.
func newBenchConn(rawURL, token string, capture ...string) (*benchConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, settle.Errorf(settle.InvalidInput, "bench: server URL %q: want http://host:port", rawURL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	return &benchConn{host: u.Host, addr: addr, serverName: u.Hostname(), token: token,
		tls: u.Scheme == "https", capture: capture}, nil
}

func (b *benchConn) close() {
	if b.c != nil {
		b.c.Close()
		b.c = nil
	}
}

// do sends one request (extra headers as name, value pairs) and reads the
// whole response, which stays valid until the next call. A failed
// connection, or one the server closes, is dropped and redialed by the
// next request.
func (b *benchConn) do(method string, path []byte, header []string, body []byte) (*benchResponse, error) {
	if b.c == nil {
		var c net.Conn
		var err error
		if b.tls {
			conf := b.tlsConfig
			if conf == nil {
				conf = &tls.Config{ServerName: b.serverName}
			}
			c, err = tls.Dial("tcp", b.addr, conf)
		} else {
			c, err = net.Dial("tcp", b.addr)
		}
		if err != nil {
			return nil, err
		}
		b.c, b.deadline = c, time.Time{}
		if b.br == nil {
			b.br = bufio.NewReaderSize(c, 16<<10)
		} else {
			b.br.Reset(c)
		}
	}
	// Moving the deadline costs a timer update; do it only when less than
	// half of benchIOTimeout is left, so every request still has at least
	// benchIOTimeout/2.
	if now := time.Now(); b.deadline.Sub(now) < benchIOTimeout/2 {
		b.deadline = now.Add(benchIOTimeout)
		if err := b.c.SetDeadline(b.deadline); err != nil {
			b.close()
			return nil, err
		}
	}
	w := append(b.buf[:0], method...)
	w = append(w, ' ')
	w = append(w, path...)
	w = append(w, " HTTP/1.1\r\nHost: "...)
	w = append(w, b.host...)
	w = append(w, "\r\nAuthorization: Bearer "...)
	w = append(w, b.token...)
	w = append(w, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	w = strconv.AppendInt(w, int64(len(body)), 10)
	for i := 0; i+1 < len(header); i += 2 {
		w = append(w, "\r\n"...)
		w = append(w, header[i]...)
		w = append(w, ": "...)
		w = append(w, header[i+1]...)
	}
	w = append(w, "\r\n\r\n"...)
	w = append(w, body...)
	b.buf = w
	if _, err := b.c.Write(w); err != nil {
		b.close()
		return nil, err
	}
	if err := readBenchResponse(b.br, &b.res, b.capture); err != nil {
		b.close()
		return nil, err
	}
	if b.res.close {
		b.close()
	}
	return &b.res, nil
}

// errBadResponse is the error of a response readBenchResponse refuses.
var errBadResponse = settle.Errorf(settle.Internal, "bench: malformed HTTP response")

func badResponse(what string) error {
	return fmt.Errorf("%w: %s", errBadResponse, what)
}

// readBenchResponse reads one HTTP/1.x response to a request other than
// HEAD from br into r, reusing r's buffers: the status line, the headers
// (names compared case-insensitively; Content-Length, Transfer-Encoding,
// Connection and those named in capture are kept), and the body by
// Content-Length, chunked coding, or up to the end of the connection. It
// refuses 1xx responses (settle never sends them), obsolete line folding,
// codings other than chunked (and any in an HTTP/1.0 response), and
// anything malformed; after an error the
// connection's state is unknown and it must be dropped.
func readBenchResponse(br *bufio.Reader, r *benchResponse, capture []string) error {
	r.status, r.body, r.close = 0, r.body[:0], false
	if len(r.values) < len(capture) {
		r.values = make([][]byte, len(capture))
		r.has = make([]bool, len(capture))
	}
	r.has = r.has[:len(capture)]
	clear(r.has)

	line, err := readBenchLine(br)
	if err != nil {
		return err
	}
	// HTTP/1.x SSS[ reason]
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || !isDigit(line[7]) || line[8] != ' ' ||
		!isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) || (len(line) > 12 && line[12] != ' ') {
		return badResponse("status line " + strconv.Quote(string(line)))
	}
	http10 := line[7] == '0'
	r.status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	if r.status < 200 {
		return badResponse("status " + strconv.Itoa(r.status) + " (1xx responses are not supported)")
	}

	contentLength := int64(-1)
	chunked, keepAlive := false, false
	for n := 0; ; n++ {
		if n == maxBenchHeaderLines {
			return badResponse("too many header lines")
		}
		line, err := readBenchLine(br)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			break
		}
		colon := -1
		for i, c := range line {
			if c == ':' {
				colon = i
				break
			}
			if !isTokenChar(c) {
				return badResponse("header line " + strconv.Quote(string(line)))
			}
		}
		if colon <= 0 {
			return badResponse("header line " + strconv.Quote(string(line)))
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		for _, c := range value {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return badResponse("header value " + strconv.Quote(string(line)))
			}
		}
		switch {
		case equalFoldASCII(name, "Content-Length"):
			n, ok := parseDecimal(value)
			if !ok || (contentLength >= 0 && n != contentLength) {
				return badResponse("content-length " + strconv.Quote(string(value)))
			}
			contentLength = n
		case equalFoldASCII(name, "Transfer-Encoding"):
			if chunked || http10 || !equalFoldASCII(value, "chunked") {
				return badResponse("transfer-encoding " + strconv.Quote(string(value)) + " (only chunked is supported)")
			}
			chunked = true
		case equalFoldASCII(name, "Connection"):
			for tok := range splitComma(value) {
				switch {
				case equalFoldASCII(tok, "close"):
					r.close = true
				case equalFoldASCII(tok, "keep-alive"):
					keepAlive = true
				}
			}
		}
		for i, c := range capture {
			if !r.has[i] && equalFoldASCII(name, c) {
				r.values[i] = append(r.values[i][:0], value...)
				r.has[i] = true
			}
		}
	}
	if http10 && !keepAlive {
		r.close = true
	}

	switch {
	case r.status == 204 || r.status == 304:
		// No body whatever the headers say.
	case chunked:
		return readChunked(br, r)
	case contentLength >= 0:
		if contentLength > maxBenchBody {
			return badResponse("body of " + strconv.FormatInt(contentLength, 10) + " bytes")
		}
		r.body = slices.Grow(r.body, int(contentLength))[:contentLength]
		if _, err := io.ReadFull(br, r.body); err != nil {
			return unexpectedEOF(err)
		}
	default:
		// No length: the body runs to the end of the connection.
		r.close = true
		for {
			if len(r.body) > maxBenchBody {
				return badResponse("body over " + strconv.Itoa(maxBenchBody) + " bytes")
			}
			r.body = slices.Grow(r.body, 4096)
			n, err := br.Read(r.body[len(r.body):cap(r.body)])
			r.body = r.body[:len(r.body)+n]
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// readChunked reads a chunked body and its trailers (discarded).
func readChunked(br *bufio.Reader, r *benchResponse) error {
	for {
		line, err := readBenchLine(br)
		if err != nil {
			return unexpectedEOF(err)
		}
		hex := line
		for i, c := range line {
			if c == ';' {
				hex = line[:i]
				break
			}
		}
		for len(hex) > 0 && (hex[len(hex)-1] == ' ' || hex[len(hex)-1] == '\t') {
			hex = hex[:len(hex)-1] // BWS before an extension
		}
		size, ok := parseHex(hex)
		if !ok {
			return badResponse("chunk size " + strconv.Quote(string(line)))
		}
		if size == 0 {
			break
		}
		if int64(len(r.body))+size > maxBenchBody {
			return badResponse("body over " + strconv.Itoa(maxBenchBody) + " bytes")
		}
		old := len(r.body)
		r.body = slices.Grow(r.body, int(size))[:old+int(size)]
		if _, err := io.ReadFull(br, r.body[old:]); err != nil {
			return unexpectedEOF(err)
		}
		end, err := readBenchLine(br)
		if err != nil {
			return unexpectedEOF(err)
		}
		if len(end) != 0 {
			return badResponse("no CRLF after a chunk")
		}
	}
	for n := 0; ; n++ {
		if n == maxBenchHeaderLines {
			return badResponse("too many trailer lines")
		}
		line, err := readBenchLine(br)
		if err != nil {
			return unexpectedEOF(err)
		}
		if len(line) == 0 {
			return nil
		}
	}
}

// readBenchLine returns the next line without its CRLF (or bare LF); the
// slice is valid until the next read from br. A line longer than br's
// buffer is refused.
func readBenchLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, badResponse("line over " + strconv.Itoa(br.Size()) + " bytes")
	case err == io.EOF && len(line) > 0:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isTokenChar reports whether c may appear in a header name (RFC 9110
// tchar).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', isDigit(c):
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// splitComma yields the OWS-trimmed, non-empty elements of a
// comma-separated header value.
func splitComma(b []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			i := 0
			for i < len(b) && b[i] != ',' {
				i++
			}
			if tok := trimOWS(b[:i]); len(tok) > 0 && !yield(tok) {
				return
			}
			if i == len(b) {
				return
			}
			b = b[i+1:]
		}
	}
}

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// parseDecimal parses a non-negative decimal of at most 18 digits.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseHex parses a chunk size of at most 15 hex digits.
func parseHex(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		var d byte
		switch {
		case isDigit(c):
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

// appendJSONContent appends s as the inside of a JSON string (without the
// quotes), escaped exactly as encoding/json does. The ids the bench
// generates are plain ASCII and are appended as they are; anything else
// takes encoding/json's path.
func appendJSONContent(dst, s []byte) []byte {
	for _, c := range s {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(string(s))
			return append(dst, q[1:len(q)-1]...)
		}
	}
	return append(dst, s...)
}

// jsonString is s as a JSON string, quotes included.
func jsonString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// writebackTemplate builds write-back request bodies: for a task, track
// and batch, the bytes json.Marshal gives for
//
//	httpapi.WritebackBody{Verdict: <clean independent-ANU verdict of the
//	task, track and collector key>, BatchID: batch, TrackID: track}
//
// (the verdict's keys in encoding/json's sorted map order), with the
// constant parts encoded once.
type writebackTemplate struct {
	head string // up to the dispatch id's value
}

func newWritebackTemplate(collectorKey string) *writebackTemplate {
	return &writebackTemplate{head: `{"verdict":{"authoritative_verdict":` + jsonString(writeback.AuthoritativePass) +
		`,"collector_key":` + jsonString(collectorKey) + `,"collector_role":"ANU","dispatch_id":"dispatch-`}
}

func (t *writebackTemplate) append(dst, task, track, batch []byte) []byte {
	dst = append(dst, t.head...)
	dst = appendJSONContent(dst, task)
	dst = append(dst, `","executor_key":"exec-bench-0001","normal_collector_cron_id":"ncc-bench","task_id":"`...)
	dst = appendJSONContent(dst, task)
	dst = append(dst, `","track":"`...)
	dst = appendJSONContent(dst, track)
	dst = append(dst, `","ts_kst":"2026-01-01T00:00:00+09:00"},"batch_id":"`...)
	dst = appendJSONContent(dst, batch)
	dst = append(dst, `","track_id":"`...)
	dst = appendJSONContent(dst, track)
	return append(dst, `"}`...)
}

// appendDeclareBody appends the body of a batch declaration whose k-th
// track is tracks[k] with task <batch>-t<k+1>: the bytes json.Marshal
// gives for httpapi.DeclareBody{Tracks: ...}.
func appendDeclareBody(dst, batch []byte, tracks [][]byte) []byte {
	dst = append(dst, `{"tracks":[`...)
	for k, tr := range tracks {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"track_id":"`...)
		dst = appendJSONContent(dst, tr)
		dst = append(dst, `","task_id":"`...)
		dst = appendJSONContent(dst, batch)
		dst = append(dst, "-t"...)
		dst = strconv.AppendInt(dst, int64(k+1), 10)
		dst = append(dst, `"}`...)
	}
	return append(dst, `]}`...)
}
