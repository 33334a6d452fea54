package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestSwapBetweenLoadAndEnter: a Swap that lands after a request loaded
// the old handler but before it entered it sends the request to the new
// handler, and the old one is idle (released) without ever running it.
func TestSwapBetweenLoadAndEnter(t *testing.T) {
	var oldRan bool
	old := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { oldRan = true })
	sw := NewSwitch(old)
	var idle <-chan struct{}
	var once sync.Once
	testHookLoaded = func() {
		once.Do(func() {
			idle = sw.Swap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "new") }))
		})
	}
	defer func() { testHookLoaded = nil }()
	rec := httptest.NewRecorder()
	sw.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if oldRan || rec.Body.String() != "new" {
		t.Errorf("request answered %q (old ran: %v), want the new handler", rec.Body.String(), oldRan)
	}
	select {
	case <-idle:
	default:
		t.Error("the replaced handler is not idle")
	}
}
