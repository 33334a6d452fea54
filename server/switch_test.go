package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/server"
)

// app is a handler standing for a whole configuration: it answers its
// name, and fails the test if a request runs in it after it was released.
type app struct {
	name     string
	released atomic.Bool
	hold     chan struct{} // when not nil, requests wait on it
	t        *testing.T
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.released.Load() {
		a.t.Errorf("a request entered %s after it was released", a.name)
	}
	if a.hold != nil {
		<-a.hold
	}
	if a.released.Load() {
		a.t.Errorf("%s was released while a request ran in it", a.name)
	}
	io.WriteString(w, a.name)
}

func get(h http.Handler) string {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	return rec.Body.String()
}

func TestSwitchKeepsRequestsOnTheirHandler(t *testing.T) {
	old := &app{name: "old", hold: make(chan struct{}), t: t}
	sw := server.NewSwitch(old)
	var wg sync.WaitGroup
	results := make(chan string, 2)
	for range 2 {
		wg.Go(func() { results <- get(sw) })
	}
	for sw.Active() != 2 {
		time.Sleep(time.Millisecond)
	}
	idle := sw.Swap(&app{name: "new", t: t})
	if got := get(sw); got != "new" {
		t.Errorf("a request after Swap went to %q", got)
	}
	select {
	case <-idle:
		t.Fatal("the old handler is reported idle while two requests run in it")
	case <-time.After(50 * time.Millisecond):
	}
	close(old.hold)
	wg.Wait()
	for range 2 {
		if got := <-results; got != "old" {
			t.Errorf("a request in flight during Swap answered %q, want old", got)
		}
	}
	select {
	case <-idle:
	case <-time.After(5 * time.Second):
		t.Fatal("the old handler was never reported idle")
	}
	// Swapping a handler with no request in flight: idle at once.
	select {
	case <-sw.Swap(&app{name: "third", t: t}):
	case <-time.After(time.Second):
		t.Fatal("an idle handler's channel did not close at Swap")
	}
}

// TestSwitchStress swaps handlers while requests pour in: no request may
// run in a handler once its idle channel has closed (when a reload
// releases it).
func TestSwitchStress(t *testing.T) {
	cur := &app{name: "g0", t: t}
	sw := server.NewSwitch(cur)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var served atomic.Int64
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				get(sw)
				served.Add(1)
			}
		})
	}
	var releasers sync.WaitGroup
	for range 200 {
		next := &app{name: "g", t: t}
		idle := sw.Swap(next)
		old := cur
		releasers.Go(func() {
			<-idle
			old.released.Store(true)
		})
		cur = next
		time.Sleep(100 * time.Microsecond)
	}
	close(stop)
	wg.Wait()
	releasers.Wait()
	if served.Load() < 100 {
		t.Errorf("only %d requests served", served.Load())
	}
	if sw.Active() != 0 {
		t.Errorf("Active = %d after all requests ended", sw.Active())
	}
}
