package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/rangeio"
)

// zeros is an io.ReaderAt of zero bytes of any length.
type zeros struct{}

func (zeros) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	return len(p), nil
}

// TestConfigReadAheadZeroIsOff: cache.read_ahead: 0 is documented as "off";
// the cache rangeio builds from it must not prefetch (rangeio reads a zero
// ReadAhead as its default, so the config maps 0 to rangeio.NoReadAhead).
// Two sequential block reads would trigger read-ahead otherwise.
func TestConfigReadAheadZeroIsOff(t *testing.T) {
	for _, tc := range []struct {
		readAhead string
		want      bool
	}{
		{"0", false},
		{"2", true},
	} {
		_, a, _ := startApp(t, fmt.Sprintf(`
cache:
  read_ahead: %s
mounts:
  - {prefix: /p/, backend: local, root: %q, auth: public}
`, tc.readAhead, repoTestdata(t)))
		bs := int64(rangeio.DefaultBlockSize) // cache.block_size left to rangeio
		r := a.cache.Wrap("zeros", 64*bs, zeros{})
		buf := make([]byte, bs)
		for i := range int64(4) {
			if _, err := r.ReadAt(buf, i*bs); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(2 * time.Second)
		for a.cache.Stats().ReadAheads == 0 && time.Now().Before(deadline) && tc.want {
			time.Sleep(10 * time.Millisecond)
		}
		if !tc.want {
			time.Sleep(200 * time.Millisecond) // a read-ahead would have started by now
		}
		if got := a.cache.Stats().ReadAheads > 0; got != tc.want {
			t.Errorf("read_ahead: %s: %d blocks read ahead, want read-ahead=%v", tc.readAhead, a.cache.Stats().ReadAheads, tc.want)
		}
	}
}
