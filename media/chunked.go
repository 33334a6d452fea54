package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/rangeserve/rangeserve/storage"
)

// Defaults and limits of the chunked path's flush policy ([StreamOptions],
// [Options.FlushBytes], [Options.FlushInterval]).
const (
	// DefaultFlushBytes is how many bytes the chunked path gathers before
	// it sends them as one chunk, when FlushBytes is zero.
	DefaultFlushBytes = 32 << 10
	// MaxFlushBytes bounds FlushBytes: the buffer is held per response.
	MaxFlushBytes = 4 << 20
	// DefaultFlushInterval is the longest a written byte waits in the
	// buffer before it is sent, when FlushInterval is zero.
	DefaultFlushInterval = 20 * time.Millisecond
)

// firstChunkBytes: the first chunk, which carries the status line, is
// sent once this many bytes are pending (if FlushBytes is larger), so
// that a response starts within milliseconds whatever FlushBytes is.
const firstChunkBytes = 4 << 10

// StreamOptions configure [Stream] and the row helpers built on it
// ([StreamCSV], [StreamNDJSON]). The zero value streams
// application/octet-stream with the default flush policy.
type StreamOptions struct {
	// ContentType is sent as Content-Type. "" keeps a Content-Type the
	// caller already set on the response's header, else sends
	// application/octet-stream (text/csv and application/x-ndjson for the
	// row helpers).
	ContentType string
	// Filename, if set, is sent as Content-Disposition: attachment with
	// this file name (RFC 6266, UTF-8 names included), so that a browser
	// saves the export instead of showing it.
	Filename string
	// FlushBytes: buffered bytes are sent as one chunk once this many are
	// pending. 0 means [DefaultFlushBytes]; at most [MaxFlushBytes]. The
	// first chunk, which carries the status line, leaves at 4 KiB
	// already, so that the response starts at once.
	FlushBytes int
	// FlushInterval: a buffered byte is sent at most this long after it
	// was written, even if the producer writes nothing more (a slow
	// database cursor still reaches the client). 0 means
	// [DefaultFlushInterval].
	FlushInterval time.Duration
	// Logger receives the line that says why a response was aborted or
	// answered with an error status; nil means slog.Default().
	Logger *slog.Logger
}

// flushPolicy is the validated flush policy of one stream.
type flushPolicy struct {
	bytes    int
	interval time.Duration
}

// newFlushPolicy applies the defaults to bytes and interval and checks
// them.
func newFlushPolicy(bytes int, interval time.Duration) (flushPolicy, error) {
	switch {
	case bytes < 0 || bytes > MaxFlushBytes:
		return flushPolicy{}, fmt.Errorf("media: FlushBytes %d is out of range: 0 (default %d) to %d", bytes, DefaultFlushBytes, MaxFlushBytes)
	case interval < 0:
		return flushPolicy{}, fmt.Errorf("media: FlushInterval %v is negative (0 means the default, %v)", interval, DefaultFlushInterval)
	}
	if bytes == 0 {
		bytes = DefaultFlushBytes
	}
	if interval == 0 {
		interval = DefaultFlushInterval
	}
	return flushPolicy{bytes: bytes, interval: interval}, nil
}

