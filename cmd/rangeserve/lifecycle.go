package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rangeserve/rangeserve/health"
	"github.com/rangeserve/rangeserve/metrics"
	"github.com/rangeserve/rangeserve/server"
)

// process is what lives as long as the process, across reloads: the
// listeners, the handler switch, the metrics and the health checker. The
// app (mounts, backends, auth, limits) is what a reload replaces.
type process struct {
	log     *slog.Logger
	logs    loggers
	reg     *prometheus.Registry // nil when metrics are off
	met     *metrics.Metrics     // nil when metrics are off
	checker *health.Checker
	sw      *server.Switch
	public  *server.Server
	private *server.Server // metrics.listen, or nil

	mu  sync.Mutex
	app *app // the current app
	cfg *Config
}

// serve runs the server until ctx is done (SIGINT, SIGTERM), then drains:
// /readyz fails, after server.drain_delay the listener closes, requests
// in flight get server.shutdown_timeout to finish, the rest are cut.
// SIGHUP reloads the configuration with load: a new app is built and
// swapped in whole while requests in flight finish on the old one; a
// configuration that does not load or build is refused with a log line
// and the old one keeps serving.
func serve(ctx context.Context, cfg *Config, name string, logs loggers, load func() (*Config, string, error)) error {
	log := logs.log
	// Catch SIGHUP from the start: its default action ends the process,
	// and a reload asked for during start-up is done once serving.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tuneGC(cfg.Server, log)
	p := &process{log: log, logs: logs, cfg: cfg}
	if *cfg.Metrics.Enabled {
		p.reg = metrics.NewRegistry()
		m, err := metrics.New(p.reg, metrics.Options{})
		if err != nil {
			return err
		}
		p.met = m
	}
	p.checker = health.New(health.Options{Timeout: cfg.Server.ProbeTimeout, Logger: log})
	a, err := newApp(ctx, cfg, log, logs.access, p.met)
	if err != nil {
		return err
	}
	p.sw = server.NewSwitch(a.handler)
	p.activate(a)
	base := context.WithoutCancel(ctx)
	opts := cfg.serverOptions(log, a.limiter.WriteIdleTimeout())
	opts.BaseContext = base
	p.public, err = server.Listen(opts, p.ops(p.sw, cfg.Metrics.Listen == ""))
	if err != nil {
		a.Close()
		return err
	}
	if l := cfg.Metrics.Listen; l != "" && p.reg != nil {
		p.private, err = server.Listen(server.Options{Addr: l, Logger: log, BaseContext: base}, p.ops(http.NotFoundHandler(), true))
		if err != nil {
			p.public.Close()
			a.Close()
			return err
		}
	}
	errc := make(chan error, 2)
	go func() { errc <- p.public.Serve() }()
	ui := listenURL(p.public.Addr())
	if strings.HasPrefix(p.public.URL(), "https:") {
		ui = "https:" + strings.TrimPrefix(ui, "http:")
	}
	attrs := []any{"url", ui, "config", name, "mounts", len(cfg.Mounts)}
	if p.private != nil {
		go func() { errc <- p.private.Serve() }()
		attrs = append(attrs, "metrics", p.private.URL()+"/metrics")
	}
	log.Info("rangeserve listening: open the web UI", attrs...)
	for {
		select {
		case err := <-errc:
			p.shutdown()
			return err
		case <-hup:
			p.reload(ctx, load)
			continue
		case <-ctx.Done():
		}
		break
	}
	p.shutdown()
	return nil
}

// activate makes a the app whose cache the metrics read and whose
// backends /readyz probes.
func (p *process) activate(a *app) {
	p.mu.Lock()
	p.app = a
	p.mu.Unlock()
	if p.met != nil {
		p.met.SetCache(a.cache)
	}
	p.checker.SetProbes(a.probes)
}

