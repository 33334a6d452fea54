package media_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/media"
)

// appender writes steps to path, each after wait() returns.
func appender(t *testing.T, path string, steps [][]byte, wait func(i int)) <-chan struct{} {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer f.Close()
		for i, s := range steps {
			wait(i)
			if _, err := f.Write(s); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	return done
}

func TestFollowHTTP(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "live.ts")
	want := bytes.Repeat([]byte("head"), 50000)
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	var steps [][]byte
	for i := range 15 {
		s := bytes.Repeat([]byte{byte('A' + i)}, 1+i*3001)
		steps = append(steps, s)
		want = append(want, s...)
	}
	srv := httptest.NewServer(newHandler(t, localBackend(t, root), media.Options{FollowIdleTimeout: 700 * time.Millisecond}))
	defer srv.Close()
	resp := getResp(t, srv.URL+"/live.ts?follow=1")
	checkStreamHeaders(t, resp, "video/mp2t")
	for _, k := range []string{"Etag", "Last-Modified", "Content-Range"} {
		if resp.Header.Get(k) != "" {
			t.Errorf("%s sent for a growing file", k)
		}
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	// The client has the file's head before anything is appended.
	first := readWithin(t, resp.Body, 200000, 10*time.Second)
	done := appender(t, path, steps, func(int) { time.Sleep(30 * time.Millisecond) })
	rest, err := io.ReadAll(resp.Body) // a clean end at the idle timeout
	<-done
	got := append(first, rest...)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%d bytes, %v; want %d bytes, every append in order", len(got), err, len(want))
	}
}

func TestFollowDisconnect(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "rec.ts"), []byte("some bytes\n"), 0o644)
	log, logs := bufLogger()
	srv := httptest.NewServer(newHandler(t, localBackend(t, root), media.Options{FollowIdleTimeout: time.Hour, Logger: log}))
	defer srv.Close()
	tr := &http.Transport{DisableKeepAlives: true}
	base, fds := runtime.NumGoroutine(), openFDs()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/rec.ts?follow=1", nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readWithin(t, resp.Body, 11, 10*time.Second)
	cancel()
	resp.Body.Close()
	tr.CloseIdleConnections()
	// The reader waits for an hour-long idle timeout: only the client's
	// leaving can end it.
	waitGoroutines(t, base)
	deadline := time.Now().Add(5 * time.Second)
	for openFDs() > fds && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := openFDs(); n > fds {
		t.Errorf("%d descriptors open, %d before the request: the followed file or its watch leaked", n, fds)
	}
	if !strings.Contains(logs.String(), "aborting a streamed response") {
		t.Errorf("no log line for the abandoned stream:\n%s", logs.String())
	}
}

// openFDs counts this process's open descriptors (-1 without /proc).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func TestFollowRequests(t *testing.T) {
	b, files := fixture(t)
	mem := newHandler(t, b, media.Options{})
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "done.txt"), []byte("finished"), 0o644)
	loc := newHandler(t, localBackend(t, root), media.Options{FollowIdleTimeout: 50 * time.Millisecond})
	for _, tc := range []struct {
		h          http.Handler
		method     string
		target     string
		wantStatus int
		wantBody   string
		wantLength string
	}{
		{mem, "GET", "/video.mp4?follow=1", 400, "400 follow needs a local file\n", "30"},
		{mem, "GET", "/video.mp4?follow=0", 206, string(files["video"][:2]), "2"}, // Range applies again
		{mem, "GET", "/video.mp4?follow=yes", 400, "400 follow must be 1 or 0\n", "26"},
		{loc, "GET", "/done.txt?follow=1", 200, "finished", ""},
		{loc, "GET", "/done.txt?follow=true", 200, "finished", ""},
		{loc, "HEAD", "/done.txt?follow=1", 200, "", ""},
		{loc, "GET", "/missing.txt?follow=1", 404, "404 not found\n", "14"},
		{loc, "GET", "/?follow=1", 404, "404 not found\n", "14"},
	} {
		w := serve(tc.h, tc.method, tc.target, map[string]string{"Range": "bytes=0-1"})
		if w.Code != tc.wantStatus || w.Body.String() != tc.wantBody || w.Header().Get("Content-Length") != tc.wantLength {
			t.Errorf("%s %s: %d %.40q (Content-Length %q), want %d %.40q (%q)", tc.method, tc.target, w.Code, w.Body.String(),
				w.Header().Get("Content-Length"), tc.wantStatus, tc.wantBody, tc.wantLength)
		}
	}
}

