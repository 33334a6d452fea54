// Package testenv owns what rangeserve's integration tests need from the
// machine: finding external programs (MinIO, nginx, curl, aria2c, ffprobe,
// Chromium), starting servers on free loopback ports and stopping them by
// pid. A missing program skips the test on a developer's machine and fails
// it when CI=true, because a skipped test proves nothing.
//
// [StartMinIO] (minio.go) imports minio-go to create buckets and objects:
// testenv is internal test support and is never linked into the rangeserve
// binary, so this third-party import stays out of the product's packages.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true), where every
// integration test must run rather than skip.
func InCI() bool {
	v, _ := strconv.ParseBool(os.Getenv("CI"))
	return v
}

// ToolsDir is where the test command installs programs that do not come
// from Debian's packages (MinIO): $RANGESERVE_TOOLS, or
// $HOME/.cache/rangeserve/bin.
func ToolsDir() string {
	if d := os.Getenv("RANGESERVE_TOOLS"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "rangeserve-tools")
	}
	return filepath.Join(home, ".cache", "rangeserve", "bin")
}

// LookPath finds name on PATH or in [ToolsDir], or returns "".
func LookPath(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := filepath.Join(ToolsDir(), name)
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return p
	}
	return ""
}

// Require returns the path of the program name. When it is missing the
// test is skipped with a message saying how to install it, or failed when
// CI=true.
func Require(t testing.TB, name string) string {
	t.Helper()
	if p := LookPath(name); p != "" {
		return p
	}
	msg := name + " is not installed: run `make deps` (or `make test`, which installs it)"
	if InCI() {
		t.Fatalf("%s; CI=true, so this is a failure, not a skip", msg)
	}
	t.Skip(msg)
	return ""
}

// Short skips the test under `go test -short`, unless CI=true.
func Short(t testing.TB, why string) {
	t.Helper()
	if testing.Short() && !InCI() {
		t.Skip("-short: " + why)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