// ops routes the process's own endpoints before next: /healthz, /readyz
// and, when withMetrics, /metrics. They shadow files of a mount at / with
// those names.
func (p *process) ops(next http.Handler, withMetrics bool) http.Handler {
	live, ready := p.checker.Live(), p.checker.Ready()
	var mh http.Handler
	if withMetrics && p.reg != nil {
		mh = metrics.Handler(p.reg, p.log)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			live.ServeHTTP(w, r)
		case "/readyz":
			ready.ServeHTTP(w, r)
		case "/metrics":
			if mh != nil {
				mh.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// reload loads the configuration again and, if it loads and builds,
// swaps the new app in. The old app is closed once its last request has
// ended.
func (p *process) reload(ctx context.Context, load func() (*Config, string, error)) {
	start := time.Now()
	cfg, name, err := load()
	if err != nil {
		p.log.Error("reload refused: the configuration does not load; the old one keeps serving", "err", err)
		return
	}
	p.mu.Lock()
	old, oldCfg := p.app, p.cfg
	p.mu.Unlock()
	for _, k := range restartKeys(oldCfg, cfg) {
		p.log.Warn("reload: this key changed but takes effect only at the next restart", "key", k)
	}
	a, err := newApp(ctx, cfg, p.log, p.logs.access, p.met)
	if err != nil {
		p.log.Error("reload refused: the new configuration does not start; the old one keeps serving", "config", name, "err", err)
		return
	}
	p.mu.Lock()
	p.cfg = cfg
	p.mu.Unlock()
	tuneGC(cfg.Server, p.log)
	p.activate(a)
	idle := p.sw.Swap(a.handler)
	inflight := old.limiter.Active()
	go func() {
		<-idle
		if err := old.Close(); err != nil {
			p.log.Warn("closing the previous configuration's backends", "err", err)
		}
		p.log.Debug("previous configuration released")
	}()
	if err := p.public.ReloadCertificate(); err != nil {
		p.log.Error("reload: the TLS certificate does not load; the old one stays", "err", err)
	}
	p.log.Info("configuration reloaded", "config", name, "mounts", len(cfg.Mounts),
		"streams_on_previous", inflight, "took", time.Since(start).Round(time.Millisecond))
}

// restartKeys lists the keys that differ between two configurations and
// that a reload cannot apply: the listeners and the logs.
func restartKeys(a, b *Config) []string {
	var keys []string
	add := func(key string, changed bool) {
		if changed {
			keys = append(keys, key)
		}
	}
	add("listen", a.Listen != b.Listen)
	add("server.tls", a.Server.TLS != b.Server.TLS)
	add("server.h2c", a.Server.H2C != b.Server.H2C)
	add("server.read_header_timeout", a.Server.ReadHeaderTimeout != b.Server.ReadHeaderTimeout)
	add("server.idle_timeout", a.Server.IdleTimeout != b.Server.IdleTimeout)
	add("server.max_header_bytes", a.Server.MaxHeaderBytes != b.Server.MaxHeaderBytes)
	add("server.shutdown_timeout", a.Server.ShutdownTimeout != b.Server.ShutdownTimeout)
	add("server.drain_delay", a.Server.DrainDelay != b.Server.DrainDelay)
	add("server.probe_timeout", a.Server.ProbeTimeout != b.Server.ProbeTimeout)
	add("metrics", *a.Metrics.Enabled != *b.Metrics.Enabled || a.Metrics.Listen != b.Metrics.Listen)
	add("log", a.Log.Level != b.Log.Level || a.Log.Format != b.Log.Format || *a.Log.Access != *b.Log.Access)
	return keys
}

// shutdown drains: readiness fails at once; after the drain delay the
// listeners stop accepting and requests in flight get the shutdown
// timeout to finish; connections still busy then are closed, cutting
// their responses short (never complete-looking: the length is not met).
func (p *process) shutdown() {
	p.mu.Lock()
	cfg, a := p.cfg, p.app
	p.mu.Unlock()
	p.checker.SetDraining(true)
	if d := cfg.Server.DrainDelay; d > 0 {
		p.log.Info("draining: /readyz answers 503; still accepting connections", "drain_delay", d)
		time.Sleep(d)
	}
	p.log.Info("shutting down: waiting for requests in flight", "timeout", p.public.ShutdownTimeout(), "streams", a.limiter.Active())
	var wg sync.WaitGroup
	for _, s := range []*server.Server{p.public, p.private} {
		if s == nil {
			continue
		}
		wg.Go(func() {
			cut, err := s.Shutdown(context.Background())
			if err != nil {
				p.log.Warn("shutdown timeout reached: responses still running were cut", "listener", s.URL(), "connections", cut, "err", err)
			}
		})
	}
	wg.Wait()
	if err := a.Close(); err != nil {
		p.log.Warn("closing the backends", "err", err)
	}
	p.log.Info("stopped")
}
