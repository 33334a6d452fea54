package limits

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Off, as a cap, a rate or a timeout in [Options], turns that limit off.
const Off = -1

// Defaults for the zero fields of [Options].
const (
	// DefaultMaxStreams caps the requests in flight through one Limiter.
	DefaultMaxStreams = 4096
	// DefaultMaxStreamsPerClient caps the requests in flight from one
	// client address: room for a browser's parallel ranges and a
	// download manager's 16 connections, with several people behind one
	// NAT.
	DefaultMaxStreamsPerClient = 64
	// DefaultRetryAfter is the Retry-After of a 429.
	DefaultRetryAfter = 5 * time.Second
	// DefaultWriteIdleTimeout is how long a response may make no
	// progress before it is dropped.
	DefaultWriteIdleTimeout = 60 * time.Second
)

// SendfileChunk is the most bytes handed to sendfile(2) between two
// extensions of the write deadline (and two waits on the rate limiters).
const SendfileChunk = 256 << 10

// Options configures a [Limiter]. The zero value of each field selects the
// default in its comment; [Off] turns a limit off.
type Options struct {
	// MaxStreams caps the requests running through the Limiter at once;
	// the next one is answered 429. Default [DefaultMaxStreams]; Off: no
	// cap (the operating system's file descriptor limit remains).
	MaxStreams int
	// MaxStreamsPerClient caps the requests running at once from one
	// client address (see ClientIP). Default
	// [DefaultMaxStreamsPerClient]; Off: no cap. Requests whose client
	// address is unknown (a Unix socket) count only against MaxStreams.
	MaxStreamsPerClient int
	// RetryAfter is sent with a 429 as Retry-After, rounded up to whole
	// seconds. Default [DefaultRetryAfter].
	RetryAfter time.Duration
	// ClientIP returns a request's client address. Default: the host of
	// r.RemoteAddr. Behind a reverse proxy pass the function that trusts
	// X-Forwarded-For from the configured proxies only: otherwise every
	// client shares the proxy's address, or any client can pick one.
	ClientIP func(*http.Request) netip.Addr
	// ConnRate caps the bytes per second sent on one connection (all the
	// requests of a keep-alive or HTTP/2 connection share it). Default 0:
	// no limit (as Off).
	ConnRate int64
	// KeyRate caps the bytes per second sent, in total, to the requests
	// that KeyOf gives the same key, while any of them runs: a share
	// link fetched by a download manager over 16 connections gets
	// KeyRate, not 16 times it. Default 0: no limit (as Off).
	KeyRate int64
	// KeyOf returns the key a request's bandwidth is counted under (a
	// share link's signature, a token's id), or "" for none. Required
	// when KeyRate is set.
	KeyOf func(*http.Request) string
	// WriteIdleTimeout is how long a response may go without completing
	// a write (a chunk: see [SendfileChunk]) before its connection is
	// dropped. The deadline moves forward as writes complete; it is
	// extended at most 16 times per timeout, so the effective limit lies
	// between 15/16 of it and all of it. Default
	// [DefaultWriteIdleTimeout]; Off: no deadline from the Limiter.
	WriteIdleTimeout time.Duration
	// Logger receives a line per refused stream (at most one per second
	// and reason). Default slog.Default().
	Logger *slog.Logger
}

// Limiter enforces one set of [Options]. It is safe for concurrent use.
type Limiter struct {
	maxTotal, maxPer int // 0: no cap
	retryAfter       string
	clientIP         func(*http.Request) netip.Addr
	connRate         int64 // 0: none
	keyRate          int64 // 0: none
	keyOf            func(*http.Request) string
	idle             time.Duration // 0: no deadline
	log              *slog.Logger

	mu        sync.Mutex
	total     int
	perClient map[netip.Addr]int
	keys      map[string]*keyBucket

	logs logThrottle
}

