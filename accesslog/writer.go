package accesslog

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
	BufferSize = 64 << 10               // bytes a Writer holds before a write
	FlushEvery = 200 * time.Millisecond // longest a line waits in a Writer
)

// Writer buffers whole log lines and writes them to w in batches: when
// the buffer would overflow, FlushEvery after the first buffered line,
// and on Flush. Lines keep their order. It is safe for concurrent use.
// A write error drops the batch (there is nowhere left to report it).
type Writer struct {
	mu    sync.Mutex
	w     io.Writer
	buf   []byte
	timer *time.Timer // armed while buf holds lines
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer {
	l := &Writer{w: w, buf: make([]byte, 0, BufferSize)}
	l.timer = time.AfterFunc(time.Hour, l.Flush)
	l.timer.Stop()
	return l
}

// Write buffers p, which must be whole lines (slog handlers write one
// record per call).
func (l *Writer) Write(p []byte) (int, error) {
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
		l.timer.Reset(FlushEvery)
	}
	l.buf = append(l.buf, p...)
	return len(p), nil
}

// Flush writes what is buffered.
func (l *Writer) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

func (l *Writer) flushLocked() {
	if len(l.buf) > 0 {
		l.timer.Stop()
		l.w.Write(l.buf)
		l.buf = l.buf[:0]
	}
}

// Flushing returns a slog.Handler that writes with h and flushes w (the
// Writer h writes to) after every record: the process's own messages
// (start-up, errors, refusals) are written at once, and only the access
// log, which writes to the same Writer, waits for a batch. Sharing the
// Writer keeps the order of the lines.
func Flushing(h slog.Handler, w *Writer) slog.Handler { return flushingHandler{h, w} }

type flushingHandler struct {
	slog.Handler
	w *Writer
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
