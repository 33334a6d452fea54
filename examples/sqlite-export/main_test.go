package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/media"
)

var (
	dbOnce sync.Once
	dbPath string
	dbErr  error
)

// rowCount is the size of the test database: the million rows,
// 10,000 under -short.
func rowCount() int64 {
	if testing.Short() {
		return 10_000
	}
	return 1_000_000
}

// testDB creates the generated database once for the package's tests.
func testDB(t *testing.T) string {
	t.Helper()
	dbOnce.Do(func() {
		dir, err := tempDir()
		if err != nil {
			dbErr = err
			return
		}
		dbPath = filepath.Join(dir, "events.db")
		dbErr = createDB(context.Background(), dbPath, rowCount())
	})
	if dbErr != nil {
		t.Fatal(dbErr)
	}
	return dbPath
}

func server(t *testing.T) (*httptest.Server, func() int) {
	t.Helper()
	db, err := openDB(testDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	srv := httptest.NewServer(newHandler(db, media.StreamOptions{}))
	t.Cleanup(srv.Close)
	return srv, func() int { return db.Stats().InUse }
}

func fetch(t *testing.T, u string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.ContentLength != -1 || resp.Header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("%s: %d, Content-Length %d, %v", u, resp.StatusCode, resp.ContentLength, resp.Header)
	}
	return resp
}

func TestCSVEveryRow(t *testing.T) {
	srv, _ := server(t)
	resp := fetch(t, srv.URL+"/events.csv")
	if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); ct != media.CSVType || cd != `attachment; filename="events.csv"` {
		t.Errorf("Content-Type %q, Content-Disposition %q", ct, cd)
	}
	r := csv.NewReader(bufio.NewReaderSize(resp.Body, 64<<10))
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil || len(head) != 4 || head[0] != "id" || head[3] != "created" {
		t.Fatalf("header %q, %v", head, err)
	}
	n := int64(0)
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d rows: %v", n, err)
		}
		n++
		want := eventFor(n)
		if rec[0] != strconv.FormatInt(want.ID, 10) || rec[1] != want.Name || rec[2] != strconv.FormatFloat(want.Value, 'g', -1, 64) || rec[3] != want.Created {
			t.Fatalf("row %d: %q, want %+v", n, rec, want)
		}
	}
	if n != rowCount() {
		t.Fatalf("%d rows, want %d", n, rowCount())
	}
}

func TestNDJSONEveryRow(t *testing.T) {
	srv, _ := server(t)
	resp := fetch(t, srv.URL+"/events.ndjson")
	if ct := resp.Header.Get("Content-Type"); ct != media.NDJSONType {
		t.Errorf("Content-Type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	n := int64(0)
	for sc.Scan() {
		n++
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %d %q: %v", n, sc.Text(), err)
		}
		if e != eventFor(n) {
			t.Fatalf("line %d: %+v, want %+v", n, e, eventFor(n))
		}
	}
	if err := sc.Err(); err != nil || n != rowCount() {
		t.Fatalf("%d rows, %v; want %d", n, err, rowCount())
	}
}

// A client that leaves after the first rows cancels the query: the
// connection returns to the pool and no goroutine is left.
func TestClientLeaves(t *testing.T) {
	srv, inUse := server(t)
	tr := &http.Transport{DisableKeepAlives: true}
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events.ndjson", nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line == "" {
		t.Fatalf("first line %q, %v", line, err)
	}
	cancel()
	resp.Body.Close()
	tr.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for inUse() > 0 || runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("after the client left: %d connections in use, %d goroutines (%d before)", inUse(), runtime.NumGoroutine(), base)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sharedDir is a directory for the package's tests, removed by TestMain.
var sharedDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sqlite-export-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func tempDir() (string, error) {
	if sharedDir == "" {
		return "", errors.New("no shared temp dir (TestMain did not run)")
	}
	return sharedDir, nil
}
