package media_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/storage"
)

// syncBuffer is a bytes.Buffer safe for a logger on the server's
// goroutines and a test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func bufLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// streamServer serves produce with media.Stream on a real HTTP/1.1
// server. Stream's result is sent on the returned channel.
func streamServer(t *testing.T, opts media.StreamOptions, produce func(ctx context.Context, w io.Writer) error) (*httptest.Server, <-chan error) {
	t.Helper()
	results := make(chan error, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				results <- fmt.Errorf("aborted: %v", v)
				panic(v)
			}
		}()
		results <- media.Stream(w, r, opts, func(w io.Writer) error { return produce(r.Context(), w) })
	}))
	t.Cleanup(srv.Close)
	return srv, results
}

// getResp sends a GET with a 10 s bound and returns the response.
func getResp(t *testing.T, url string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// readWithin reads exactly n bytes from r, failing the test if they do
// not arrive within d.
func readWithin(t *testing.T, r io.Reader, n int, d time.Duration) []byte {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		ch <- result{b, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("reading %d bytes: %v", n, res.err)
		}
		return res.b
	case <-time.After(d):
		t.Fatalf("%d bytes did not arrive within %v: they were not flushed", n, d)
	}
	return nil
}

func checkStreamHeaders(t *testing.T, resp *http.Response, ctype string) {
	t.Helper()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
		t.Errorf("Content-Length %q (%d): a stream has none", resp.Header.Get("Content-Length"), resp.ContentLength)
	}
	if resp.ProtoMajor == 1 && (len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked") {
		t.Errorf("Transfer-Encoding %v, want chunked", resp.TransferEncoding)
	}
	for k, want := range map[string]string{
		"Accept-Ranges":          "none",
		"X-Accel-Buffering":      "no",
		"X-Content-Type-Options": "nosniff",
		"Content-Type":           ctype,
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}

func TestStreamFirstChunkBeforeProducerEnds(t *testing.T) {
	release := make(chan struct{})
	srv, results := streamServer(t, media.StreamOptions{ContentType: "text/plain; charset=utf-8"},
		func(ctx context.Context, w io.Writer) error {
			if _, err := io.WriteString(w, "first line\n"); err != nil {
				return err
			}
			select {
			case <-release: // the client has the first line
			case <-ctx.Done():
				return ctx.Err()
			}
			_, err := io.WriteString(w, "second line\n")
			return err
		})
	resp := getResp(t, srv.URL)
	checkStreamHeaders(t, resp, "text/plain; charset=utf-8")
	if got := string(readWithin(t, resp.Body, 11, 5*time.Second)); got != "first line\n" {
		t.Fatalf("first chunk %q", got)
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second line\n" {
		t.Fatalf("rest %q, %v", rest, err)
	}
	if err := <-results; err != nil {
		t.Errorf("Stream returned %v for a complete body", err)
	}
}

