//go:build linux

package limits_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/limits"
)

// helperEnv makes the test binary, run by TestSendfileKept under strace,
// a server instead of a test run.
const helperEnv = "LIMITS_SENDFILE_HELPER"

// TestSendfileHelper is the server TestSendfileKept traces: it serves the
// file $LIMITS_FILE through a Limiter configured by $LIMITS_MODE, prints
// its address, and exits when its stdin closes.
func TestSendfileHelper(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper process for TestSendfileKept")
	}
	path := os.Getenv("LIMITS_FILE")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var opts limits.Options
	switch os.Getenv("LIMITS_MODE") {
	case "deadline":
	case "rate":
		opts.ConnRate = 64 << 20
	default:
		t.Fatalf("LIMITS_MODE %q", os.Getenv("LIMITS_MODE"))
	}
	l, err := limits.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: l.Middleware(&body{path: path, data: data}), ConnContext: limits.ConnContext}
	go srv.Serve(ln)
	fmt.Println(ln.Addr().String())
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
}

// TestSendfileKept runs a server with a write deadline, and one with a
// bandwidth limit, under strace and downloads a file from each: the body
// bytes must all move by sendfile(2), none through write(2).
func TestSendfileKept(t *testing.T) {
	testShort(t)
	strace := testenv.Require(t, "strace")
	const size = 4 << 20
	path, data := writeFile(t, size)
	for _, mode := range []string{"deadline", "rate"} {
		t.Run(mode, func(t *testing.T) {
			trace := filepath.Join(t.TempDir(), "strace.out")
			cmd := exec.Command(strace, "-f", "-o", trace, "-e", "trace=sendfile,write,writev,sendto,sendmsg",
				os.Args[0], "-test.run=^TestSendfileHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), helperEnv+"=1", "LIMITS_FILE="+path, "LIMITS_MODE="+mode)
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			var waitErr error
			go func() { waitErr = cmd.Wait(); close(done) }()
			defer func() {
				stdin.Close()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					cmd.Process.Kill()
					<-done
				}
			}()
			addrc := make(chan string, 1)
			go func() {
				line, _ := bufio.NewReader(stdout).ReadString('\n')
				addrc <- strings.TrimSpace(line)
				io.Copy(io.Discard, stdout)
			}()
			var addr string
			select {
			case addr = <-addrc:
			case <-done:
				msg := fmt.Sprintf("the helper under strace exited: %v: %s", waitErr, stderr.String())
				if strings.Contains(stderr.String(), "not permitted") && !testenv.InCI() {
					t.Skip(msg)
				}
				t.Fatal(msg)
			case <-time.After(20 * time.Second):
				t.Fatalf("the helper printed no address in 20s: %s", stderr.String())
			}
			if addr == "" {
				t.Fatalf("the helper printed no address: %s", stderr.String())
			}
			download(t, "http://"+addr+"/f", "", data)
			download(t, "http://"+addr+"/f", "", data)
			stdin.Close()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the helper did not exit after its stdin closed")
			}
			sent, written := straceBytes(t, trace)
			t.Logf("%s: sendfile moved %d bytes, write/writev/sendto/sendmsg %d", mode, sent, written)
			if sent != 2*size {
				t.Errorf("sendfile moved %d bytes, want exactly %d (two downloads)", sent, 2*size)
			}
			if written > 64<<10 {
				t.Errorf("write calls moved %d bytes: the body went through user space", written)
			}
		})
	}
}

var straceLine = regexp.MustCompile(`^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?: resumed>|\().*\)\s+= (\d+)`)

// straceBytes sums the bytes sendfile and the write calls returned.
func straceBytes(t *testing.T, path string) (sent, written int64) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		m := straceLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n, _ := strconv.ParseInt(m[2], 10, 64)
		if m[1] == "sendfile" {
			sent += n
		} else {
			written += n
		}
	}
	return sent, written
}
