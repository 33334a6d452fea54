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
	"strings"
	"sync"

	"github.com/gorilla/mux"

	"github.com/rangeserve/rangeserve/accesslog"
	"github.com/rangeserve/rangeserve/auth"
	"github.com/rangeserve/rangeserve/cors"
	"github.com/rangeserve/rangeserve/health"
	"github.com/rangeserve/rangeserve/limits"
	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/metrics"
	"github.com/rangeserve/rangeserve/rangeio"
	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/local"
	"github.com/rangeserve/rangeserve/storage/s3"
)

// app is the server assembled from a config: backends, auth, limits and
// the router. It is what cmd owns; every piece comes from a library
// package. A reload (SIGHUP) builds a new app and swaps it in whole.
type app struct {
	cfg     *Config
	log     *slog.Logger
	met     *metrics.Metrics // nil when metrics are off
	cache   *rangeio.Cache
	signer  *auth.Signer
	tokens  *auth.Tokens
	guard   *auth.Guard
	limiter *limits.Limiter
	mounts  []route
	probes  map[string]health.Probe // readiness probe per mount
	closers []io.Closer
	handler http.Handler
}

// route is one mount as the router sees it: its CORS policy (nil when
// none) and the guarded media handler.
type route struct {
	prefix string
	cors   *cors.Policy
	h      auth.KeyHandler // guard.Protect(serveMedia(media.Handler))
}

// serveMedia serves an authorized key with h, bounded by the grant of the
// link that admitted the request, if one did (media.WithGrant: a
// presigned URL must not outlive the link), and reports the strategy
// media used to the access log and the metrics.
func serveMedia(h *media.Handler) auth.KeyHandler {
	return auth.KeyHandlerFunc(func(w http.ResponseWriter, r *http.Request, key string) {
		var o media.Outcome
		ctx := media.WithOutcome(r.Context(), &o)
		if g, ok := auth.GrantFrom(ctx); ok {
			ctx = media.WithGrant(ctx, media.Grant{Until: g.Until, ClientBound: g.ClientBound, OneObject: g.OneObject})
		}
		h.ServeKey(w, r.WithContext(ctx), key)
		accesslog.SetStrategy(w, string(o.Strategy))
		metrics.SetStrategy(w, string(o.Strategy))
	})
}

// newApp builds the server's handler from cfg, logging to log and, one
// line per request, to access. Start-up checks (a missing
// root, an unreachable bucket, rejected credentials) fail here, naming the
// mount.
//
// met, when not nil, receives the metrics of the app's requests, backends
// and link verifications; it outlives the app (reloads keep adding to it).
func newApp(ctx context.Context, cfg *Config, log *slog.Logger, access *accesslog.Sink, met *metrics.Metrics) (*app, error) {
	a := &app{cfg: cfg, log: log, met: met, probes: map[string]health.Probe{}}
	copts := cfg.Cache.options()
	if dir := cfg.Cache.Disk.Dir; dir != "" {
		d, err := acquireDisk(rangeio.DiskConfig{Dir: cfg.path(dir), MaxBytes: int64(cfg.Cache.Disk.MaxBytes)})
		if err != nil {
			return nil, fmt.Errorf("cache.disk: %w", err)
		}
		a.closers = append(a.closers, d)
		copts.Disk = d.d
	}
	a.cache = rangeio.NewCache(copts)
	if err := a.buildAuth(); err != nil {
		a.Close()
		return nil, err
	}
	lo := cfg.limitsOptions()
	lo.ClientIP = clientIP(cfg.Server.trusted)
	lo.Logger = log
	lim, err := limits.New(lo)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	a.limiter = lim
	// /api/ goes to gorilla/mux, which matches methods and paths for the
	// API; files go straight to their mount (mountIndex), which costs a
	// string comparison per mount instead of mux's route matching and two
	// request copies per request.
	api := mux.NewRouter()
	// Keys are cleaned once, by storage.CleanKey; mux must not rewrite or
	// redirect paths on its own.
	api.SkipClean(true)
	api.HandleFunc("/api/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	}).Methods(http.MethodGet, http.MethodHead)
	a.routeUI(api)
	index := newMountIndex(a.mountPrefixes())
	if a.signer != nil {
		links, err := auth.NewLinksHandler(auth.LinksOptions{
			Signer: a.signer,
			Mount:  a.linkMount(index),
			Logger: log,
		})
		if err != nil {
			a.Close()
			return nil, err
		}
		api.Handle("/api/links", a.guard.RequireAdmin(links)).Methods(http.MethodPost)
	}
	api.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "404 not found: no such API endpoint", http.StatusNotFound)
	})
	api.MethodNotAllowedHandler = methodNotAllowed(api)
	for i := range cfg.Mounts {
		mc := &cfg.Mounts[i]
		m, err := a.buildMount(ctx, i, mc, index.shadowed(i))
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("mounts[%d] (%s): %w", i, mc.Prefix, err)
		}
		a.mounts = append(a.mounts, m)
	}
	cfg.warnShadowed(log)
	var h http.Handler = &router{api: api, ui: a.uiHandler(), mounts: a.mounts, index: index, limiter: a.limiter, log: log}
	if *cfg.Log.Access && access != nil {
		h = accesslog.Handler(access, h)
	}
	if met != nil {
		h = met.Middleware(mountNone, h)
	}
	a.handler = h
	return a, nil
}