func TestStreamFlushPolicy(t *testing.T) {
	tests := []struct {
		name  string
		opts  media.StreamOptions
		write string
	}{
		// A slow producer: 10 bytes, far below FlushBytes, then a wait.
		{"by time", media.StreamOptions{FlushBytes: 1 << 20, FlushInterval: 10 * time.Millisecond}, "ten bytes!"},
		// FlushBytes reached: sent at once though the timer is an hour.
		{"by bytes", media.StreamOptions{FlushBytes: 16, FlushInterval: time.Hour}, "sixteen bytes..!"},
		{"by bytes, over several writes", media.StreamOptions{FlushBytes: 16, FlushInterval: time.Hour}, "sixteen bytes..!" + "and seventeen!!!"},
		// The first chunk leaves at 4 KiB, whatever FlushBytes is.
		{"first chunk at 4 KiB", media.StreamOptions{FlushBytes: 1 << 20, FlushInterval: time.Hour}, strings.Repeat("0123456789abcdef", 256)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			srv, results := streamServer(t, tt.opts, func(ctx context.Context, w io.Writer) error {
				for i := 0; i < len(tt.write); i += 8 {
					if _, err := io.WriteString(w, tt.write[i:min(i+8, len(tt.write))]); err != nil {
						return err
					}
				}
				select {
				case <-release:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			resp := getResp(t, srv.URL)
			checkStreamHeaders(t, resp, "application/octet-stream")
			if got := string(readWithin(t, resp.Body, len(tt.write), 5*time.Second)); got != tt.write {
				t.Fatalf("got %q", got)
			}
			close(release)
			if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
				t.Fatalf("after release: %q, %v", rest, err)
			}
			if err := <-results; err != nil {
				t.Error(err)
			}
		})
	}
}

// TestStreamTimerRace has the timer flush and the producer's writes meet
// as often as possible; run it with -race. The body must arrive whole and
// in order.
func TestStreamTimerRace(t *testing.T) {
	var want bytes.Buffer
	for i := range 20000 {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	srv, results := streamServer(t, media.StreamOptions{FlushBytes: 100, FlushInterval: time.Microsecond},
		func(ctx context.Context, w io.Writer) error {
			data := want.Bytes()
			for i := 0; i < len(data); {
				n := min(1+i%37, len(data)-i)
				if _, err := w.Write(data[i : i+n]); err != nil {
					return err
				}
				i += n
				if i%997 == 0 {
					time.Sleep(10 * time.Microsecond)
				}
			}
			return nil
		})
	resp := getResp(t, srv.URL)
	got, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("body: %d bytes (want %d), %v", len(got), want.Len(), err)
	}
	if err := <-results; err != nil {
		t.Error(err)
	}
}

func TestStreamErrorBeforeFirstByte(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantBody   string
	}{
		{"any error", errors.New("db: connection refused to 10.0.0.9"), 500, "500 Internal Server Error\n"},
		{"not found", fmt.Errorf("no such export: %w", storage.ErrNotExist), 404, "404 not found\n"},
		{"forbidden", fmt.Errorf("export: %w", storage.ErrPermission), 403, "403 forbidden\n"},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), 504, "504 gateway timeout\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, logs := bufLogger()
			srv, results := streamServer(t, media.StreamOptions{Logger: log, Filename: "export.csv"},
				func(ctx context.Context, w io.Writer) error {
					io.WriteString(w, "a few buffered bytes that must never be seen\n")
					return tt.err
				})
			resp := getResp(t, srv.URL)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if resp.Header.Get("Content-Disposition") != "" || resp.Header.Get("X-Accel-Buffering") != "" ||
				resp.Header.Get("Content-Length") != fmt.Sprint(len(tt.wantBody)) {
				t.Errorf("error response headers: %v", resp.Header)
			}
			if err := <-results; !errors.Is(err, tt.err) {
				t.Errorf("Stream returned %v, want the producer's error", err)
			}
			if !strings.Contains(logs.String(), "failed before its first byte") {
				t.Errorf("no log line: %q", logs.String())
			}
		})
	}
}

func TestStreamErrorAfterFirstByte(t *testing.T) {
	log, logs := bufLogger()
	srv, results := streamServer(t, media.StreamOptions{Logger: log, FlushBytes: 8},
		func(ctx context.Context, w io.Writer) error {
			if _, err := io.WriteString(w, "row 1...row 2...row 3..."); err != nil {
				return err
			}
			return errors.New("db: cursor lost after three rows")
		})
	resp := getResp(t, srv.URL)
	body, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading the body: %q, %v; want unexpected EOF, never a clean end", body, err)
	}
	if string(body) != "row 1...row 2...row 3..." {
		t.Errorf("body before the abort: %q", body)
	}
	if err := <-results; err == nil || !strings.Contains(err.Error(), "abort") {
		t.Errorf("Stream: %v, want an abort", err)
	}
	if l := logs.String(); !strings.Contains(l, "aborting a streamed response") || !strings.Contains(l, "cursor lost") {
		t.Errorf("log: %q", l)
	}
}

