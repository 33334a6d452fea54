package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultTimeout bounds each probe when [Options].Timeout is 0.
const DefaultTimeout = 2 * time.Second

// DefaultReuse is how long a readiness result is reused when
// [Options].Reuse is 0.
const DefaultReuse = time.Second

// NoReuse, as [Options].Reuse, runs the probes for every readiness
// request (concurrent requests still share one run).
const NoReuse time.Duration = -1

// Probe reports whether one dependency answers. It should be cheap (one
// stat, one HEAD request) and return when ctx is done.
type Probe func(ctx context.Context) error

// Prober is implemented by backends that know their own cheap probe
// (storage/local and storage/s3 do): cmd registers b.Probe.
type Prober interface {
	Probe(ctx context.Context) error
}

// Options configures a [Checker]. Zero fields take their defaults.
type Options struct {
	// Timeout bounds each probe of a readiness check. Default
	// [DefaultTimeout].
	Timeout time.Duration
	// Reuse is how long a readiness result is served again without
	// running the probes. Default [DefaultReuse]; [NoReuse] turns it off.
	Reuse time.Duration
	// Logger receives a line whenever a probe's state changes (ok to
	// failed and back), with the error. Default slog.Default().
	Logger *slog.Logger
}

// ErrTimeout is the error a probe result carries when the probe did not
// answer within the timeout.
var ErrTimeout = errors.New("health: probe timed out")

// errStillRunning is reported for a probe whose previous run has not
// returned yet.
var errStillRunning = fmt.Errorf("previous run still in progress: %w", ErrTimeout)

// ProbeResult is the outcome of one probe.
type ProbeResult struct {
	Name string
	// Err is nil when the probe answered in time; [ErrTimeout] (possibly
	// wrapped) when it did not.
	Err error
	// Took is how long the probe ran (the timeout for a probe that did
	// not answer).
	Took time.Duration
}

// Result is one readiness check.
type Result struct {
	// Ready is true when the server is not draining and every probe
	// answered without error.
	Ready bool
	// Draining reports [Checker.SetDraining](true); no probe ran.
	Draining bool
	// Probes holds one result per probe, sorted by name.
	Probes []ProbeResult
	// At is when the probes ran.
	At time.Time
}

// Checker runs readiness probes and serves the health endpoints. It is
// safe for concurrent use.
type Checker struct {
	timeout time.Duration
	reuse   time.Duration
	log     *slog.Logger

	mu       sync.Mutex
	probes   map[string]Probe
	gen      uint64 // counts SetProbes calls, so a run of replaced probes is not kept
	draining bool
	last     *Result       // the last completed run, nil before the first
	running  chan struct{} // closed when the run in progress ends; nil if none
	inflight map[string]bool
	failing  map[string]bool // probes whose last result was an error, for logging changes
}

// New returns a Checker with no probes (ready, unless draining).
func New(opts Options) *Checker {
	c := &Checker{timeout: opts.Timeout, reuse: opts.Reuse, log: opts.Logger,
		probes: map[string]Probe{}, inflight: map[string]bool{}, failing: map[string]bool{}}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	switch {
	case c.reuse == 0:
		c.reuse = DefaultReuse
	case c.reuse < 0:
		c.reuse = 0
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c
}

// SetProbes replaces every probe with those of probes (keyed by the name
// answers and logs show, such as "mount /media/"). A configuration
// reload calls it with the new backends' probes.
func (c *Checker) SetProbes(probes map[string]Probe) {
	m := make(map[string]Probe, len(probes))
	for name, p := range probes {
		if p != nil {
			m[name] = p
		}
	}
	c.mu.Lock()
	c.probes = m
	c.gen++
	c.last = nil // the next check runs the new probes
	c.mu.Unlock()
}

// SetDraining sets whether the server is draining: while it is, the
// readiness check fails at once without running the probes.
func (c *Checker) SetDraining(draining bool) {
	c.mu.Lock()
	c.draining = draining
	c.mu.Unlock()
}

// Draining reports the flag [Checker.SetDraining] set.
func (c *Checker) Draining() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.draining
}

