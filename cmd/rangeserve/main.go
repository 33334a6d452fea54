// Command rangeserve serves media and large files from local disk or
// S3-compatible storage with Range requests, cache validation, signed share
// links and delegation to nginx, as configured by config.yaml.
//
// Usage:
//
//	rangeserve [-config config.yaml] [-listen addr]     serve
//	                                                    (SIGHUP reloads the config,
//	                                                    SIGTERM drains and stops)
//	rangeserve sign [-config …] [-ttl 24h] [-scope p] [-ip a] /mount/key
//	rangeserve token                                    new bearer token
//	rangeserve check [-config …]                        validate the config
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
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
	load := func() (*Config, string, error) {
		cfg, name, err := loadConfig(*cfgFile, rangeserve.DefaultConfig)
		if err == nil && *listen != "" {
			cfg.Listen = *listen
		}
		return cfg, name, err
	}
	cfg, name, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "rangeserve: %v\n", err)
		return 1
	}
	logs := newLoggers(cfg.Log, stderr)
	defer logs.w.Flush()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, name, logs, load); err != nil {
		logs.log.Error("rangeserve stopped", "err", err)
		return 1
	}
	return 0
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