// Stream answers r with a body that produce writes as it goes, of a
// length nobody knows in advance: a CSV export from a database cursor, an
// endless feed, a generated archive. It is media's chunked path, the one
// [Handler] uses for objects of unknown size, listings and ?follow=1:
//
//   - 200 with no Content-Length (chunked transfer on HTTP/1.1, DATA
//     frames on HTTP/2), Accept-Ranges: none (never a 206),
//     X-Accel-Buffering: no (so that nginx passes each chunk on instead of
//     buffering the response) and X-Content-Type-Options: nosniff;
//   - what produce writes is gathered and sent once opts.FlushBytes are
//     pending (4 KiB for the first chunk, so that the response starts at
//     once) or opts.FlushInterval after the oldest pending byte was
//     written, whichever comes first. A timer does the latter, so bytes
//     reach the client while produce waits (for a database, for a file to
//     grow); writes and timer never touch the response at the same time;
//   - nothing is sent before the first flush. If produce fails before it,
//     the client gets a status and a short body instead ("500 Internal
//     Server Error\n"; 404, 403 and 504 for errors matching
//     [storage.ErrNotExist], [storage.ErrPermission] and
//     context.DeadlineExceeded), the error is logged and Stream returns
//     it;
//   - once the status line is out, an error from produce (or from writing
//     to the client) aborts the response: Stream logs it and panics with
//     http.ErrAbortHandler, which net/http recovers silently by closing
//     the connection (HTTP/1.1: no final chunk, so a client reads
//     "unexpected EOF") or resetting the stream (HTTP/2). A truncated
//     export never looks complete. Do not recover that panic;
//   - produce must stop when r.Context() is done: a client that leaves
//     cancels it, and its writes fail from then on. Stream returns only
//     after produce has returned, so nothing produce started needs to
//     outlive the request.
//
// HEAD gets the status and headers without calling produce. Stream
// returns nil when the whole body was sent, and an error when the request
// was answered with an error status (already written) or the client left
// before the first byte (nothing written).
func Stream(w http.ResponseWriter, r *http.Request, opts StreamOptions, produce func(w io.Writer) error) error {
	policy, err := newFlushPolicy(opts.FlushBytes, opts.FlushInterval)
	if err != nil {
		return err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	hdr := w.Header()
	switch {
	case opts.ContentType != "":
		hdr.Set("Content-Type", opts.ContentType)
	case hdr.Get("Content-Type") == "":
		hdr.Set("Content-Type", octetStream)
	}
	if opts.Filename != "" {
		hdr.Set("Content-Disposition", ContentDisposition(Attachment, opts.Filename))
	}
	s := stream{w: w, r: r, policy: policy, log: log, statusOf: streamStatus, what: r.URL.Path}
	return s.run(produce)
}

// streamStatus maps an error of a [Stream] producer to the status sent
// when it fails before the first byte: 0 when the client went away.
func streamStatus(ctx context.Context, err error) int {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return 0
	case errors.Is(err, storage.ErrNotExist):
		return http.StatusNotFound
	case errors.Is(err, storage.ErrPermission):
		return http.StatusForbidden
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// stream is one response on the chunked path.
type stream struct {
	w        http.ResponseWriter
	r        *http.Request
	policy   flushPolicy
	log      *slog.Logger
	statusOf func(context.Context, error) int // status for an error before the first byte
	what     string                           // the key or path, for log lines
}

// streamHandler runs produce on the chunked path for one of the handler's
// own responses (listings, live files, objects of unknown size), with the
// handler's flush policy and error statuses. The caller has set the
// response's headers.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, key string, produce func(io.Writer) error) error {
	s := stream{w: w, r: r, policy: h.flush, log: h.log, statusOf: errorStatus, what: key}
	return s.run(produce)
}

// run sets the headers of the chunked path, runs produce and ends the
// response as [Stream] describes.
func (s *stream) run(produce func(io.Writer) error) error {
	hdr := s.w.Header()
	hdr.Del("Content-Length")
	hdr.Del("Content-Range")
	hdr.Set("Accept-Ranges", "none")
	hdr.Set("X-Accel-Buffering", "no")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if s.r.Method == http.MethodHead {
		s.w.WriteHeader(http.StatusOK)
		return nil
	}
	cw := newChunkWriter(s.w, s.policy)
	err := produce(cw)
	if err == nil {
		err = cw.finish()
	}
	if err == nil {
		return nil
	}
	if cw.abandon() {
		level := slog.LevelError
		if s.r.Context().Err() != nil {
			level = slog.LevelDebug // the client went away
		}
		s.log.LogAttrs(s.r.Context(), level, "media: aborting a streamed response after its first byte",
			slog.String("key", s.what), slog.Int64("sent", cw.sent), slog.Any("err", err))
		panic(http.ErrAbortHandler)
	}
	status := s.statusOf(s.r.Context(), err)
	if status == 0 {
		s.log.LogAttrs(s.r.Context(), slog.LevelDebug, "media: client went away before a streamed response",
			slog.String("key", s.what), slog.Any("err", err))
		return err
	}
	level := slog.LevelError
	if status == http.StatusNotFound {
		level = slog.LevelDebug
	}
	s.log.LogAttrs(s.r.Context(), level, "media: streamed response failed before its first byte",
		slog.String("method", s.r.Method), slog.String("key", s.what), slog.Int("status", status), slog.Any("err", err))
	for _, k := range []string{"X-Accel-Buffering", "Content-Security-Policy"} {
		delete(hdr, k)
	}
	writeStatus(s.w, s.r, status)
	return err
}

// errStreamClosed is returned by writes after a stream has ended.
var errStreamClosed = errors.New("media: write to a finished stream")

// chunkWriter is the io.Writer a producer gets. It gathers writes in a
// buffer of policy.bytes and sends them (one Write and one Flush of the
// ResponseWriter) when the buffer is full or policy.interval after the
// oldest pending byte, whichever comes first; the status line goes out
// with the first send, which happens at firstChunkBytes already.
//
// The timer runs its flush on its own goroutine, so every use of the
// ResponseWriter, and all state, is under mu: the producer's Write and the
// timer's flush take turns, and after finish or abandon (called on the
// handler's goroutine before it returns) the timer finds closed set and
// touches nothing. A send that blocks on a slow client holds mu, which
// blocks the producer's next Write: back-pressure, not buffering.
type chunkWriter struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	policy flushPolicy

	mu       sync.Mutex
	buf      []byte
	pooled   *[]byte
	timer    *time.Timer
	pending  bool      // the timer is scheduled and its callback has not started
	flushAt  time.Time // when the oldest pending byte must be sent; zero if none
	started  bool      // the status line has been written
	closed   bool
	err      error // sticky: the first failed send
	sent     int64 // body bytes handed to the ResponseWriter
	canFlush bool  // the ResponseWriter supports Flush
}