// Check returns the readiness result: a recent one (see
// [Options].Reuse), the one of a run in progress, or a new run's. ctx only
// bounds the wait: a run once started completes for the next caller.
func (c *Checker) Check(ctx context.Context) (Result, error) {
	for {
		c.mu.Lock()
		if c.draining {
			c.mu.Unlock()
			return Result{Draining: true, At: time.Now()}, nil
		}
		if c.last != nil && time.Since(c.last.At) < c.reuse {
			r := *c.last
			c.mu.Unlock()
			return r, nil
		}
		done := c.running
		if done == nil {
			done = make(chan struct{})
			c.running = done
			probes, gen := c.probes, c.gen
			c.mu.Unlock()
			go c.run(probes, gen, done)
		} else {
			c.mu.Unlock()
		}
		select {
		case <-done:
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
		c.mu.Lock()
		if c.last != nil && !c.draining {
			r := *c.last
			c.mu.Unlock()
			return r, nil
		}
		c.mu.Unlock() // the probes changed or draining began meanwhile: again
	}
}

// run runs every probe in parallel, each bounded by the timeout, records
// the result and closes done.
func (c *Checker) run(probes map[string]Probe, gen uint64, done chan struct{}) {
	start := time.Now()
	names := make([]string, 0, len(probes))
	for n := range probes {
		names = append(names, n)
	}
	slices.Sort(names)
	res := Result{Ready: true, Probes: make([]ProbeResult, len(names)), At: start}
	var wg sync.WaitGroup
	for i, name := range names {
		res.Probes[i].Name = name
		wg.Go(func() { res.Probes[i].Took, res.Probes[i].Err = c.runOne(name, probes[name]) })
	}
	wg.Wait()
	c.mu.Lock()
	for _, p := range res.Probes {
		if p.Err != nil {
			res.Ready = false
		}
		if was := c.failing[p.Name]; p.Err != nil && !was {
			c.log.Warn("health: probe failed: not ready", "probe", p.Name, "took", p.Took.Round(time.Millisecond), "err", p.Err)
		} else if p.Err == nil && was {
			c.log.Info("health: probe answers again", "probe", p.Name, "took", p.Took.Round(time.Millisecond))
		}
		c.failing[p.Name] = p.Err != nil
	}
	if c.gen == gen {
		c.last = &res
	}
	c.running = nil
	c.mu.Unlock()
	close(done)
}

// runOne runs p with the timeout. A probe that ignores its context is
// abandoned at the timeout and not started again until it returns.
func (c *Checker) runOne(name string, p Probe) (time.Duration, error) {
	c.mu.Lock()
	if c.inflight[name] {
		c.mu.Unlock()
		return 0, errStillRunning
	}
	c.inflight[name] = true
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		var err error
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("health: probe panicked: %v", v)
			}
			c.mu.Lock()
			delete(c.inflight, name)
			c.mu.Unlock()
			errc <- err
		}()
		err = p(ctx)
	}()
	select {
	case err := <-errc:
		took := time.Since(start)
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w after %v: %w", ErrTimeout, c.timeout, err)
		}
		return took, err
	case <-ctx.Done():
		return c.timeout, fmt.Errorf("%w after %v", ErrTimeout, c.timeout)
	}
}

// Live returns the /healthz handler: 200 "ok" to GET and HEAD for as long
// as the process serves HTTP, draining or not.
func (c *Checker) Live() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowMethod(w, r) {
			return
		}
		writeText(w, r, http.StatusOK, "ok\n")
	})
}

// Ready returns the /readyz handler: 200 and one "name ok" line per probe
// when ready; 503 with "draining", or the failing probes' names and
// "failed" or "timeout", otherwise. Error texts are logged, never sent.
func (c *Checker) Ready() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowMethod(w, r) {
			return
		}
		res, err := c.Check(r.Context())
		if err != nil {
			return // the client went away
		}
		var b strings.Builder
		status := http.StatusOK
		switch {
		case res.Draining:
			status = http.StatusServiceUnavailable
			b.WriteString("draining\n")
		case res.Ready:
			b.WriteString("ready\n")
		default:
			status = http.StatusServiceUnavailable
			b.WriteString("not ready\n")
		}
		for _, p := range res.Probes {
			state := "ok"
			switch {
			case errors.Is(p.Err, ErrTimeout):
				state = "timeout"
			case p.Err != nil:
				state = "failed"
			}
			fmt.Fprintf(&b, "%s %s %s\n", p.Name, state, p.Took.Round(100*time.Microsecond))
		}
		if status != http.StatusOK {
			w.Header().Set("Retry-After", "1")
		}
		writeText(w, r, status, b.String())
	})
}

func allowMethod(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
	return false
}

func writeText(w http.ResponseWriter, r *http.Request, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write([]byte(body))
	}
}
