package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/gorilla/mux"

	"github.com/rangeserve/rangeserve/auth"
	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/rangeio"
	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/local"
	"github.com/rangeserve/rangeserve/storage/s3"
)

// app is the server assembled from a config: backends, auth and the
// router. It is what cmd owns; every piece comes from a library package.
type app struct {
	cfg     *Config
	log     *slog.Logger
	cache   *rangeio.Cache
	signer  *auth.Signer
	tokens  *auth.Tokens
	guard   *auth.Guard
	mounts  []*mount
	closers []io.Closer
	handler http.Handler
}

// mount serves one URL prefix: it cleans the key once, authorizes it, and
// hands it to media.
type mount struct {
	prefix string
	policy auth.Policy
	guard  *auth.Guard
	media  *media.Handler
	log    *slog.Logger
}

func (m *mount) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, err := storage.CleanKey(strings.TrimPrefix(r.URL.Path, m.prefix))
	if err != nil {
		m.log.Info("refused key", "mount", m.prefix, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		http.Error(w, "404 not found", http.StatusNotFound)
		return
	}
	if !m.guard.Authorize(w, r, m.policy, m.prefix, key) {
		return
	}
	m.media.ServeKey(w, r, key)
}

// newApp builds the server's handler from cfg, logging to log and, one
// line per request, to access. Start-up checks (a missing
// root, an unreachable bucket, rejected credentials) fail here, naming the
// mount.
func newApp(ctx context.Context, cfg *Config, log *slog.Logger, access *accessSink) (*app, error) {
	a := &app{cfg: cfg, log: log}
	ra := *cfg.Cache.ReadAhead
	if ra == 0 { // the config's "off"; rangeio reads 0 as its default
		ra = rangeio.NoReadAhead
	}
	a.cache = rangeio.NewCache(rangeio.CacheConfig{
		BlockSize: int64(cfg.Cache.BlockSize),
		MaxBytes:  int64(cfg.Cache.MaxBytes),
		ReadAhead: ra,
	})
	if err := a.buildAuth(); err != nil {
		return nil, err
	}
	// Longest prefix first, so /media/private/ wins over /media/.
	order := make([]int, len(cfg.Mounts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool {
		return len(cfg.Mounts[order[i]].Prefix) > len(cfg.Mounts[order[j]].Prefix)
	})
	// /api/ goes to gorilla/mux, which matches methods and paths for the
	// API; files go straight to their mount (longest prefix first), which
	// costs a string comparison per mount instead of mux's route matching
	// and two request copies per request.
	api := mux.NewRouter()
	// Keys are cleaned once, by storage.CleanKey; mux must not rewrite or
	// redirect paths on its own.
	api.SkipClean(true)
	api.HandleFunc("/api/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	}).Methods(http.MethodGet, http.MethodHead)
	if a.signer != nil {
		prefixes := a.mountPrefixes()
		links, err := auth.NewLinksHandler(auth.LinksOptions{
			Signer:     a.signer,
			ValidMount: func(m string) bool { return slices.Contains(prefixes, m) },
			CleanKey:   storage.CleanKey,
			Logger:     log,
		})
		if err != nil {
			return nil, err
		}
		api.Handle("/api/links", a.guard.RequireAdmin(links)).Methods(http.MethodPost)
	}
	api.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "404 not found: no such API endpoint", http.StatusNotFound)
	})
	for _, i := range order {
		mc := &cfg.Mounts[i]
		m, err := a.buildMount(ctx, mc)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("mounts[%d] (%s): %w", i, mc.Prefix, err)
		}
		a.mounts = append(a.mounts, m)
	}
	var h http.Handler = &router{api: api, mounts: a.mounts}
	if *cfg.Log.Access && access != nil {
		h = accessLog(access, h)
	}
	a.handler = h
	return a, nil
}

func (a *app) mountPrefixes() []string {
	var ps []string
	for _, m := range a.cfg.Mounts {
		ps = append(ps, m.Prefix)
	}
	return ps
}