// waitGoroutines waits up to 5 s for the number of goroutines to fall to
// base or below.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines, %d before the request:\n%s", runtime.NumGoroutine(), base, buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStreamClientDisconnect(t *testing.T) {
	cancelled := make(chan error, 1)
	srv, results := streamServer(t, media.StreamOptions{FlushBytes: 1024},
		func(ctx context.Context, w io.Writer) error {
			line := bytes.Repeat([]byte("x"), 100)
			for {
				if err := ctx.Err(); err != nil {
					cancelled <- err
					return err
				}
				if _, err := w.Write(line); err != nil {
					// A write can see the dead connection first; the
					// context is cancelled all the same.
					<-ctx.Done()
					cancelled <- ctx.Err()
					return err
				}
				time.Sleep(time.Millisecond)
			}
		})
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readWithin(t, resp.Body, 1024, 5*time.Second)
	cancel()
	resp.Body.Close()
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("producer saw %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the producer's context was not cancelled within 5 s of the client leaving")
	}
	<-results
	tr.CloseIdleConnections()
	waitGoroutines(t, base)
}

func TestStreamHEAD(t *testing.T) {
	called := false
	rec := httptest.NewRecorder()
	err := media.Stream(rec, httptest.NewRequest(http.MethodHead, "/x", nil), media.StreamOptions{ContentType: media.CSVType},
		func(w io.Writer) error { called = true; return nil })
	if err != nil || called || rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != media.CSVType {
		t.Errorf("HEAD: err %v, producer called %v, %d %q %v", err, called, rec.Code, rec.Body.String(), rec.Header())
	}
}

func TestStreamOptionsChecked(t *testing.T) {
	for _, o := range []media.StreamOptions{{FlushBytes: -1}, {FlushBytes: media.MaxFlushBytes + 1}, {FlushInterval: -time.Second}} {
		err := media.Stream(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), o, func(io.Writer) error { return nil })
		if err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	for _, o := range []media.Options{{FlushBytes: -1}, {FlushInterval: -1}, {FollowIdleTimeout: -1}, {UIURL: "/ui/#x"}} {
		if _, err := media.New(newMem(), o); err == nil {
			t.Errorf("media.New accepted %+v", o)
		}
	}
}

// An empty and a short body are chunked too (net/http would give a body
// it holds whole a Content-Length).
func TestStreamShortBodies(t *testing.T) {
	for _, body := range []string{"", "short"} {
		srv, results := streamServer(t, media.StreamOptions{}, func(ctx context.Context, w io.Writer) error {
			_, err := io.WriteString(w, body)
			return err
		})
		resp := getResp(t, srv.URL)
		checkStreamHeaders(t, resp, "application/octet-stream")
		got, err := io.ReadAll(resp.Body)
		if err != nil || string(got) != body {
			t.Errorf("body %q, %v; want %q", got, err, body)
		}
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
}

func TestStreamHTTP2(t *testing.T) {
	fail := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		media.Stream(w, r, media.StreamOptions{Logger: slog.New(slog.DiscardHandler)}, func(w io.Writer) error {
			for i := range 1000 {
				fmt.Fprintf(w, "row %d\n", i)
			}
			if r.URL.Query().Has("fail") {
				<-fail
				return errors.New("db: gone")
			}
			return nil
		})
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	c := srv.Client()
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || err != nil || !strings.HasPrefix(string(body), "row 0\n") || !strings.HasSuffix(string(body), "row 999\n") {
		t.Fatalf("HTTP/%d: %d bytes, %v", resp.ProtoMajor, len(body), err)
	}
	checkStreamHeaders(t, resp, "application/octet-stream")

	resp, err = c.Get(srv.URL + "?fail")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); line != "row 0\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(fail)
	if _, err := io.ReadAll(br); err == nil {
		t.Fatal("HTTP/2: an aborted stream read as a clean end")
	}
}

// rowsOf yields n rows, or fails with err after failAt rows (failAt >= 0).
func rowsOf(n, failAt int, err error) iter.Seq2[row, error] {
	return func(yield func(row, error) bool) {
		for i := range n {
			if i == failAt {
				yield(row{}, err)
				return
			}
			if !yield(row{ID: i, Name: fmt.Sprintf("name, \"%d\"", i), Score: float64(i) / 4}, nil) {
				return
			}
		}
	}
}