func newChunkWriter(w http.ResponseWriter, p flushPolicy) *chunkWriter {
	c := &chunkWriter{w: w, rc: http.NewResponseController(w), policy: p, canFlush: true}
	if p.bytes == DefaultFlushBytes {
		c.pooled = chunkBufs.Get().(*[]byte)
		c.buf = (*c.pooled)[:0]
	} else {
		c.buf = make([]byte, 0, p.bytes)
	}
	return c
}

// chunkBufs holds buffers of DefaultFlushBytes.
var chunkBufs = sync.Pool{New: func() any {
	b := make([]byte, DefaultFlushBytes)
	return &b
}}

// Write buffers p, sending full buffers; a write at least as large as the
// buffer, with nothing pending, is sent as it is.
func (c *chunkWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, errStreamClosed
	}
	if c.err != nil {
		return 0, c.err
	}
	n := 0
	for len(p) > 0 {
		limit := cap(c.buf)
		if !c.started {
			limit = min(limit, firstChunkBytes)
		}
		if len(c.buf) == 0 && len(p) >= limit {
			if err := c.sendLocked(p); err != nil {
				return n, err
			}
			return n + len(p), nil
		}
		k := copy(c.buf[len(c.buf):limit], p)
		c.buf = c.buf[:len(c.buf)+k]
		n += k
		p = p[k:]
		if len(c.buf) == limit {
			if err := c.sendLocked(c.buf); err != nil {
				return n, err
			}
		}
	}
	if len(c.buf) > 0 && c.flushAt.IsZero() {
		c.flushAt = time.Now().Add(c.policy.interval)
		if !c.pending {
			c.pending = true
			if c.timer == nil {
				c.timer = time.AfterFunc(c.policy.interval, c.onTimer)
			} else {
				c.timer.Reset(c.policy.interval)
			}
		}
	}
	return n, nil
}

// onTimer sends the pending bytes once they are due, or schedules itself
// again for when they will be (the buffer was sent and refilled since
// the timer was set).
func (c *chunkWriter) onTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = false
	if c.closed || c.err != nil || c.flushAt.IsZero() {
		return
	}
	if wait := time.Until(c.flushAt); wait > 0 {
		c.pending = true
		c.timer.Reset(wait)
		return
	}
	_ = c.sendLocked(c.buf) // a failure is sticky: the producer's next Write sees it
}

// sendLocked writes p (the buffer or a large write) to the client and
// flushes it, writing the status line first if it is not out yet. The
// buffer is empty afterwards.
func (c *chunkWriter) sendLocked(p []byte) error {
	c.buf = c.buf[:0]
	c.flushAt = time.Time{}
	if !c.started {
		c.started = true
		c.w.WriteHeader(http.StatusOK)
	}
	n, err := c.w.Write(p)
	c.sent += int64(n)
	if err == nil {
		err = c.flushLocked()
	}
	if err != nil {
		c.err = err
	}
	return err
}

// flushLocked sends what the ResponseWriter buffers. A ResponseWriter
// that cannot flush (a middleware that hides it) is written to all the
// same; its client gets the bytes when its buffers fill.
func (c *chunkWriter) flushLocked() error {
	if !c.canFlush {
		return nil
	}
	err := c.rc.Flush()
	if errors.Is(err, http.ErrNotSupported) {
		c.canFlush = false
		return nil
	}
	return err
}

// finish sends what is pending and flushes, so that even a short body
// goes out chunked (net/http would otherwise give a body it holds whole a
// Content-Length), then closes the writer.
func (c *chunkWriter) finish() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.closeLocked()
	if c.err != nil {
		return c.err
	}
	if len(c.buf) > 0 || !c.started {
		return c.sendLocked(c.buf)
	}
	return nil
}

// abandon closes the writer without sending what is pending and reports
// whether the status line was already written (the response must then be
// aborted).
func (c *chunkWriter) abandon() (started bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked()
	return c.started
}

func (c *chunkWriter) closeLocked() {
	if c.closed {
		return
	}
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.pooled != nil {
		chunkBufs.Put(c.pooled)
		c.pooled = nil
	}
	c.buf = nil
}
