package loadgen

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/settlehq/settle/httpapi"
	"github.com/settlehq/settle/writeback"
)

var benchCapture = []string{"Settle-Batch-Decision", "Settle-First-Consolidation"}

// readAll reads one response from in with a fresh reader of the given
// buffer size, also returning what is left unread.
func readOne(t *testing.T, in string, size int) (*benchResponse, string, error) {
	t.Helper()
	br := bufio.NewReaderSize(strings.NewReader(in), size)
	var r benchResponse
	err := readBenchResponse(br, &r, benchCapture)
	rest, _ := io.ReadAll(br)
	return &r, string(rest), err
}

func TestReadBenchResponse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		status   int
		body     string
		close    bool
		decision string // captured Settle-Batch-Decision; "-" for absent
		rest     string
		// lenient: net/http refuses this valid input.
		lenient bool
	}{
		{name: "content length", in: "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhelloNEXT",
			status: 201, body: "hello", decision: "-", rest: "NEXT"},
		{name: "zero content length", in: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", status: 200, decision: "-"},
		{name: "no reason phrase", in: "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", status: 200, body: "ok", decision: "-"},
		{name: "header names in any case", in: "HTTP/1.1 201 Created\r\ncontent-LENGTH:3\r\nsettle-batch-decision:  ALL_SETTLED_CONSOLIDATE \t\r\n\r\nabc",
			status: 201, body: "abc", decision: "ALL_SETTLED_CONSOLIDATE"},
		{name: "first captured value wins", in: "HTTP/1.1 201 Created\r\nSettle-Batch-Decision: A\r\nSettle-Batch-Decision: B\r\nContent-Length: 0\r\n\r\n",
			status: 201, decision: "A"},
		{name: "empty captured value", in: "HTTP/1.1 201 Created\r\nSettle-Batch-Decision:\r\nContent-Length: 0\r\n\r\n", status: 201, decision: ""},
		{name: "repeated equal content length", in: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nokX",
			status: 200, body: "ok", decision: "-", rest: "X"},
		{name: "bare LF line ends", in: "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", status: 200, body: "ok", decision: "-"},
		{name: "chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\nNEXT",
			status: 200, body: "hello, world", decision: "-", rest: "NEXT"},
		{name: "chunked with extensions and trailers", in: "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\nA;x=y\r\n0123456789\r\n0;z\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n",
			status: 200, body: "0123456789", decision: "-"},
		{name: "chunk extension after whitespace", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 \t;x\r\nok\r\n0\r\n\r\n",
			status: 200, body: "ok", decision: "-", lenient: true},
		{name: "chunked wins over content length", in: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nX",
			status: 200, body: "ok", decision: "-", rest: "X"},
		{name: "connection close", in: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
			status: 200, body: "ok", close: true, decision: "-"},
		{name: "connection token list", in: "HTTP/1.1 200 OK\r\nConnection: Upgrade , CLOSE\r\nContent-Length: 2\r\n\r\nok",
			status: 200, body: "ok", close: true, decision: "-"},
		{name: "body to end of connection", in: "HTTP/1.1 500 Internal Server Error\r\n\r\nall of this",
			status: 500, body: "all of this", close: true, decision: "-"},
		{name: "http 1.0 closes", in: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", status: 200, body: "ok", close: true, decision: "-"},
		{name: "http 1.0 keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", status: 200, body: "ok", decision: "-"},
		{name: "204 has no body", in: "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\nNEXT", status: 204, decision: "-", rest: "NEXT"},
		{name: "304 has no body", in: "HTTP/1.1 304 Not Modified\r\n\r\nNEXT", status: 304, decision: "-", rest: "NEXT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, rest, err := readOne(t, tt.in, 4096)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			d := "-"
			if r.has[0] {
				d = string(r.header(0))
			}
			if r.status != tt.status || string(r.body) != tt.body || r.close != tt.close || d != tt.decision || rest != tt.rest {
				t.Fatalf("got status %d body %q close %v decision %q rest %q", r.status, r.body, r.close, d, rest)
			}
			if tt.lenient {
				return
			}
			// net/http agrees on every other case.
			hr, err := http.ReadResponse(bufio.NewReader(strings.NewReader(tt.in)), nil)
			if err != nil {
				t.Fatalf("net/http: %v", err)
			}
			hb, err := io.ReadAll(hr.Body)
			if err != nil {
				t.Fatalf("net/http body: %v", err)
			}
			if hr.StatusCode != r.status || string(hb) != tt.body || hr.Close != r.close {
				t.Fatalf("net/http: status %d body %q close %v", hr.StatusCode, hb, hr.Close)
			}
		})
	}
}

func TestReadBenchResponseMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   string
		eof  bool // the error is io.ErrUnexpectedEOF (or io.EOF), not errBadResponse
	}{
		{name: "empty", in: "", eof: true},
		{name: "not http", in: "SSH-2.0-OpenSSH\r\n\r\n"},
		{name: "http 2", in: "HTTP/2.0 200 OK\r\n\r\n"},
		{name: "short status", in: "HTTP/1.1 20\r\n\r\n"},
		{name: "status not digits", in: "HTTP/1.1 2x0 OK\r\n\r\n"},
		{name: "status too long", in: "HTTP/1.1 2000 OK\r\n\r\n"},
		{name: "1xx", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
		{name: "obsolete folding", in: "HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\nContent-Length: 0\r\n\r\n"},
		{name: "no colon", in: "HTTP/1.1 200 OK\r\nContent-Length 0\r\n\r\n"},
		{name: "empty name", in: "HTTP/1.1 200 OK\r\n: x\r\n\r\n"},
		{name: "space before colon", in: "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n"},
		{name: "control in value", in: "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n"},
		{name: "negative length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"},
		{name: "signed length", in: "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx"},
		{name: "length not a number", in: "HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n"},
		{name: "length too large", in: "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n"},
		{name: "body over the limit", in: "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(maxBenchBody+1) + "\r\n\r\n"},
		{name: "conflicting lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx"},
		{name: "gzip coding", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"},
		{name: "chunked twice", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{name: "chunked in http 1.0", in: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
		{name: "empty chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n"},
		{name: "signed chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n"},
		{name: "huge chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n"},
		{name: "chunk longer than its size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n"},
		{name: "truncated status line", in: "HTTP/1.1 200 O", eof: true},
		{name: "truncated headers", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", eof: true},
		{name: "truncated body", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", eof: true},
		{name: "truncated chunk", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", eof: true},
		{name: "no last chunk", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", eof: true},
		{name: "truncated trailers", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n", eof: true},
		{name: "line too long", in: "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 300) + "\r\nContent-Length: 0\r\n\r\n"},
		{name: "too many headers", in: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: 1\r\n", maxBenchHeaderLines) + "Content-Length: 0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readOne(t, tt.in, 256)
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF); got != tt.eof {
				t.Fatalf("error %v: EOF %v, want %v", err, got, tt.eof)
			}
			if !tt.eof && !errors.Is(err, errBadResponse) {
				t.Fatalf("error %v is not errBadResponse", err)
			}
		})
	}
}

// TestReadBenchResponseReuse reads several responses from one stream into
// one benchResponse, as a keep-alive connection does.
func TestReadBenchResponseReuse(t *testing.T) {
	in := "HTTP/1.1 201 Created\r\nSettle-Batch-Decision: WAIT\r\nSettle-First-Consolidation: true\r\nContent-Length: 11\r\n\r\nfirst body!" +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n2nd\r\n0\r\n\r\n" +
		"HTTP/1.1 409 Conflict\r\nSettle-Batch-Decision: ALL_SETTLED_CONSOLIDATE\r\nContent-Length: 1\r\n\r\n3"
	br := bufio.NewReaderSize(strings.NewReader(in), 64)
	var r benchResponse
	for i, want := range []struct {
		status          int
		body, dec, frst string
	}{{201, "first body!", "WAIT", "true"}, {200, "2nd", "", ""}, {409, "3", "ALL_SETTLED_CONSOLIDATE", ""}} {
		if err := readBenchResponse(br, &r, benchCapture); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if r.status != want.status || string(r.body) != want.body || string(r.header(0)) != want.dec || string(r.header(1)) != want.frst {
			t.Fatalf("response %d: status %d body %q headers %q %q", i, r.status, r.body, r.header(0), r.header(1))
		}
	}
	if err := readBenchResponse(br, &r, benchCapture); err != io.EOF {
		t.Fatalf("after the last response: %v, want io.EOF", err)
	}
}

// FuzzReadBenchResponse: no input panics, and whenever both this reader
// and net/http accept a response they agree on it.
func FuzzReadBenchResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nSettle-Batch-Decision: X\r\n\r\nrest",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var r benchResponse
		err := readBenchResponse(bufio.NewReaderSize(bytes.NewReader(in), 512), &r, benchCapture)
		if err != nil {
			return
		}
		if r.status < 200 || r.status > 999 || len(r.body) > maxBenchBody {
			t.Fatalf("accepted status %d, %d body bytes", r.status, len(r.body))
		}
		hr, err := http.ReadResponse(bufio.NewReaderSize(bytes.NewReader(in), 512), nil)
		if err != nil {
			return
		}
		hb, err := io.ReadAll(hr.Body)
		if err != nil {
			return
		}
		if hr.StatusCode != r.status || !bytes.Equal(hb, r.body) || hr.Close != r.close {
			t.Fatalf("net/http: status %d body %q close %v; here: status %d body %q close %v",
				hr.StatusCode, hb, hr.Close, r.status, r.body, r.close)
		}
		for i, name := range benchCapture {
			if _, ok := hr.Header[http.CanonicalHeaderKey(name)]; ok != r.has[i] || hr.Header.Get(name) != string(r.header(i)) {
				t.Fatalf("header %s: net/http %q, here %q (present %v)", name, hr.Header.Get(name), r.header(i), r.has[i])
			}
		}
	})
}

// oldVerdictBody is how the bench encoded a write-back body before the
// templates: the reference the templates must reproduce byte for byte.
func oldVerdictBody(t *testing.T, task, track, batch, key string) []byte {
	t.Helper()
	v, err := json.Marshal(map[string]any{
		"task_id":                  task,
		"track":                    track,
		"authoritative_verdict":    writeback.AuthoritativePass,
		"collector_role":           "ANU",
		"collector_key":            key,
		"executor_key":             "exec-bench-0001",
		"dispatch_id":              "dispatch-" + task,
		"normal_collector_cron_id": "ncc-bench",
		"ts_kst":                   "2026-01-01T00:00:00+09:00",
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(httpapi.WritebackBody{Verdict: v, BatchID: batch, TrackID: track})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBenchBodies(t *testing.T) {
	tests := []struct {
		name, task, track, batch, key string
	}{
		{name: "generated ids", task: "bench-0a1b2c3d-c12-345", track: "T1", batch: "bench-0a1b2c3d", key: "anu-bench-0001"},
		{name: "settle ids", task: "bench-0a1b2c3d-c0-0-t2", track: "T2", batch: "bench-0a1b2c3d-c0-0", key: "anu-bench-0001"},
		{name: "key needing escapes", task: "t", track: "T1", batch: "b", key: "k\"<&>\\\n\u00e9"},
		{name: "ids needing escapes", task: "t\"1<\x01\u2028é", track: "T\\1", batch: "b&\t", key: "k"},
		{name: "invalid utf-8", task: "t\xff", track: "T1", batch: "b\xc3", key: "k\xfe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := oldVerdictBody(t, tt.task, tt.track, tt.batch, tt.key)
			got := newWritebackTemplate(tt.key).append([]byte("reused"), []byte(tt.task), []byte(tt.track), []byte(tt.batch))
			if string(got) != "reused"+string(want) {
				t.Fatalf("write-back body\n got %s\nwant %s", got[len("reused"):], want)
			}
			var tracks []writeback.TrackTask
			var ids [][]byte
			for k := range 3 {
				id := tt.track + strconv.Itoa(k)
				ids = append(ids, []byte(id))
				tracks = append(tracks, writeback.TrackTask{TrackID: id, TaskID: tt.batch + "-t" + strconv.Itoa(k+1)})
			}
			want, err := json.Marshal(httpapi.DeclareBody{Tracks: tracks})
			if err != nil {
				t.Fatal(err)
			}
			if got := appendDeclareBody(nil, []byte(tt.batch), ids); !bytes.Equal(got, want) {
				t.Fatalf("declare body\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestBenchConn runs benchConn against net/http servers: keep-alive,
// chunked bodies, a server closing the connection, a malformed response
// (the connection is dropped and the next request redials), and TLS.
func TestBenchConn(t *testing.T) {
	var conns atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Settle-Batch-Decision", r.Header.Get("If-Match"))
		w.Header().Set("Content-Length", strconv.Itoa(len(b)+len(r.Method)+len(r.Header.Get("Authorization"))))
		w.WriteHeader(201)
		io.WriteString(w, r.Method)
		io.WriteString(w, r.Header.Get("Authorization"))
		w.Write(b)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part one,")
		w.(http.Flusher).Flush()
		io.WriteString(w, strings.Repeat("x", 40000))
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	mux.HandleFunc("/garbage", func(w http.ResponseWriter, r *http.Request) {
		c, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		bw.WriteString("HTTP/1.1 2xx Nonsense\r\n\r\n")
		bw.Flush()
	})
	counting := func(s *httptest.Server) {
		s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		}
	}
	plain := httptest.NewUnstartedServer(mux)
	counting(plain)
	plain.Start()
	defer plain.Close()
	secure := httptest.NewUnstartedServer(mux)
	counting(secure)
	secure.StartTLS()
	defer secure.Close()

	for _, srv := range []*httptest.Server{plain, secure} {
		t.Run(srv.URL[:strings.Index(srv.URL, ":")], func(t *testing.T) {
			conns.Store(0)
			bc, err := newBenchConn(srv.URL, "tok", benchCapture...)
			if err != nil {
				t.Fatal(err)
			}
			defer bc.close()
			if bc.tls {
				pool := x509.NewCertPool()
				pool.AddCert(srv.Certificate())
				bc.tlsConfig = &tls.Config{RootCAs: pool, ServerName: "example.com"}
			}
			check := func(method, path string, hdr []string, body string, status int, wantBody, dec string) {
				t.Helper()
				r, err := bc.do(method, []byte(path), hdr, []byte(body))
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				if r.status != status || string(r.body) != wantBody || string(r.header(0)) != dec {
					t.Fatalf("%s %s: status %d body %.80q decision %q", method, path, r.status, r.body, r.header(0))
				}
			}
			for i := range 5 {
				body := strings.Repeat("b", i*1000)
				check("POST", "/echo", []string{"If-Match", `"v` + strconv.Itoa(i) + `"`}, body, 201, "POSTBearer tok"+body, `"v`+strconv.Itoa(i)+`"`)
			}
			check("GET", "/chunked", nil, "", 200, "part one,"+strings.Repeat("x", 40000), "")
			check("PATCH", "/echo", nil, "{}", 201, "PATCHBearer tok{}", "")
			if n := conns.Load(); n != 1 {
				t.Fatalf("%d connections for keep-alive requests, want 1", n)
			}
			check("GET", "/close", nil, "", 200, "bye", "")
			if bc.c != nil {
				t.Fatal("connection kept after Connection: close")
			}
			check("GET", "/missing", nil, "", 404, "404 page not found\n", "")
			if n := conns.Load(); n != 2 {
				t.Fatalf("%d connections after a close, want 2", n)
			}
			if _, err := bc.do("GET", []byte("/garbage"), nil, nil); !errors.Is(err, errBadResponse) {
				t.Fatalf("malformed response: %v", err)
			}
			if bc.c != nil {
				t.Fatal("connection kept after a malformed response")
			}
			check("POST", "/echo", nil, "again", 201, "POSTBearer tokagain", "")
			if n := conns.Load(); n != 3 {
				t.Fatalf("%d connections after a malformed response, want 3", n)
			}
		})
	}
}

func TestNewBenchConnURL(t *testing.T) {
	for _, tt := range []struct{ url, addr, host, serverName string }{
		{"http://127.0.0.1:8080", "127.0.0.1:8080", "127.0.0.1:8080", "127.0.0.1"},
		{"https://settle.example", "settle.example:443", "settle.example", "settle.example"},
		{"http://[::1]", "[::1]:80", "[::1]", "::1"},
	} {
		bc, err := newBenchConn(tt.url, "t")
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		if bc.addr != tt.addr || bc.host != tt.host || bc.serverName != tt.serverName {
			t.Fatalf("%s: addr %q host %q server name %q", tt.url, bc.addr, bc.host, bc.serverName)
		}
	}
	for _, u := range []string{"", "ftp://x", "http://", "://"} {
		if _, err := newBenchConn(u, "t"); err == nil {
			t.Fatalf("%q: no error", u)
		}
	}
}

// BenchmarkBenchClientOp is the client side of one write-back operation
// (body, request, response) against a canned response.
func BenchmarkBenchClientOp(b *testing.B) {
	resp := []byte("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nSettle-Batch-Decision: WAIT\r\nDate: Mon, 01 Jan 2026 00:00:00 GMT\r\nContent-Length: 180\r\n\r\n" + strings.Repeat("r", 180))
	srv, cli := net.Pipe()
	defer cli.Close()
	go func() {
		defer srv.Close()
		br := bufio.NewReader(srv)
		for {
			// Read one request: headers, then Content-Length bytes.
			n := 0
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if s := string(line); strings.HasPrefix(s, "Content-Length: ") {
					n, _ = strconv.Atoi(strings.TrimSpace(s[len("Content-Length: "):]))
				} else if s == "\r\n" {
					break
				}
			}
			if _, err := br.Discard(n); err != nil {
				return
			}
			if _, err := srv.Write(resp); err != nil {
				return
			}
		}
	}()
	bc, err := newBenchConn("http://127.0.0.1:1", "0123456789abcdef0123456789abcdef", benchCapture...)
	if err != nil {
		b.Fatal(err)
	}
	bc.c, bc.br = cli, bufio.NewReaderSize(cli, 16<<10)
	tmpl := newWritebackTemplate("anu-bench-0001")
	prefix, batch, track := []byte("bench-0a1b2c3d-c7-"), []byte("bench-0a1b2c3d"), []byte("T1")
	var id, body []byte
	path := []byte("/v1/writebacks")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id = strconv.AppendInt(append(id[:0], prefix...), int64(i), 10)
		body = tmpl.append(body[:0], id, track, batch)
		r, err := bc.do("POST", path, nil, body)
		if err != nil || r.status != 201 {
			b.Fatal(err)
		}
	}
}