// mountNone and mountAPI are the metrics' mount labels of requests that
// reach no mount and of the API's.
const (
	mountNone = "none"
	mountAPI  = "/api/"
)

func (a *app) mountPrefixes() []string {
	var ps []string
	for _, m := range a.cfg.Mounts {
		ps = append(ps, m.Prefix)
	}
	return ps
}

// linkMount is auth.LinksOptions.Mount: the policy of the mount a link is
// asked for, when the router sends the link's path to that mount.
func (a *app) linkMount(index *mountIndex) func(mount, subject string) (auth.Policy, error) {
	return func(mount, subject string) (auth.Policy, error) {
		name := strings.Trim(mount, "/")
		known := slices.ContainsFunc(a.cfg.Mounts, func(m Mount) bool { return strings.Trim(m.Prefix, "/") == name })
		if !known {
			return 0, errors.New("unknown mount")
		}
		i, _, err := index.lookup("/" + name + "/" + subject)
		if err != nil {
			return 0, errors.New("bad key: it is not a path of this mount")
		}
		if got := a.cfg.Mounts[i].Prefix; strings.Trim(got, "/") != name {
			return 0, fmt.Errorf("mount %s does not serve this key: mount %s does; ask for a link there", mount, got)
		}
		return auth.ParsePolicy(a.cfg.Mounts[i].Auth)
	}
}

// methodNotAllowed answers a request whose path an API route matches with
// another method: 405 with Allow listing the methods that route takes
// (RFC 9110 §15.5.6).
func methodNotAllowed(api *mux.Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		_ = api.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
			methods, err := route.GetMethods()
			if err != nil {
				return nil
			}
			for _, m := range methods {
				probe := r.Clone(r.Context())
				probe.Method = m
				if route.Match(probe, &mux.RouteMatch{}) && !slices.Contains(allow, m) {
					allow = append(allow, m)
				}
			}
			return nil
		})
		w.Header().Set("Allow", strings.Join(allow, ", "))
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
	})
}

func (a *app) buildAuth() error {
	c := a.cfg.Auth
	if keys, opts := a.cfg.signerOptions(); len(keys) > 0 {
		s, err := auth.NewSigner(keys, opts)
		if err != nil {
			return fmt.Errorf("auth.keys: %w", err)
		}
		a.signer = s
	}
	if len(c.Tokens) > 0 {
		t, err := auth.NewTokens(a.cfg.tokens())
		if err != nil {
			return fmt.Errorf("auth.tokens: %w", err)
		}
		a.tokens = t
	}
	opts := auth.GuardOptions{
		Signer:        a.signer,
		Tokens:        a.tokens,
		Logger:        a.log,
		ClientIP:      clientIP(a.cfg.Server.trusted),
		SecureCookies: c.SecureCookies,
	}
	if a.met != nil {
		opts.LinkVerified = a.met.LinkVerified
	}
	a.guard = auth.NewGuard(opts)
	return nil
}