// TestFollowFFmpeg follows a recording that ffmpeg writes in real time:
// the client starts while ffmpeg is still writing, gets every byte in
// order, and ffprobe reads what it saved.
func TestFollowFFmpeg(t *testing.T) {
	ffmpeg := testenv.Require(t, "ffmpeg")
	ffprobe := testenv.Require(t, "ffprobe")
	root := t.TempDir()
	rec := filepath.Join(root, "rec.ts")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "4",
		"-c:v", "mpeg2video", "-b:v", "800k", "-flush_packets", "1", "-f", "mpegts", rec)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ffmpegDone := make(chan error, 1)
	go func() { ffmpegDone <- cmd.Wait() }()
	for {
		if fi, err := os.Stat(rec); err == nil && fi.Size() > 0 {
			break
		}
		select {
		case err := <-ffmpegDone:
			t.Fatalf("ffmpeg ended before writing: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	srv := httptest.NewServer(newHandler(t, localBackend(t, root), media.Options{FollowIdleTimeout: 3 * time.Second}))
	defer srv.Close()
	resp := getResp(t, srv.URL+"/rec.ts?follow=1")
	checkStreamHeaders(t, resp, "video/mp2t")
	br := bufio.NewReader(resp.Body)
	if _, err := br.Peek(188); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ffmpegDone:
		t.Fatal("the first bytes arrived after ffmpeg had finished: the test proves nothing (a slow machine?)")
	default:
	}
	saved := filepath.Join(t.TempDir(), "saved.ts")
	out, err := os.Create(saved)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, br); err != nil {
		t.Fatalf("following: %v", err)
	}
	out.Close()
	if err := <-ffmpegDone; err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, stderr.String())
	}
	a, _ := os.ReadFile(rec)
	b, _ := os.ReadFile(saved)
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Fatalf("saved %d bytes, the recording has %d: they differ", len(b), len(a))
	}
	o, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-show_entries", "format=format_name,duration",
		"-of", "default=nw=1", saved).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, o)
	}
	var dur float64
	for _, l := range strings.Split(string(o), "\n") {
		if v, ok := strings.CutPrefix(l, "duration="); ok {
			dur, _ = strconv.ParseFloat(v, 64)
		}
	}
	if !strings.Contains(string(o), "format_name=mpegts") || dur < 3.5 || dur > 4.5 {
		t.Errorf("ffprobe of the saved recording: %s (want mpegts, about 4 s)", o)
	}
}

// TestFollowThroughNginx puts nginx with the README's proxy_pass (and
// nginx's default proxy_buffering on) in front of the handler: the first
// chunk of a ?follow=1 stream reaches the client while the file is still
// growing, because the response says X-Accel-Buffering: no.
func TestFollowThroughNginx(t *testing.T) {
	testenv.Require(t, "nginx")
	root := t.TempDir()
	path := filepath.Join(root, "live.log")
	os.WriteFile(path, []byte("first chunk\n"), 0o644)
	// The stream ends 5 s after the last append; the client reads the
	// first chunk, then the file grows, then the client reads the second
	// chunk and leaves. Had nginx held the response back, the first chunk
	// would arrive only with the end of the stream, and the second never.
	srv := httptest.NewServer(newHandler(t, localBackend(t, root), media.Options{FollowIdleTimeout: 5 * time.Second}))
	defer srv.Close()
	// The README's configuration, verbatim but for the port.
	ngx := testenv.StartNginx(t, testenv.NginxConfig{ServerBlock: fmt.Sprintf(`location / {
    proxy_pass http://%s;
    proxy_set_header X-Forwarded-For $remote_addr;
}`, srv.Listener.Addr())})
	resp := getResp(t, ngx.URL+"/live.log?follow=1")
	if resp.StatusCode != 200 || resp.Header.Get("X-Accel-Buffering") != "" {
		t.Fatalf("status %d, X-Accel-Buffering %q (nginx consumes it)\n%s", resp.StatusCode, resp.Header.Get("X-Accel-Buffering"), ngx.ErrorLog())
	}
	br := bufio.NewReader(resp.Body)
	if l, err := br.ReadString('\n'); l != "first chunk\n" {
		t.Fatalf("first line %q, %v", l, err)
	}
	done := appender(t, path, [][]byte{[]byte("second chunk\n")}, func(int) {})
	<-done
	if l, err := br.ReadString('\n'); l != "second chunk\n" {
		t.Fatalf("second line %q, %v: the stream had ended before the file grew, so nginx held the first chunk back", l, err)
	}
	resp.Body.Close() // nginx then drops the upstream connection: the follower stops
}
