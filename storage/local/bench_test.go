//go:build unix

package local_test

import (
	"context"
	"testing"

	"github.com/rangeserve/rangeserve/storage/local"
)

func BenchmarkOpen(b *testing.B) {
	tr := newTree(b)
	for _, bc := range []struct {
		name string
		opts local.Options
	}{
		{"root", local.Options{Root: tr.root}},
		{"follow", local.Options{Root: tr.root, FollowSymlinks: true}},
	} {
		be := newBackend(b, bc.opts)
		b.Run(bc.name+"/open", func(b *testing.B) {
			for b.Loop() {
				o, err := be.Open(context.Background(), "sub/b.txt")
				if err != nil {
					b.Fatal(err)
				}
				o.Close()
			}
		})
		b.Run(bc.name+"/stat", func(b *testing.B) {
			for b.Loop() {
				if _, err := be.Stat(context.Background(), "sub/b.txt"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
