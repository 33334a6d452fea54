package server

import (
	"math"
	"net/http"
	"sync"
	"sync/atomic"
)

// Switch is an http.Handler that forwards each request to the handler
// current when the request arrives. It is safe for concurrent use.
type Switch struct {
	cur atomic.Pointer[generation]
}

// generation is one handler and the requests running in it. state counts
// them; its sign bit is set once the handler is replaced, so that a
// request that loaded it just before the swap backs out instead of
// entering a handler about to be released.
type generation struct {
	h     http.Handler
	state atomic.Int64
	idle  chan struct{} // closed when retired and no request runs
	once  sync.Once
}

const retiredBit = math.MinInt64

// testHookLoaded, when set by a test, runs between loading the current
// generation and entering it: the window a concurrent Swap can hit.
var testHookLoaded func()

// NewSwitch returns a Switch serving h.
func NewSwitch(h http.Handler) *Switch {
	s := &Switch{}
	s.cur.Store(newGeneration(h))
	return s
}

func newGeneration(h http.Handler) *generation {
	return &generation{h: h, idle: make(chan struct{})}
}

func (s *Switch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for {
		g := s.cur.Load()
		if testHookLoaded != nil {
			testHookLoaded()
		}
		if g.enter() {
			defer g.exit()
			g.h.ServeHTTP(w, r)
			return
		}
		// g was replaced between Load and enter: take the new one.
	}
}

// Swap makes h the handler for requests arriving from now on and returns
// a channel that is closed when the last request of the handler it
// replaces has ended.
func (s *Switch) Swap(h http.Handler) <-chan struct{} {
	old := s.cur.Swap(newGeneration(h))
	if v := old.state.Add(retiredBit); v == retiredBit {
		old.once.Do(func() { close(old.idle) })
	}
	return old.idle
}

// Active returns the number of requests running in the current handler.
func (s *Switch) Active() int {
	return int(s.cur.Load().state.Load() &^ retiredBit)
}

func (g *generation) enter() bool {
	if g.state.Add(1) < 0 {
		g.exit()
		return false
	}
	return true
}

func (g *generation) exit() {
	if g.state.Add(-1) == retiredBit {
		g.once.Do(func() { close(g.idle) })
	}
}
