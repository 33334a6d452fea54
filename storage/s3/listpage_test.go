package s3_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/s3"
)

// TestListing10k lists a prefix of 10,000 keys (files, "folders" and a
// hidden key, named so that S3's order and the order of names differ:
// "sub-1" < "sub.txt" < "sub/" by bytes) through the backend's List and
// ListPage and through media's NDJSON and JSON listings.
func TestListing10k(t *testing.T) {
	testenv.Short(t, "starts MinIO and puts 10,000 objects")
	m := testenv.StartMinIO(t)
	m.MakeBucket(t, bucket)
	c := m.Client(t)
	var keys []string
	var want []string // ListNames, as pages must return them
	for i := range 9985 {
		keys = append(keys, fmt.Sprintf("f%05d.txt", i))
		want = append(want, keys[len(keys)-1])
	}
	for i := range 10 {
		keys = append(keys, fmt.Sprintf("d%02d/inner.txt", i), fmt.Sprintf("d%02d/deeper/x", i))
		want = append(want, fmt.Sprintf("d%02d/", i))
	}
	keys = append(keys, "sub-1", "sub.txt", "sub/x", "vidéo 𝄞.mp4", ".hidden")
	want = append(want, "sub-1", "sub.txt", "sub/", "vidéo 𝄞.mp4", ".hidden")
	slices.Sort(want)
	if len(want) != 10000 {
		t.Fatalf("fixture has %d entries", len(want))
	}
	var g errgroup.Group
	g.SetLimit(32)
	for _, k := range keys {
		g.Go(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_, err := c.PutObject(ctx, bucket, "pre/big/"+k, strings.NewReader(k), int64(len(k)), minio.PutObjectOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("putting %d objects: %v", len(keys), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := s3.New(ctx, s3.Options{Endpoint: m.Endpoint, DisableTLS: true, Bucket: bucket, Prefix: "pre", AccessKey: m.AccessKey,
		SecretKey: m.SecretKey, PathStyle: true, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("List", func(t *testing.T) {
		var got []string
		for info, err := range b.List(ctx, "big") {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, storage.ListName(info))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("List: %d entries, want %d", len(got), len(want))
		}
	})

	t.Run("ListPage", func(t *testing.T) {
		for _, limit := range []int{1000, 333, 4999} {
			var got []string
			after := ""
			for pages := 0; ; pages++ {
				page, more, err := b.ListPage(ctx, "big", after, limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > limit || pages > 10000 {
					t.Fatalf("limit %d: %d entries in a page", limit, len(page))
				}
				for _, info := range page {
					got = append(got, storage.ListName(info))
				}
				if !more {
					break
				}
				after = storage.ListName(page[len(page)-1])
			}
			if !slices.Equal(got, want) {
				i := 0
				for i < min(len(got), len(want)) && got[i] == want[i] {
					i++
				}
				t.Errorf("limit %d: %d entries, want %d; first difference at %d", limit, len(got), len(want), i)
			}
		}
		if page, more, err := b.ListPage(ctx, "nothing-here", "", 10); err != nil || len(page) != 0 || more {
			t.Errorf("missing prefix: %v, %v, %v", page, more, err)
		}
	})

	h, err := media.New(b, media.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	visible := slices.DeleteFunc(slices.Clone(want), func(s string) bool { return strings.HasPrefix(s, ".") })

	t.Run("NDJSON", func(t *testing.T) {
		resp, err := http.Get(srv.URL + "/big/?format=ndjson")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != media.NDJSONType || resp.ContentLength != -1 {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
		var got []string
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var e struct {
				Name string `json:"name"`
				Dir  bool   `json:"dir"`
				Size *int64 `json:"size"`
			}
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("line %d %q: %v", len(got)+1, sc.Text(), err)
			}
			if !e.Dir && (e.Size == nil || *e.Size != int64(len(e.Name))) {
				t.Errorf("%q: size %v", e.Name, e.Size)
			}
			if e.Dir {
				e.Name += "/"
			}
			got = append(got, e.Name)
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if !slices.Equal(got, visible) {
			t.Errorf("NDJSON: %d entries, want %d (all but the hidden one)", len(got), len(visible))
		}
	})

	t.Run("JSON pages", func(t *testing.T) {
		var got []string
		cursor := ""
		for pages := 0; pages < 100; pages++ {
			u := srv.URL + "/big/?format=json&limit=1000"
			if cursor != "" {
				u += "&cursor=" + url.QueryEscape(cursor)
			}
			resp, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			var p struct {
				Path    string `json:"path"`
				Entries []struct {
					Name string `json:"name"`
					Dir  bool   `json:"dir"`
				} `json:"entries"`
				Next string `json:"next"`
			}
			err = json.NewDecoder(resp.Body).Decode(&p)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || p.Path != "/big/" {
				t.Fatalf("page %d: %d, %v, %q", pages, resp.StatusCode, err, p.Path)
			}
			for _, e := range p.Entries {
				if e.Dir {
					e.Name += "/"
				}
				got = append(got, e.Name)
			}
			if p.Next == "" {
				break
			}
			cursor = p.Next
		}
		if !slices.Equal(got, visible) {
			t.Errorf("pages: %d entries, want %d in order", len(got), len(visible))
		}
	})

	t.Run("missing prefix", func(t *testing.T) {
		for _, q := range []string{"?format=ndjson", "?format=json"} {
			resp, err := http.Get(srv.URL + "/nothing-here/" + q)
			if err != nil {
				t.Fatal(err)
			}
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 404 {
				t.Errorf("%s: %d %q", q, resp.StatusCode, body.String())
			}
		}
	})
}
