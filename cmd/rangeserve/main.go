// Command rangeserve serves media and large files from local disk or
// S3-compatible storage with Range requests, cache validation, signed share
// links and delegation to nginx, as configured by config.yaml.
//
// Usage:
//
//	rangeserve [-config config.yaml] [-listen addr]     serve
//	rangeserve sign [-config …] [-ttl 24h] [-scope p] [-ip a] /mount/key
//	rangeserve token                                    new bearer token
//	rangeserve check [-config …]                        validate the config
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/rangeserve/rangeserve"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "sign":
			return runSign(args[1:], stdout, stderr)
		case "token":
			return runToken(args[1:], stdout, stderr)
		case "check":
			return runCheck(args[1:], stdout, stderr)
		case "serve":
			args = args[1:]
		}
	}
	fs := flag.NewFlagSet("rangeserve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("config", "", "config file (default: ./config.yaml, else the compiled-in default)")
	listen := fs.String("listen", "", "listen address, overriding the config's listen")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rangeserve: unexpected argument %q (subcommands: serve, sign, token, check)\n", fs.Arg(0))
		return 2
	}
	cfg, name, err := loadConfig(*cfgFile, rangeserve.DefaultConfig)
	if err != nil {
		fmt.Fprintf(stderr, "rangeserve: %v\n", err)
		return 1
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	logs := newLoggers(cfg.Log, stderr)
	defer logs.w.Flush()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, name, logs); err != nil {
		logs.log.Error("rangeserve stopped", "err", err)
		return 1
	}
	return 0
}

// serve runs the server until ctx is done, then shuts down gracefully.
func serve(ctx context.Context, cfg *Config, name string, logs loggers) error {
	log := logs.log
	tuneGC(cfg.Server, log)
	app, err := newApp(ctx, cfg, log, logs.access)
	if err != nil {
		return err
	}
	defer app.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w (is another server using the port? pass -listen 127.0.0.1:0 for any free port)", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           app.Handler(),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    int(cfg.Server.MaxHeaderBytes) - goHeaderSlack,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	log.Info("rangeserve listening", "url", "http://"+ln.Addr().String()+"/", "config", name, "mounts", len(cfg.Mounts))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: waiting for requests in flight", "timeout", cfg.Server.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("graceful shutdown: %w (connections closed)", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// tuneGC applies server.gc_percent and server.memory_limit unless the
// GOGC or GOMEMLIMIT environment variables set them.
func tuneGC(c ServerConfig, log *slog.Logger) {
	gc, gcFrom := os.Getenv("GOGC"), "GOGC"
	if gc == "" {
		debug.SetGCPercent(c.GCPercent)
		gc, gcFrom = strconv.Itoa(c.GCPercent), "server.gc_percent"
	}
	limitFrom := "GOMEMLIMIT"
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(c.MemoryLimit))
		limitFrom = "server.memory_limit"
	}
	log.Info("garbage collector", "gc_percent", gc, "gc_percent_from", gcFrom,
		"memory_limit_mib", debug.SetMemoryLimit(-1)>>20, "memory_limit_from", limitFrom) // -1 reads the limit
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rangeserve check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("config", "", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, name, err := loadConfig(*cfgFile, rangeserve.DefaultConfig)
	if err != nil {
		fmt.Fprintf(stderr, "rangeserve: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok, %d mounts\n", name, len(cfg.Mounts))
	return 0
}
