package media_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/media"
)

// TestRedirectBoundedByGrant: a presigned URL never outlives the
// authorization that let the request in. Its lifetime is RedirectTTL cut
// to what is left of the Grant (whole seconds); with less than a second
// left, or a grant bound to one client (a presigned URL works for anyone
// who holds it), the handler serves the bytes itself. The redirect's
// Cache-Control never lets a browser reuse it past the URL's lifetime.
func TestRedirectBoundedByGrant(t *testing.T) {
	mem, files := fixture(t)
	video := files["video"]
	del := &delegatingBackend{memBackend: mem}
	const ttl = 10 * time.Minute
	h := newHandler(t, del, media.Options{Mode: media.ModeRedirect, RedirectTTL: ttl})
	now := time.Now()
	tests := []struct {
		name     string
		grant    *media.Grant
		rng      string
		redirect bool
		minTTL   time.Duration // when redirected: the lifetime presigned,
		maxTTL   time.Duration // between these bounds
		status   int           // when served here
	}{
		{name: "no grant", redirect: true, minTTL: ttl, maxTTL: ttl},
		{name: "grant without limits", grant: &media.Grant{}, redirect: true, minTTL: ttl, maxTTL: ttl},
		{name: "grant longer than the TTL", grant: &media.Grant{Until: now.Add(2 * time.Hour)}, redirect: true, minTTL: ttl, maxTTL: ttl},
		{name: "grant shorter than the TTL", grant: &media.Grant{Until: now.Add(5 * time.Minute)}, redirect: true,
			minTTL: 5*time.Minute - 5*time.Second, maxTTL: 5 * time.Minute},
		{name: "grant with 3s left", grant: &media.Grant{Until: now.Add(3500 * time.Millisecond)}, redirect: true,
			minTTL: time.Second, maxTTL: 3 * time.Second},
		{name: "grant with under 1s left", grant: &media.Grant{Until: now.Add(900 * time.Millisecond)}, status: 200},
		{name: "grant already over", grant: &media.Grant{Until: now.Add(-time.Minute)}, status: 200},
		{name: "client-bound grant", grant: &media.Grant{ClientBound: true, Until: now.Add(time.Hour)}, status: 200},
		{name: "client-bound grant, no end", grant: &media.Grant{ClientBound: true}, status: 200},
		{name: "client-bound grant with a range", grant: &media.Grant{ClientBound: true}, rng: "bytes=100-199", status: 206},
	}
	for _, tt := range tests {
		del.gotTTL = 0
		ctx := context.Background()
		if tt.grant != nil {
			ctx = media.WithGrant(ctx, *tt.grant)
		}
		var o media.Outcome
		ctx = media.WithOutcome(ctx, &o)
		r := httptest.NewRequestWithContext(ctx, "GET", "/video.mp4", nil)
		if tt.rng != "" {
			r.Header.Set("Range", tt.rng)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if !tt.redirect {
			want := video
			if tt.rng != "" {
				want = video[100:200]
			}
			if w.Code != tt.status || w.Header().Get("Location") != "" || sum(w.Body.Bytes()) != sum(want) || del.gotTTL != 0 {
				t.Errorf("%s: %d Location %q, %d body bytes, presigned for %v; want %d served here with no presigned URL",
					tt.name, w.Code, w.Header().Get("Location"), w.Body.Len(), del.gotTTL, tt.status)
			}
			if o.Strategy != media.StrategyServe {
				t.Errorf("%s: Strategy %q, want serve", tt.name, o.Strategy)
			}
			continue
		}
		if w.Code != 307 || o.Strategy != media.StrategyRedirect {
			t.Errorf("%s: %d (%s), want 307", tt.name, w.Code, o.Strategy)
			continue
		}
		if del.gotTTL < tt.minTTL || del.gotTTL > tt.maxTTL || del.gotTTL%time.Second != 0 {
			t.Errorf("%s: presigned for %v, want whole seconds in %v..%v", tt.name, del.gotTTL, tt.minTTL, tt.maxTTL)
		}
		loc, _ := url.Parse(w.Header().Get("Location"))
		if exp := loc.Query().Get("X-Amz-Expires"); exp != strconv.Itoa(int(del.gotTTL/time.Second)) {
			t.Errorf("%s: X-Amz-Expires %s for a TTL of %v", tt.name, exp, del.gotTTL)
		}
		cc := w.Header().Get("Cache-Control")
		if cc != "no-store" {
			age, err := strconv.Atoi(strings.TrimPrefix(cc, "private, max-age="))
			if err != nil || time.Duration(age)*time.Second > del.gotTTL/2 {
				t.Errorf("%s: Cache-Control %q outlives half the URL's lifetime %v", tt.name, cc, del.gotTTL)
			}
		}
	}
}

// TestRedirectDefaultTTL: the zero RedirectTTL is DefaultRedirectTTL, 15
// minutes (what the configuration documents), and the limit is the
// store's 7 days.
func TestRedirectDefaultTTL(t *testing.T) {
	if media.DefaultRedirectTTL != 15*time.Minute {
		t.Errorf("DefaultRedirectTTL = %v, want 15m", media.DefaultRedirectTTL)
	}
	mem, _ := fixture(t)
	del := &delegatingBackend{memBackend: mem}
	h := newHandler(t, del, media.Options{Mode: media.ModeRedirect})
	if w := serve(h, "GET", "/video.mp4", nil); w.Code != 307 || del.gotTTL != 15*time.Minute ||
		w.Header().Get("Cache-Control") != "private, max-age=450" {
		t.Errorf("zero RedirectTTL: %d, presigned for %v, Cache-Control %q; want 15m", w.Code, del.gotTTL, w.Header().Get("Cache-Control"))
	}
}