type row struct {
	ID    int     `json:"id"`
	Name  string  `json:"name"`
	Score float64 `json:"score"`
}

func TestStreamRows(t *testing.T) {
	const n = 10000
	var csvWant, jsonWant strings.Builder
	csvWant.WriteString("id,name,score\n")
	for i := range n {
		fmt.Fprintf(&csvWant, "%d,\"name, \"\"%d\"\"\",%g\n", i, i, float64(i)/4)
		fmt.Fprintf(&jsonWant, "{\"id\":%d,\"name\":\"name, \\\"%d\\\"\",\"score\":%g}\n", i, i, float64(i)/4)
	}
	record := func(dst []string, r row) []string {
		return append(dst, fmt.Sprint(r.ID), r.Name, fmt.Sprint(r.Score))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/csv", func(w http.ResponseWriter, r *http.Request) {
		media.StreamCSV(w, r, media.StreamOptions{Filename: "rows.csv"}, []string{"id", "name", "score"}, rowsOf(n, -1, nil), record)
	})
	mux.HandleFunc("/ndjson", func(w http.ResponseWriter, r *http.Request) {
		media.StreamNDJSON(w, r, media.StreamOptions{}, rowsOf(n, -1, nil))
	})
	errCursor := errors.New("db: cursor failed")
	mux.HandleFunc("/csv-fails-early", func(w http.ResponseWriter, r *http.Request) {
		media.StreamCSV(w, r, media.StreamOptions{Logger: slog.New(slog.DiscardHandler)}, nil, rowsOf(n, 3, errCursor), record)
	})
	mux.HandleFunc("/ndjson-fails-late", func(w http.ResponseWriter, r *http.Request) {
		media.StreamNDJSON(w, r, media.StreamOptions{Logger: slog.New(slog.DiscardHandler)}, rowsOf(n, n-1, errCursor))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, tc := range []struct {
		path, ctype, want string
	}{
		{"/csv", media.CSVType, csvWant.String()},
		{"/ndjson", media.NDJSONType, jsonWant.String()},
	} {
		resp := getResp(t, srv.URL+tc.path)
		checkStreamHeaders(t, resp, tc.ctype)
		got, err := io.ReadAll(resp.Body)
		if err != nil || sha256.Sum256(got) != sha256.Sum256([]byte(tc.want)) {
			t.Errorf("%s: %d bytes (want %d), %v; starts %.80q", tc.path, len(got), len(tc.want), err, got)
		}
	}
	if cd := getResp(t, srv.URL+"/csv").Header.Get("Content-Disposition"); cd != `attachment; filename="rows.csv"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	resp := getResp(t, srv.URL+"/csv-fails-early")
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 500 || string(body) != "500 Internal Server Error\n" {
		t.Errorf("error at row 3 (before the first flush): %d %q", resp.StatusCode, body)
	}
	resp = getResp(t, srv.URL+"/ndjson-fails-late")
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("error at the last row: %d, %d bytes, %v; want 200 and unexpected EOF", resp.StatusCode, len(body), err)
	}
}

// An object of unknown size whose read fails before the first flush gets
// a status; after it, an aborted transfer.
func TestStreamObjectReadError(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 16384)
	b := newMem()
	b.put("early.txt", &entry{data: data, size: -1, stream: true, failAfter: 100})
	b.put("late.txt", &entry{data: data, size: -1, stream: true, failAfter: 200000})
	srv := httptest.NewServer(newHandler(t, b, media.Options{}))
	defer srv.Close()
	resp := getResp(t, srv.URL+"/early.txt")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 502 || string(body) != "502 bad gateway\n" || resp.Header.Get("Accept-Ranges") != "" {
		t.Errorf("read error before the first flush: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp = getResp(t, srv.URL+"/late.txt")
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !errors.Is(err, io.ErrUnexpectedEOF) || !bytes.Equal(body, data[:len(body)]) || len(body) > 200000 {
		t.Errorf("read error after the first flush: %d, %d bytes, %v; want 200 and unexpected EOF", resp.StatusCode, len(body), err)
	}
}
