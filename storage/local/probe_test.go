//go:build unix

package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rangeserve/rangeserve/storage/local"
)

// TestProbe: the probe answers while the root is there, and fails, saying
// why, once it is gone, replaced by a file, or replaced by another
// directory (a file system mounted over it).
func TestProbe(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		change func(t *testing.T, root string)
		errHas string
	}{
		{"unchanged", func(*testing.T, string) {}, ""},
		{"removed", func(t *testing.T, root string) { must(t, os.Remove(root)) }, "no such file"},
		{"now a file", func(t *testing.T, root string) {
			must(t, os.Remove(root))
			must(t, os.WriteFile(root, nil, 0o644))
		}, "now a regular file"},
		{"another directory", func(t *testing.T, root string) {
			must(t, os.Rename(root, root+".old"))
			must(t, os.Mkdir(root, 0o755))
		}, "another directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			must(t, os.Mkdir(root, 0o755))
			b := newBackend(t, local.Options{Root: root})
			if err := b.Probe(ctx); err != nil {
				t.Fatalf("Probe before the change: %v", err)
			}
			tt.change(t, root)
			err := b.Probe(ctx)
			if tt.errHas == "" && err != nil || tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)) {
				t.Errorf("Probe = %v, want an error containing %q", err, tt.errHas)
			}
		})
	}
	b := newBackend(t, local.Options{Root: t.TempDir()})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Probe(cctx); err == nil {
		t.Errorf("Probe with a cancelled context = nil")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
