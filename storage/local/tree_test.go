//go:build unix

package local_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// sentinel is the content of the only file outside the root. No test may
// ever read it through the backend.
const sentinel = "SENTINEL: this file lives outside the root and must never be served\n"

// tree is a served root next to an outside directory holding a sentinel.
type tree struct {
	base, root, outside string
	sums                map[string]string // key of each regular file in root → sha256 hex
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// newTree builds:
//
//	base/outside/secret.txt            the sentinel
//	base/root/video.bin                3 MiB of random bytes
//	base/root/sub/b.txt, 100%, 50%off  small files
//	base/root/.hidden, .hdir/x.txt, sub/.h
//	base/root/link-in -> sub/b.txt     relative, inside
//	base/root/link-in-abs -> /abs/root/sub/b.txt
//	base/root/link-out -> /abs/outside/secret.txt
//	base/root/link-out-rel -> ../outside/secret.txt
//	base/root/dirlink-in -> sub, dirlink-out -> ../outside
//	base/root/sub/up -> ..             (inside: the root itself)
//	base/root/devnull -> /dev/null, loop -> loop, dangling -> nowhere
//	base/root/fifo                     a named pipe
func newTree(t testing.TB) *tree {
	t.Helper()
	base := tempDir(t)
	tr := &tree{
		base:    base,
		root:    filepath.Join(base, "root"),
		outside: filepath.Join(base, "outside"),
		sums:    map[string]string{},
	}
	mkdir(t, tr.root)
	mkdir(t, tr.outside)
	write(t, filepath.Join(tr.outside, "secret.txt"), []byte(sentinel))

	video := make([]byte, 3<<20)
	if _, err := rand.Read(video); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"video.bin":   video,
		"sub/b.txt":   []byte("bee\n"),
		"100%":        []byte("one hundred percent\n"),
		"50%off":      []byte("half price\n"),
		"a b/c d.txt": []byte("spaces\n"),
		"été.txt":     []byte("unicode name\n"),
		".hidden":     []byte("hidden file\n"),
		".hdir/x.txt": []byte("in a hidden dir\n"),
		"sub/.h":      []byte("hidden in sub\n"),
		"empty":       nil,
	}
	for k, b := range files {
		p := filepath.Join(tr.root, filepath.FromSlash(k))
		mkdir(t, filepath.Dir(p))
		write(t, p, b)
		tr.sums[k] = sum(b)
	}
	links := map[string]string{
		"link-in":      "sub/b.txt",
		"link-in-abs":  filepath.Join(tr.root, "sub", "b.txt"),
		"link-out":     filepath.Join(tr.outside, "secret.txt"),
		"link-out-rel": "../outside/secret.txt",
		"dirlink-in":   "sub",
		"dirlink-out":  "../outside",
		"sub/up":       "..",
		"devnull":      "/dev/null",
		"loop":         "loop",
		"dangling":     "nowhere",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(tr.root, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(tr.root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	return tr
}

func tempDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mkdir(t testing.TB, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func write(t testing.TB, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