func (a *app) buildAuth() error {
	c := a.cfg.Auth
	if len(c.Keys) > 0 {
		keys := make([]auth.Key, len(c.Keys))
		for i, k := range c.Keys {
			keys[i] = auth.Key{ID: k.ID, Secret: []byte(k.Secret)}
		}
		s, err := auth.NewSigner(keys, auth.SignerOptions{
			Skew:     c.ClockSkew,
			Grace:    *c.PlaybackGrace,
			MaxGrace: c.MaxGrace,
		})
		if err != nil {
			return fmt.Errorf("auth.keys: %w", err)
		}
		a.signer = s
	}
	if len(c.Tokens) > 0 {
		toks := make([]auth.Token, len(c.Tokens))
		for i, t := range c.Tokens {
			toks[i] = auth.Token{Name: t.Name, SHA256: t.SHA256, Mounts: t.Mounts, Admin: t.Admin}
		}
		t, err := auth.NewTokens(toks)
		if err != nil {
			return fmt.Errorf("auth.tokens: %w", err)
		}
		a.tokens = t
	}
	a.guard = auth.NewGuard(auth.GuardOptions{
		Signer:        a.signer,
		Tokens:        a.tokens,
		Logger:        a.log,
		ClientIP:      clientIP(a.cfg.Server.trusted),
		SecureCookies: c.SecureCookies,
	})
	return nil
}

func (a *app) buildMount(ctx context.Context, mc *Mount) (*mount, error) {
	policy, err := auth.ParsePolicy(mc.Auth)
	if err != nil {
		return nil, err
	}
	var b storage.Backend
	switch mc.Backend {
	case "local":
		lb, err := local.New(local.Options{
			Root:           a.cfg.path(mc.Root),
			FollowSymlinks: mc.FollowSymlinks,
		})
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, lb)
		b = lb
	case "s3":
		sc := mc.S3
		opts := s3.Options{
			Endpoint:   sc.Endpoint,
			Bucket:     sc.Bucket,
			Prefix:     sc.Prefix,
			Region:     sc.Region,
			DisableTLS: !*sc.TLS,
			PathStyle:  sc.PathStyle,
			AccessKey:  sc.AccessKey,
			SecretKey:  sc.SecretKey,
			Timeout:    sc.Timeout,
			StatTTL:    *sc.StatTTL,
		}
		if opts.StatTTL == 0 { // the config's "0s": a HEAD per request
			opts.StatTTL = s3.NoStatCache
		}
		if *sc.Cache {
			opts.Cache = a.cache
		}
		sb, err := s3.New(ctx, opts)
		if err != nil {
			return nil, err
		}
		b = sb
	default:
		return nil, errors.New("unknown backend " + mc.Backend)
	}
	h, err := media.New(b, media.Options{
		CacheControl:   mc.CacheControl,
		MaxRanges:      mc.MaxRanges,
		Mode:           media.Mode(mc.Mode),
		InternalPrefix: mc.XAccel.InternalPrefix,
		AccelBuffering: mc.XAccel.Buffering,
		AccelLimitRate: mc.XAccel.LimitRate,
		RedirectTTL:    mc.RedirectTTL,
		AllowHidden:    mc.AllowHidden,
		Logger:         a.log.With("mount", mc.Prefix),
	})
	if err != nil {
		return nil, err
	}
	return &mount{prefix: mc.Prefix, policy: policy, guard: a.guard, media: h, log: a.log}, nil
}

// router dispatches requests: /api/ to the API, anything else to the
// mount with the longest prefix of the path (config validation keeps
// mounts out of /api/), else 404.
type router struct {
	api    http.Handler
	mounts []*mount // longest prefix first
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if strings.HasPrefix(p, "/api/") {
		rt.api.ServeHTTP(w, r)
		return
	}
	for _, m := range rt.mounts {
		if strings.HasPrefix(p, m.prefix) {
			m.ServeHTTP(w, r)
			return
		}
	}
	http.Error(w, "404 not found", http.StatusNotFound)
}

// Handler is the whole server's http.Handler.
func (a *app) Handler() http.Handler { return a.handler }

// Close releases the backends.
func (a *app) Close() error {
	var errs []error
	for _, c := range a.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// clientIP returns the client's address: the peer's, or, when the peer is
// a trusted proxy, the right-most X-Forwarded-For entry that is not itself
// a trusted proxy.
func clientIP(trusted []netip.Prefix) func(*http.Request) netip.Addr {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) netip.Addr {
		peer := auth.RemoteIP(r)
		if !peer.IsValid() || !isTrusted(peer) {
			return peer
		}
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				return peer
			}
			if !isTrusted(a) {
				return a.Unmap()
			}
		}
		return peer
	}
}
