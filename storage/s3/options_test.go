package s3_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/storage/s3"
)

// firstByte starts a TCP listener on loopback and reports the first byte
// of the first connection it accepts: 0x16 is a TLS handshake record, a
// letter an HTTP request line.
func firstByte(t *testing.T) (addr string, got <-chan byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(ch)
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 1)
		if _, err := c.Read(b); err == nil {
			ch <- b[0]
		}
		close(ch)
	}()
	return ln.Addr().String(), ch
}

// TestTLSByDefault: the zero Options speak https to the store; plain http
// must be asked for with DisableTLS.
func TestTLSByDefault(t *testing.T) {
	for _, tt := range []struct {
		name    string
		disable bool
		tls     bool
	}{
		{"zero value", false, true},
		{"DisableTLS", true, false},
	} {
		addr, got := firstByte(t)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := s3.New(ctx, s3.Options{Endpoint: addr, Bucket: "bkt", Region: "us-east-1", PathStyle: true,
			MaxRetries: 1, Timeout: 2 * time.Second, DisableTLS: tt.disable})
		cancel()
		if err == nil {
			t.Fatalf("%s: New succeeded against a listener that answers nothing", tt.name)
		}
		var b byte
		var ok bool
		select {
		case b, ok = <-got:
		case <-time.After(3 * time.Second):
		}
		if !ok {
			t.Fatalf("%s: no request reached the endpoint (err %v)", tt.name, err)
		}
		if isTLS := b == 0x16; isTLS != tt.tls {
			t.Errorf("%s: first byte %#x: TLS=%v, want %v", tt.name, b, isTLS, tt.tls)
		}
	}
}

// fakeStore answers the HEAD requests of s3.New (bucket) and Stat
// (object) the way S3 does, and counts the object HEADs.
func fakeStore(t *testing.T) (endpoint string, heads *atomic.Int64) {
	t.Helper()
	heads = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodHead && strings.TrimSuffix(r.URL.Path, "/") == "/bkt":
			w.WriteHeader(http.StatusOK)
		case r.Method == http.MethodHead && r.URL.Path == "/bkt/obj.bin":
			heads.Add(1)
			w.Header().Set("Content-Length", "10")
			w.Header().Set("ETag", `"abc"`)
			w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
			w.Header().Set("Content-Type", "video/mp4")
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), heads
}

// TestOptionsDefaults: zero StatTTL is DefaultStatTTL (a burst of Stats
// costs one HEAD), NoStatCache turns the cache off, and values out of
// range are refused with a message naming the field.
func TestOptionsDefaults(t *testing.T) {
	for _, tt := range []struct {
		name      string
		statTTL   time.Duration
		wantHeads int64
	}{
		{"zero StatTTL", 0, 1},
		{"NoStatCache", s3.NoStatCache, 3},
		{"explicit", time.Minute, 1},
	} {
		endpoint, heads := fakeStore(t)
		b, err := s3.New(context.Background(), s3.Options{Endpoint: endpoint, Bucket: "bkt", Region: "us-east-1", PathStyle: true,
			DisableTLS: true, StatTTL: tt.statTTL})
		if err != nil {
			t.Fatalf("%s: New: %v", tt.name, err)
		}
		for range 3 {
			if info, err := b.Stat(context.Background(), "obj.bin"); err != nil || info.Size != 10 {
				t.Fatalf("%s: Stat = %+v, %v", tt.name, info, err)
			}
		}
		if n := heads.Load(); n != tt.wantHeads {
			t.Errorf("%s: 3 Stats in a row made %d HEAD requests, want %d", tt.name, n, tt.wantHeads)
		}
	}
	if s3.DefaultStatTTL != time.Second || s3.DefaultTimeout != 30*time.Second {
		t.Errorf("DefaultStatTTL %v, DefaultTimeout %v; want 1s and 30s", s3.DefaultStatTTL, s3.DefaultTimeout)
	}

	endpoint, _ := fakeStore(t)
	for _, tt := range []struct {
		opts    s3.Options
		mention string
	}{
		{s3.Options{StatTTL: s3.MaxStatTTL + time.Second}, "StatTTL"},
		{s3.Options{StatTTL: -2 * time.Second}, "StatTTL"},
		{s3.Options{Timeout: -time.Second}, "Timeout"},
		{s3.Options{MaxRetries: -1}, "MaxRetries"},
	} {
		o := tt.opts
		o.Endpoint, o.Bucket, o.Region, o.PathStyle, o.DisableTLS = endpoint, "bkt", "us-east-1", true, true
		if _, err := s3.New(context.Background(), o); err == nil || !strings.Contains(err.Error(), tt.mention) || errors.Is(err, context.Canceled) {
			t.Errorf("New(%+v) err = %v, want one naming %s", tt.opts, err, tt.mention)
		}
	}
	if _, err := s3.New(context.Background(), s3.Options{Endpoint: "https://" + endpoint, Bucket: "bkt"}); err == nil || !strings.Contains(err.Error(), "DisableTLS") {
		t.Errorf("endpoint with a scheme: err = %v, want one pointing at DisableTLS", err)
	}
}