// buildMount builds a mount's backend and media handler, behind the
// guard: the router hands it the key, which auth authorizes before media
// serves it. shadowed are the keys other mounts serve (mountIndex.shadowed).
func (a *app) buildMount(ctx context.Context, i int, mc *Mount, shadowed []string) (route, error) {
	p := fmt.Sprintf("mounts[%d]", i)
	policy, err := auth.ParsePolicy(mc.Auth)
	if err != nil {
		return route{}, err
	}
	var b storage.Backend
	switch mc.Backend {
	case "local":
		lb, err := local.New(local.Options{
			Root:           a.cfg.path(mc.Root),
			FollowSymlinks: mc.FollowSymlinks,
			Cache:          mc.OpenFiles.localCache(),
		})
		if err != nil {
			return route{}, err
		}
		a.closers = append(a.closers, lb)
		a.probes["mount "+mc.Prefix] = lb.Probe
		b = lb
	case "s3":
		sc := mc.S3
		opts := a.cfg.s3Options(p+".s3", sc)
		if sc.Cache == nil || *sc.Cache {
			opts.Cache = a.cache
		}
		if a.met != nil {
			opts.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return a.met.Transport(mc.Prefix, rt) }
		}
		sb, err := s3.New(ctx, opts)
		if err != nil {
			return route{}, err
		}
		a.probes["mount "+mc.Prefix] = sb.Probe
		b = sb
	default:
		return route{}, errors.New("unknown backend " + mc.Backend)
	}
	if a.met != nil {
		b = a.met.Backend(mc.Prefix, b)
	}
	opts := mc.mediaOptions()
	a.cfg.streamOptions(&opts)
	opts.UIURL = uiPath
	opts.Shadowed = shadowed
	opts.Logger = a.log.With("mount", mc.Prefix)
	h, err := media.New(b, opts)
	if err != nil {
		return route{}, err
	}
	co := a.cfg.corsOptions(p, mc)
	co.Logger = a.log
	cp, err := cors.New(co)
	if err != nil {
		return route{}, fmt.Errorf("cors: %w", err)
	}
	return route{prefix: mc.Prefix, cors: cp, h: a.guard.Protect(serveMedia(h), policy, mc.Prefix)}, nil
}

// router dispatches requests: /api/ to the API, /ui/ to the web UI,
// anything else to the mount mountIndex chooses from the cleaned path
// (config validation keeps mounts out of /api/ and /ui/), else 404. A
// browser asking for a folder goes to the UI (folderPage). A mount's
// request goes through its CORS policy (which answers preflights itself),
// then the limiter (stream caps, write deadline, bandwidth), then the
// guard and media.
type router struct {
	api     http.Handler
	ui      http.Handler
	mounts  []route // in config order, as index returns them
	index   *mountIndex
	limiter *limits.Limiter
	log     *slog.Logger
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i, key, err := rt.index.lookup(r.URL.Path)
	if (err == nil || errors.Is(err, errNoMount)) && folderPage(w, r) {
		return
	}
	switch {
	case err == nil:
		m := &rt.mounts[i]
		metrics.SetMount(w, m.prefix)
		if m.cors.Apply(w, r) {
			return
		}
		lw, done, ok := rt.limiter.Admit(w, r)
		if !ok {
			return
		}
		defer done()
		m.h.ServeKey(lw, r, key)
	case errors.Is(err, errAPIPath):
		metrics.SetMount(w, mountAPI)
		rt.api.ServeHTTP(w, r)
	case errors.Is(err, errUIPath):
		rt.ui.ServeHTTP(w, r)
	case errors.Is(err, errNoMount):
		http.Error(w, "404 not found", http.StatusNotFound)
	default:
		rt.refuse(w, r, err)
	}
}

// refuse logs a path no mount may serve and answers 404. It is out of
// line so that its logging does not widen ServeHTTP's frame, which every
// response's body is sent below (see media's bodyTail).
//
//go:noinline
func (rt *router) refuse(w http.ResponseWriter, r *http.Request, err error) {
	rt.log.Info("refused key", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
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

// disks shares one rangeio.DiskCache per configuration across the apps of
// the process: a reload builds the new app while the old one drains, and
// two instances on one directory would each index only the files it saw.
var disks = struct {
	sync.Mutex
	m map[rangeio.DiskConfig]*sharedDisk
}{m: map[rangeio.DiskConfig]*sharedDisk{}}

// sharedDisk is a DiskCache and the apps using it; the last Close closes
// it.
type sharedDisk struct {
	d    *rangeio.DiskCache
	cfg  rangeio.DiskConfig
	refs int
}

func acquireDisk(cfg rangeio.DiskConfig) (*sharedDisk, error) {
	disks.Lock()
	defer disks.Unlock()
	if s := disks.m[cfg]; s != nil {
		s.refs++
		return s, nil
	}
	d, err := rangeio.OpenDisk(cfg)
	if err != nil {
		return nil, err
	}
	s := &sharedDisk{d: d, cfg: cfg, refs: 1}
	disks.m[cfg] = s
	return s, nil
}

func (s *sharedDisk) Close() error {
	disks.Lock()
	s.refs--
	last := s.refs == 0
	if last {
		delete(disks.m, s.cfg)
	}
	disks.Unlock()
	if last {
		return s.d.Close()
	}
	return nil
}
