package limits

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// burstFor returns the token bucket size for a rate: an eighth of a
// second's worth, between 16 KiB and [SendfileChunk], so that pacing is
// smooth and each wait covers one chunk.
func burstFor(bytesPerSec int64) int {
	b := bytesPerSec / 8
	return int(min(max(b, 16<<10), SendfileChunk))
}

func newBucket(bytesPerSec int64) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(bytesPerSec), burstFor(bytesPerSec))
}

// connKey is the context key of a connection's bucket holder.
type connKey struct{}

// connBucket holds one connection's token bucket, created by the first
// request that needs it.
type connBucket struct {
	mu sync.Mutex
	b  *rate.Limiter
}

// ConnContext is an http.Server ConnContext that gives each connection a
// place for its bandwidth bucket, so that [Options].ConnRate is shared by
// all the requests (keep-alive or HTTP/2 streams) of one connection.
// Without it each request is paced on its own.
func ConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connBucket{})
}

// connLimiter returns the bucket of r's connection at bytesPerSec (a
// reload may have changed the rate: the bucket follows), or a bucket of
// the request's own without [ConnContext].
func connLimiter(ctx context.Context, bytesPerSec int64) *rate.Limiter {
	cb, ok := ctx.Value(connKey{}).(*connBucket)
	if !ok {
		return newBucket(bytesPerSec)
	}
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if cb.b == nil {
		cb.b = newBucket(bytesPerSec)
	} else if cb.b.Limit() != rate.Limit(bytesPerSec) {
		cb.b.SetLimit(rate.Limit(bytesPerSec))
		cb.b.SetBurst(burstFor(bytesPerSec))
	}
	return cb.b
}

// keyBucket is the bucket shared by the running requests of one key.
type keyBucket struct {
	b    *rate.Limiter
	refs int
}

func (l *Limiter) acquireKey(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	kb := l.keys[key]
	if kb == nil {
		kb = &keyBucket{b: newBucket(l.keyRate)}
		l.keys[key] = kb
	}
	kb.refs++
	return kb.b
}

func (l *Limiter) releaseKey(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if kb := l.keys[key]; kb != nil {
		if kb.refs--; kb.refs <= 0 {
			delete(l.keys, key)
		}
	}
}

// pacer is the ResponseWriter a limited request's handler writes to: it
// waits on the request's token buckets and moves the write deadline
// before each chunk. It keeps io.ReaderFrom (sendfile, in chunks),
// http.Flusher and Unwrap.
type pacer struct {
	http.ResponseWriter
	rc       *http.ResponseController
	ctx      context.Context
	idle     time.Duration // 0: no deadline
	extended time.Time     // when the deadline was last moved
	buckets  []*rate.Limiter
	chunk    int
	key      string // the key whose bucket is held, "" for none
	l        *Limiter
}

// pace returns the writer for r, or nil when no deadline and no rate
// applies: the handler then writes to w itself.
func (l *Limiter) pace(w http.ResponseWriter, r *http.Request) *pacer {
	var buckets []*rate.Limiter
	if l.connRate > 0 {
		buckets = append(buckets, connLimiter(r.Context(), l.connRate))
	}
	var key string
	if l.keyRate > 0 {
		if key = l.keyOf(r); key != "" {
			buckets = append(buckets, l.acquireKey(key))
		}
	}
	if l.idle == 0 && len(buckets) == 0 {
		return nil
	}
	p := &pacer{ResponseWriter: w, rc: http.NewResponseController(w), ctx: r.Context(),
		idle: l.idle, buckets: buckets, chunk: SendfileChunk, key: key, l: l}
	for _, b := range buckets {
		p.chunk = min(p.chunk, b.Burst())
	}
	if p.idle > 0 {
		now := time.Now()
		if err := p.rc.SetWriteDeadline(now.Add(p.idle)); err != nil {
			p.idle = 0 // a writer without deadlines (a test recorder)
		}
		p.extended = now
	}
	return p
}

// finish sets the deadline once more for net/http's final flush and
// gives back the key's bucket.
func (p *pacer) finish() {
	if p.idle > 0 {
		_ = p.rc.SetWriteDeadline(time.Now().Add(p.idle))
	}
	if p.key != "" {
		p.l.releaseKey(p.key)
	}
}

// before waits until n bytes may be sent and moves the write deadline
// forward if a sixteenth of the idle timeout has passed since it was
// last moved.
func (p *pacer) before(n int) error {
	for _, b := range p.buckets {
		// A reload may have shrunk a connection's bucket since the chunk
		// size was chosen: never ask for more than it can hold.
		if err := b.WaitN(p.ctx, min(n, b.Burst())); err != nil {
			return err
		}
	}
	if p.idle > 0 {
		if now := time.Now(); now.Sub(p.extended) >= p.idle/16 {
			if err := p.rc.SetWriteDeadline(now.Add(p.idle)); err != nil {
				return err
			}
			p.extended = now
		}
	}
	return nil
}

func (p *pacer) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return p.ResponseWriter.Write(b)
	}
	written := 0
	for len(b) > 0 {
		n := min(len(b), p.chunk)
		if err := p.before(n); err != nil {
			return written, err
		}
		m, err := p.ResponseWriter.Write(b[:n])
		written += m
		if err != nil {
			return written, err
		}
		b = b[n:]
	}
	return written, nil
}

// ReadFrom copies src to the response. A body from an *os.File, or from
// an *io.LimitedReader over one, goes to the underlying writer's ReadFrom
// (sendfile) one chunk at a time, each chunk itself an *io.LimitedReader
// over the file; other readers go through Write.
func (p *pacer) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := p.ResponseWriter.(io.ReaderFrom)
	f, lr := fileSource(src)
	if !ok || f == nil {
		return io.Copy(struct{ io.Writer }{p}, src)
	}
	var total int64
	for {
		k := int64(p.chunk)
		if lr != nil {
			if lr.N <= 0 {
				return total, nil
			}
			k = min(k, lr.N)
		}
		if err := p.before(int(k)); err != nil {
			return total, err
		}
		n, err := rf.ReadFrom(&io.LimitedReader{R: f, N: k})
		total += n
		if lr != nil {
			lr.N -= n
		}
		if err != nil || n < k {
			return total, err // n < k: the file ended
		}
	}
}

// fileSource returns the file src reads from when src is an *os.File or
// an *io.LimitedReader over one (with that reader), else nil.
func fileSource(src io.Reader) (*os.File, *io.LimitedReader) {
	switch s := src.(type) {
	case *os.File:
		return s, nil
	case *io.LimitedReader:
		if f, ok := s.R.(*os.File); ok {
			return f, s
		}
	}
	return nil, nil
}

// Flush moves the deadline and flushes.
func (p *pacer) Flush() {
	if p.before(0) != nil {
		return
	}
	_ = p.rc.Flush()
}

// Unwrap serves http.ResponseController.
func (p *pacer) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// Interface guards.
var (
	_ io.ReaderFrom = (*pacer)(nil)
	_ http.Flusher  = (*pacer)(nil)
)
