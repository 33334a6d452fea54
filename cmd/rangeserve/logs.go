package main

import (
	"io"
	"log/slog"

	"github.com/rangeserve/rangeserve/accesslog"
)

// loggers are the process log and the access log, writing to one stream.
type loggers struct {
	log    *slog.Logger    // flushed after each record
	access *accesslog.Sink // batched; nil when the level is above info
	w      *accesslog.Writer
}

func newLoggers(c LogConfig, w io.Writer) loggers {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	lw := accesslog.NewWriter(w)
	json := c.Format == "json"
	var h slog.Handler = slog.NewTextHandler(lw, opts)
	if json {
		h = slog.NewJSONHandler(lw, opts)
	}
	l := loggers{log: slog.New(accesslog.Flushing(h, lw)), w: lw}
	if level <= slog.LevelInfo { // access lines are info records
		l.access = &accesslog.Sink{W: lw, JSON: json}
	}
	return l
}
