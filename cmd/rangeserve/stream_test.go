package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStreamConfig maps stream.* and follow.* onto every mount: a
// listing streams, ?follow=1 ends at follow.idle_timeout, and values media
// refuses fail at start-up.
func TestStreamConfig(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "dir", "sub"), 0o755)
	os.WriteFile(filepath.Join(root, "dir", "a.txt"), []byte("alpha"), 0o644)
	os.WriteFile(filepath.Join(root, "live.log"), []byte("line 1\n"), 0o644)
	cfg := fmt.Sprintf(`
stream:
  flush_bytes: 1KiB
  flush_interval: 5ms
follow:
  idle_timeout: 300ms
mounts:
  - {prefix: /m/, backend: local, root: %q, auth: public}
`, root)
	srv, _, _ := startApp(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	do := func(path string) (*http.Response, []byte, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp, body, err
	}
	resp, body, err := do("/m/dir/?format=ndjson")
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("listing: %d %v %q", resp.StatusCode, err, body)
	}
	var names []string
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		var e struct{ Name string }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name)
	}
	if len(names) != 2 {
		t.Errorf("listing: %q", names)
	}
	resp, body, err = do("/m/live.log?follow=1")
	if err != nil || resp.StatusCode != 200 || string(body) != "line 1\n" || resp.Header.Get("X-Accel-Buffering") != "no" {
		t.Errorf("follow: %d %v %q %v", resp.StatusCode, err, body, resp.Header)
	}

	for _, bad := range []string{"stream: {flush_bytes: 10MiB}", "stream: {flush_interval: -1s}", "follow: {idle_timeout: -1s}"} {
		c, err := parseConfig("bad.yaml", ".", []byte(bad+fmt.Sprintf("\nmounts:\n  - {prefix: /m/, backend: local, root: %q, auth: public}\n", root)))
		if err == nil {
			c.dir = "."
			var a *app
			a, err = newApp(context.Background(), c, discardLog(), nil, nil)
			if err == nil {
				a.Close()
			}
		}
		if err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
