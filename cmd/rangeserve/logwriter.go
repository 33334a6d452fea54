package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Batching of the access log. One write(2) per request costs more than
// the rest of the logging (see BENCHMARKS.md, "Per-request cost"), so
// access lines are collected in memory and written in batches.
const (
	logBufferSize = 64 << 10               // bytes held before a write
	logFlushEvery = 200 * time.Millisecond // longest a line waits
)

// logWriter buffers whole log lines and writes them to w in batches: when
// the buffer would overflow, logFlushEvery after the first buffered line,
// and on Flush. Lines keep their order. It is safe for concurrent use.
// A write error drops the batch (there is nowhere left to report it).
type logWriter struct {
	mu    sync.Mutex
	w     io.Writer
	buf   []byte
	timer *time.Timer // armed while buf holds lines
}

func newLogWriter(w io.Writer) *logWriter {
	l := &logWriter{w: w, buf: make([]byte, 0, logBufferSize)}
	l.timer = time.AfterFunc(time.Hour, l.Flush)
	l.timer.Stop()
	return l
}

// Write buffers p, which must be whole lines (slog handlers write one
// record per call).
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf)+len(p) > cap(l.buf) {
		l.flushLocked()
	}
	if len(p) > cap(l.buf) {
		l.w.Write(p)
		return len(p), nil
	}
	if len(l.buf) == 0 {
		l.timer.Reset(logFlushEvery)
	}
	l.buf = append(l.buf, p...)
	return len(p), nil
}

// Flush writes what is buffered.
func (l *logWriter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

func (l *logWriter) flushLocked() {
	if len(l.buf) > 0 {
		l.timer.Stop()
		l.w.Write(l.buf)
		l.buf = l.buf[:0]
	}
}

// flushingHandler flushes the logWriter after every record it handles:
// the process's own messages (start-up, errors, refusals) are written at
// once; only the access log, which has a handler of its own on the same
// logWriter, waits for a batch. Sharing the writer keeps the order.
type flushingHandler struct {
	slog.Handler
	w *logWriter
}

func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	h.w.Flush()
	return err
}

func (h flushingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return flushingHandler{h.Handler.WithAttrs(as), h.w}
}

func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{h.Handler.WithGroup(name), h.w}
}

// loggers are the process log and the access log, writing to one stream.
type loggers struct {
	log    *slog.Logger // flushed after each record
	access *accessSink  // batched; nil when the level is above info
	w      *logWriter
}

func newLoggers(c LogConfig, w io.Writer) loggers {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	lw := newLogWriter(w)
	json := c.Format == "json"
	var h slog.Handler = slog.NewTextHandler(lw, opts)
	if json {
		h = slog.NewJSONHandler(lw, opts)
	}
	l := loggers{log: slog.New(flushingHandler{h, lw}), w: lw}
	if level <= slog.LevelInfo { // access lines are info records
		l.access = &accessSink{w: lw, json: json}
	}
	return l
}
