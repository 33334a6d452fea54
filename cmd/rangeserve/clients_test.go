package main

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/internal/testenv"
)

// Real clients against the running binary. Each download is checked by
// sha256 against the source file.

func TestCurlResume(t *testing.T) {
	curl := testenv.Require(t, "curl")
	root := t.TempDir()
	src := randomFile(t, root, "big.bin", 8<<20)
	p := startBinary(t, localConfig(root))
	out := filepath.Join(t.TempDir(), "big.bin")

	// Interrupted: the connection drops after 3 MB, as a flaky network
	// would, leaving a partial file.
	_, err := runCmd(t, 30*time.Second, curl, "-sS", "-o", out, cutProxy(t, p.URL, 3e6)+"/big.bin")
	if err == nil {
		t.Fatal("the throttled curl finished: the interruption did not happen")
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Size() == 0 || fi.Size() >= 8<<20 {
		t.Fatalf("partial download: %v size %d, want 0 < size < 8MiB", err, fi.Size())
	}
	partial := fi.Size()

	// Resumed with -C -: curl asks for bytes=N- and appends.
	if o, err := runCmd(t, 60*time.Second, curl, "-sS", "-f", "-C", "-", "-o", out, p.URL+"/big.bin"); err != nil {
		t.Fatalf("curl -C -: %v\n%s", err, o)
	}
	if got, want := sha256File(t, out), sha256File(t, src); got != want {
		t.Fatalf("resumed download sha256 %s, want %s", got, want)
	}
	if want := `range="bytes=` + strconv.FormatInt(partial, 10) + `-"`; !strings.Contains(p.loggedLines(), want) {
		t.Errorf("the server log has no %q: curl did not resume with a Range request", want)
	}
	t.Logf("curl -C -: partial %d bytes, resumed, sha256 %s", partial, sha256File(t, out))

	// Resuming a complete file: 416 with Content-Range, which curl treats
	// as "already complete".
	if o, err := runCmd(t, 30*time.Second, curl, "-sS", "-C", "-", "-o", out, p.URL+"/big.bin"); err != nil {
		t.Fatalf("curl -C - on a complete file: %v\n%s", err, o)
	}
	if got, want := sha256File(t, out), sha256File(t, src); got != want {
		t.Fatalf("after the second resume sha256 %s, want %s", got, want)
	}
}

func TestWgetContinue(t *testing.T) {
	wget := testenv.Require(t, "wget")
	root := t.TempDir()
	src := randomFile(t, root, "big.bin", 8<<20)
	p := startBinary(t, localConfig(root))
	dir := t.TempDir()
	out := filepath.Join(dir, "big.bin")

	// The connection drops after 3 MB; --tries=1 keeps wget from retrying
	// on its own.
	if _, err := runCmd(t, 30*time.Second, wget, "-q", "--tries=1", "-O", out, cutProxy(t, p.URL, 3e6)+"/big.bin"); err == nil {
		t.Fatal("the throttled wget finished: the interruption did not happen")
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Size() == 0 || fi.Size() >= 8<<20 {
		t.Fatalf("partial download: %v, want 0 < size < 8MiB", err)
	}
	partial := fi.Size()
	if o, err := runCmd(t, 60*time.Second, wget, "-q", "-c", "-O", out, p.URL+"/big.bin"); err != nil {
		t.Fatalf("wget -c: %v\n%s", err, o)
	}
	if got, want := sha256File(t, out), sha256File(t, src); got != want {
		t.Fatalf("wget -c sha256 %s, want %s", got, want)
	}
	if want := `range="bytes=` + strconv.FormatInt(partial, 10) + `-"`; !strings.Contains(p.loggedLines(), want) {
		t.Errorf("the server log has no %q: wget did not resume with a Range request", want)
	}
	t.Logf("wget -c: partial %d bytes, resumed, sha256 %s", partial, sha256File(t, out))
}

func TestAria2Segmented(t *testing.T) {
	aria := testenv.Require(t, "aria2c")
	root := t.TempDir()
	src := randomFile(t, root, "big.bin", 32<<20)
	p := startBinary(t, localConfig(root))
	dir := t.TempDir()
	o, err := runCmd(t, 120*time.Second, aria, "-q", "-x8", "-s8", "-k1M", "--file-allocation=none",
		"--allow-overwrite=true", "-d", dir, "-o", "big.bin", p.URL+"/big.bin")
	if err != nil {
		t.Fatalf("aria2c: %v\n%s", err, o)
	}
	if got, want := sha256File(t, filepath.Join(dir, "big.bin")), sha256File(t, src); got != want {
		t.Fatalf("aria2c sha256 %s, want %s", got, want)
	}
	// Segmented means several ranged requests.
	n := len(regexp.MustCompile(`status=206`).FindAllString(p.loggedLines(), -1))
	if n < 2 {
		t.Errorf("aria2c made %d ranged (206) requests, want several:\n%s", n, p.logs.String())
	}
	t.Logf("aria2c -x8 -s8 -k1M: %d ranged requests, sha256 %s", n, sha256File(t, src))
}

func TestFFprobeOverHTTP(t *testing.T) {
	ffprobe := testenv.Require(t, "ffprobe")
	ffmpeg := testenv.Require(t, "ffmpeg")
	root := t.TempDir()
	td := repoTestdata(t)
	data, err := os.ReadFile(filepath.Join(td, "video.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "video.mp4"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	// The same video with its moov atom at the end: a player must seek to
	// the end with a Range request before it can read anything.
	if o, err := runCmd(t, 60*time.Second, ffmpeg, "-v", "error", "-y", "-i", filepath.Join(root, "video.mp4"),
		"-c", "copy", "-movflags", "-faststart", filepath.Join(root, "moov-last.mp4")); err != nil {
		t.Fatalf("ffmpeg remux: %v\n%s", err, o)
	}
	p := startBinary(t, localConfig(root))
	for _, name := range []string{"video.mp4", "moov-last.mp4"} {
		o, err := runCmd(t, 60*time.Second, ffprobe, "-v", "error", "-show_entries", "format=duration",
			"-of", "csv=p=0", p.URL+"/"+name)
		if err != nil {
			t.Fatalf("ffprobe %s: %v\n%s", name, err, o)
		}
		d, err := strconv.ParseFloat(strings.TrimSpace(o), 64)
		if err != nil || d < 9.9 || d > 10.1 {
			t.Fatalf("ffprobe %s: duration %q, want about 10 s", name, o)
		}
		t.Logf("ffprobe over HTTP %s: duration %.3f s", name, d)
	}
	// ffprobe jumped to the moov atom at the end with a Range request.
	if !regexp.MustCompile(`path=/moov-last.mp4 status=206`).MatchString(p.loggedLines()) {
		t.Errorf("no 206 for moov-last.mp4 in the log: ffprobe did not seek with Range\n%s", p.logs.String())
	}
}

// cutProxy forwards connections to the server at base (an http:// URL) and
// cuts each one after sending limit bytes of the response back, the way a
// dropped connection would. It returns the proxy's base URL.
func cutProxy(t *testing.T, base string, limit int64) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	target := strings.TrimPrefix(base, "http://")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				go io.Copy(s, c)
				io.CopyN(c, s, limit)
			}()
		}
	}()
	return "http://" + l.Addr().String()
}