// New checks opts and returns a Limiter.
func New(opts Options) (*Limiter, error) {
	l := &Limiter{clientIP: opts.ClientIP, keyOf: opts.KeyOf, log: opts.Logger,
		perClient: map[netip.Addr]int{}, keys: map[string]*keyBucket{}}
	var err error
	if l.maxTotal, err = capValue("MaxStreams", opts.MaxStreams, DefaultMaxStreams); err != nil {
		return nil, err
	}
	if l.maxPer, err = capValue("MaxStreamsPerClient", opts.MaxStreamsPerClient, DefaultMaxStreamsPerClient); err != nil {
		return nil, err
	}
	if l.connRate, err = rateValue("ConnRate", opts.ConnRate); err != nil {
		return nil, err
	}
	if l.keyRate, err = rateValue("KeyRate", opts.KeyRate); err != nil {
		return nil, err
	}
	if l.keyRate > 0 && l.keyOf == nil {
		return nil, errors.New("limits: KeyRate is set but KeyOf is nil: say which key a request's bandwidth is counted under")
	}
	ra := opts.RetryAfter
	switch {
	case ra == 0:
		ra = DefaultRetryAfter
	case ra < 0:
		return nil, fmt.Errorf("limits: RetryAfter %v is negative", ra)
	}
	l.retryAfter = strconv.FormatInt(int64((ra+time.Second-1)/time.Second), 10)
	switch d := opts.WriteIdleTimeout; {
	case d == 0:
		l.idle = DefaultWriteIdleTimeout
	case d == Off:
		l.idle = 0
	case d < 0:
		return nil, fmt.Errorf("limits: WriteIdleTimeout %v is negative: use 0 for the default (%v) or Off", d, DefaultWriteIdleTimeout)
	default:
		l.idle = d
	}
	if l.clientIP == nil {
		l.clientIP = remoteIP
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	return l, nil
}

func capValue(name string, v, def int) (int, error) {
	switch {
	case v == 0:
		return def, nil
	case v == Off:
		return 0, nil
	case v < 0:
		return 0, fmt.Errorf("limits: %s %d is negative: use 0 for the default (%d) or Off", name, v, def)
	}
	return v, nil
}

func rateValue(name string, v int64) (int64, error) {
	switch {
	case v == 0 || v == Off:
		return 0, nil
	case v < 0:
		return 0, fmt.Errorf("limits: %s %d is negative: use 0 or Off for no limit", name, v)
	case v < 1024:
		return 0, fmt.Errorf("limits: %s %d bytes/s is below 1 KiB/s: no media plays at that rate", name, v)
	}
	return v, nil
}

// WriteIdleTimeout returns the write idle timeout in force (0 when off),
// for the http.Server's WriteTimeout (see the package documentation).
func (l *Limiter) WriteIdleTimeout() time.Duration { return l.idle }

// Active returns the number of requests running through the Limiter.
func (l *Limiter) Active() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// remoteIP is the default ClientIP: the host of r.RemoteAddr.
func remoteIP(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// Middleware returns next wrapped with the Limiter (see [Limiter.Admit]).
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lw, done, ok := l.Admit(w, r)
		if !ok {
			return
		}
		defer done()
		next.ServeHTTP(lw, r)
	})
}

// Admit applies the stream caps to r. Over a cap it answers 429 itself
// and reports false. Otherwise it returns the ResponseWriter the handler
// must write to (w itself when no deadline and no rate applies; else a
// wrapper that moves the write deadline and paces) and done, which the
// caller must call when the request ends, panics included (defer it). A
// router that has already chosen the mount calls it instead of wrapping
// the mount's handler.
func (l *Limiter) Admit(w http.ResponseWriter, r *http.Request) (lw http.ResponseWriter, done func(), ok bool) {
	ip := l.clientIP(r)
	if reason := l.admit(ip); reason != "" {
		l.refuse(w, r, ip, reason)
		return nil, nil, false
	}
	pw := l.pace(w, r)
	if pw == nil {
		return w, func() { l.release(ip) }, true
	}
	return pw, func() {
		pw.finish()
		l.release(ip)
	}, true
}

// Refusal reasons: they pick the body and the log line.
const (
	refusedTotal  = "server"
	refusedClient = "client"
)

// admit counts a new request from ip, or returns why it may not run.
func (l *Limiter) admit(ip netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxTotal > 0 && l.total >= l.maxTotal {
		return refusedTotal
	}
	if ip.IsValid() && l.maxPer > 0 && l.perClient[ip] >= l.maxPer {
		return refusedClient
	}
	l.total++
	if ip.IsValid() {
		l.perClient[ip]++
	}
	return ""
}

func (l *Limiter) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if ip.IsValid() {
		if n := l.perClient[ip] - 1; n > 0 {
			l.perClient[ip] = n
		} else {
			delete(l.perClient, ip)
		}
	}
}

// refuse answers 429 and logs it (throttled).
func (l *Limiter) refuse(w http.ResponseWriter, r *http.Request, ip netip.Addr, reason string) {
	var body string
	var limit int
	if reason == refusedClient {
		limit = l.maxPer
		body = "429 too many requests: " + strconv.Itoa(limit) + " streams from your address are already running; retry later\n"
	} else {
		limit = l.maxTotal
		body = "429 too many requests: the server is at its limit of streams; retry later\n"
	}
	if skipped, ok := l.logs.allow(reason, time.Now()); ok {
		attrs := []any{"reason", reason, "client", ip.String(), "limit", limit, "path", r.URL.Path}
		if skipped > 0 {
			attrs = append(attrs, "similar_refusals_not_logged", skipped)
		}
		l.log.Warn("limits: stream refused: 429", attrs...)
	}
	h := w.Header()
	h.Set("Retry-After", l.retryAfter)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusTooManyRequests)
	if r.Method != http.MethodHead {
		w.Write([]byte(body))
	}
}

// logThrottle lets through at most one log line per second per reason and
// counts the others.
type logThrottle struct {
	mu      sync.Mutex
	last    map[string]time.Time
	skipped map[string]int
}

func (t *logThrottle) allow(reason string, now time.Time) (skipped int, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last, t.skipped = map[string]time.Time{}, map[string]int{}
	}
	if last, seen := t.last[reason]; seen && now.Sub(last) < time.Second {
		t.skipped[reason]++
		return 0, false
	}
	t.last[reason] = now
	skipped = t.skipped[reason]
	t.skipped[reason] = 0
	return skipped, true
}
