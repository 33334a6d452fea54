package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// How nginx reads X-Accel-Redirect, measured against Debian's nginx 1.22.1
// by TestNginxXAccelRedirect in nginx_test.go (the media package relies on
// this):
//
//   - nginx percent-decodes the header value exactly once, then splits off
//     a query string at the first raw '?', then matches locations and maps
//     alias/root against the decoded path. So send the key percent-encoded
//     as a URL path: prefix + "/" + url.PathEscape per segment, or
//     (&url.URL{Path: prefix + "/" + key}).EscapedPath(). Both give
//     "/_internal/vid%C3%A9o%20%F0%9D%84%9E%20test.mp4", which serves
//     "vidéo 𝄞 test.mp4". url.PathEscape of a whole key also works: its
//     "%2F" decodes back to '/'.
//   - Escaping is required for '?' (raw "a?b.txt" serves the file "a"),
//     for '%' (raw "100%.txt" looks for "100.txt": nginx drops the bad
//     escape) and for control characters (raw values cannot carry them).
//     Raw spaces, raw UTF-8, '+', ';' and '#' happen to work unescaped,
//     but always escape: one rule for every key.
//   - Escaping is not repeated: "%2520" reaches the file system as "%20",
//     so double encoding serves the wrong file or 404.
//   - "..", raw or encoded ("%2e%2e", "%2E%2E%2F"), and NUL ("%00") are
//     refused with 404 and "unsafe URI" in the error log; "./" and "//"
//     are collapsed. Keys are cleaned by storage.CleanKey before this
//     point anyway.
//   - The upstream's Content-Type and Content-Disposition travel with the
//     redirected response, X-Accel-Redirect itself does not. nginx's
//     static module applies the client's Range to the file (206).
//   - The internal location must say "internal": a client's direct GET of
//     /_internal/x is answered 404.

// NginxConfig says what [StartNginx] puts in nginx.conf. Everything else
// (pid file, logs, temp paths, listen address) is filled in by StartNginx.
type NginxConfig struct {
	// ServerBlock is pasted inside server { listen 127.0.0.1:PORT; ... }:
	// the caller's locations and server-level directives, for example
	// the result of [NginxProxyConfig] or
	// `location / { root /some/dir; }`.
	ServerBlock string
	// HTTPBlock is pasted inside http { ... } before the server block:
	// upstream blocks, limit_req zones, map blocks. Empty by default.
	HTTPBlock string
	// WorkerProcesses is nginx's worker_processes. 0 means 1.
	WorkerProcesses int
}

// Nginx is an nginx master process started by [StartNginx], listening on
// 127.0.0.1. Its configuration, logs, pid file and temp directories live in
// Dir. It is stopped by the test's cleanup, or earlier by [Nginx.Stop].
type Nginx struct {
	// URL is "http://127.0.0.1:PORT", with no trailing slash.
	URL string
	// Addr is "127.0.0.1:PORT".
	Addr string
	// Dir is the nginx prefix directory holding nginx.conf, nginx.pid,
	// access.log, error.log and the temp directories.
	Dir string

	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd.Wait returns
	waitErr  error         // set before exited is closed
	stopOnce sync.Once
	stopErr  error
}

// nginxReadyPath is a location StartNginx adds to the server block to know
// that nginx answers HTTP. It is not written to the access log.
const nginxReadyPath = "/.testenv-nginx-ready"

// StartNginx writes a complete nginx.conf for cfg into a new t.TempDir(),
// starts nginx (found with [Require], so a missing nginx skips the test, or
// fails it under CI) on a free port of 127.0.0.1 as a child process in the
// foreground (daemon off, master_process on), and waits up to 10 s until it
// answers HTTP. The test fails if nginx rejects the configuration or does
// not come up; the error log is included in the message.
//
// nginx is stopped when the test ends (SIGQUIT to the master, which stops
// its workers; after 5 s SIGKILL to its workers, then to the master if it
// has not exited 2 s later). When the tests run as root, the configuration says "user root;" so that
// workers can read t.TempDir() directories (created 0700) and other
// root-owned fixtures; otherwise workers would run as nobody and answer 403.
func StartNginx(t testing.TB, cfg NginxConfig) *Nginx {
	t.Helper()
	bin := Require(t, "nginx")
	dir := t.TempDir()
	for _, d := range []string{"client_body_temp", "proxy_temp", "fastcgi_temp", "uwsgi_temp", "scgi_temp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatalf("testenv: nginx temp dir: %v", err)
		}
	}

	// A port found free can be taken by another process before nginx
	// binds it; retry a few times on "Address already in use".
	var lastLog string
	for attempt := 0; attempt < 3; attempt++ {
		port := FreePort(t)
		n, errLog, err := startNginxOnce(bin, dir, port, cfg)
		if err == nil {
			t.Cleanup(func() {
				if err := n.Stop(); err != nil {
					t.Errorf("testenv: stopping nginx: %v", err)
				}
			})
			return n
		}
		lastLog = errLog
		if !strings.Contains(errLog, "Address already in use") {
			t.Fatalf("testenv: starting nginx: %v\nnginx.conf:\n%s\nerror.log:\n%s",
				err, readFile(filepath.Join(dir, "nginx.conf")), errLog)
		}
	}
	t.Fatalf("testenv: nginx could not bind a free port in 3 attempts; error.log:\n%s", lastLog)
	return nil
}

// startNginxOnce writes the configuration for port and starts nginx. On
// failure nginx is stopped and the error log is returned with the error.
func startNginxOnce(bin, dir string, port int, cfg NginxConfig) (*Nginx, string, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	conf := filepath.Join(dir, "nginx.conf")
	errLog := filepath.Join(dir, "error.log")
	_ = os.Remove(errLog) // a previous attempt's log would confuse the diagnosis
	if err := os.WriteFile(conf, []byte(nginxConf(dir, addr, cfg)), 0o600); err != nil {
		return nil, "", fmt.Errorf("writing nginx.conf: %w", err)
	}
	cmd := exec.Command(bin, "-p", dir+"/", "-c", conf, "-e", errLog)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	// If the test binary dies without running cleanups (a panic, a
	// -timeout), the kernel sends the master SIGTERM, and nginx's fast
	// shutdown stops its workers too. Pdeathsig is Linux only (the field
	// does not exist elsewhere, hence reflection); it fires when the OS
	// thread that started nginx exits, which for an unlocked goroutine is
	// when the process exits.
	if f := reflect.ValueOf(cmd.SysProcAttr).Elem().FieldByName("Pdeathsig"); f.IsValid() && f.CanSet() {
		f.Set(reflect.ValueOf(syscall.SIGTERM))
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("running %s: %w", bin, err)
	}
	n := &Nginx{
		URL:    "http://" + addr,
		Addr:   addr,
		Dir:    dir,
		cmd:    cmd,
		exited: make(chan struct{}),
	}
	go func() {
		n.waitErr = cmd.Wait()
		close(n.exited)
	}()
	if err := n.waitReady(10 * time.Second); err != nil {
		_ = n.Stop()
		return nil, n.ErrorLog() + stderr.String(), err
	}
	return n, "", nil
}

// waitReady polls the ready location until it answers 204, nginx exits, or
// the timeout passes.
func (n *Nginx) waitReady(timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-n.exited:
			return fmt.Errorf("nginx exited during start-up: %v", n.waitErr)
		default:
		}
		resp, err := client.Get(n.URL + nginxReadyPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return nil
			}
			err = fmt.Errorf("GET %s: status %d, want 204", nginxReadyPath, resp.StatusCode)
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("nginx did not answer on %s within %v: %v", n.Addr, timeout, last)
}

// nginxConf renders the full configuration file.
func nginxConf(dir, addr string, cfg NginxConfig) string {
	workers := cfg.WorkerProcesses
	if workers <= 0 {
		workers = 1
	}
	p := func(name string) string { return NginxQuote(filepath.Join(dir, name)) }
	var b strings.Builder
	b.WriteString("# Written by internal/testenv.StartNginx.\n")
	if os.Geteuid() == 0 {
		// Workers would otherwise run as nobody and could not read
		// t.TempDir() (0700) or the temp paths.
		b.WriteString("user root;\n")
	}
	fmt.Fprintf(&b, "daemon off;\nmaster_process on;\nworker_processes %d;\n", workers)
	fmt.Fprintf(&b, "pid %s;\nerror_log %s info;\n\n", p("nginx.pid"), p("error.log"))
	b.WriteString("events {\n    worker_connections 1024;\n}\n\n")
	b.WriteString("http {\n")
	if _, err := os.Stat("/etc/nginx/mime.types"); err == nil {
		b.WriteString("    include /etc/nginx/mime.types;\n")
	} else {
		b.WriteString("    types {\n        text/html html;\n        text/plain txt;\n        image/png png;\n" +
			"        video/mp4 mp4;\n        video/webm webm;\n        audio/mpeg mp3;\n        audio/ogg ogg opus;\n    }\n")
	}
	b.WriteString("    default_type application/octet-stream;\n")
	b.WriteString("    log_format rangeserve '$remote_addr \"$request\" $status $body_bytes_sent " +
		"range=\"$http_range\" content_range=\"$sent_http_content_range\" " +
		"upstream_status=\"$upstream_status\" request_time=$request_time';\n")
	fmt.Fprintf(&b, "    access_log %s rangeserve;\n", p("access.log"))
	fmt.Fprintf(&b, "    client_body_temp_path %s;\n    proxy_temp_path %s;\n    fastcgi_temp_path %s;\n"+
		"    uwsgi_temp_path %s;\n    scgi_temp_path %s;\n",
		p("client_body_temp"), p("proxy_temp"), p("fastcgi_temp"), p("uwsgi_temp"), p("scgi_temp"))
	// tcp_nopush on stalls ~40 ms on keep-alive range responses that do
	// not start on a 4 KiB boundary (the corked last segment waits for the
	// client's delayed ACK); keep it off for tests and benchmarks.
	b.WriteString("    sendfile on;\n    tcp_nopush off;\n    keepalive_requests 10000;\n    server_tokens off;\n")
	if cfg.HTTPBlock != "" {
		b.WriteString("\n" + indent(cfg.HTTPBlock, "    ") + "\n")
	}
	b.WriteString("\n    server {\n")
	fmt.Fprintf(&b, "        listen %s;\n", addr)
	fmt.Fprintf(&b, "        location = %s {\n            access_log off;\n            return 204;\n        }\n", nginxReadyPath)
	b.WriteString(indent(cfg.ServerBlock, "        ") + "\n")
	b.WriteString("    }\n}\n")
	return b.String()
}

// NginxProxyConfig returns the server block used by the X-Accel-Redirect
// tests: every request goes to the upstream (host:port, e.g. an
// httptest.Server's Listener.Addr().String()), and an internal location
// internalPrefix (e.g. "/_internal") serves files from aliasRoot (an
// absolute directory) when the upstream answers with
// "X-Accel-Redirect: /_internal/<escaped key>". See the comment at the top
// of this file for the escaping the header value needs.
//
// proxy_buffering is off: with X-Accel-Redirect nginx only needs the
// upstream's response headers, and for responses the upstream serves
// itself (mode "serve" behind nginx, errors) unbuffered proxying streams
// large bodies instead of spooling them into proxy_temp, and lets the
// upstream see client back-pressure. Request buffering is off for the same
// reason. The upstream still sees the client's Range and conditional
// headers; nginx's static module applies them to the internal file.
func NginxProxyConfig(upstream, internalPrefix, aliasRoot string) string {
	prefix := "/" + strings.Trim(internalPrefix, "/") + "/"
	root := strings.TrimRight(aliasRoot, "/") + "/"
	return fmt.Sprintf(`location / {
    proxy_pass http://%s;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $host;
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_buffering off;
    proxy_request_buffering off;
}

location %s {
    internal;
    alias %s;
}
`, upstream, NginxQuote(prefix), NginxQuote(root))
}

// NginxQuote quotes s as an nginx configuration string: double quotes,
// with backslashes and double quotes escaped. nginx has no escape for '$'
// (variable interpolation), so s must not contain one where variables are
// expanded (alias, root, return).
func NginxQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// indent prefixes every non-empty line of s with pre.
func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "" {
			lines[i] = pre + l
		}
	}
	return strings.Join(lines, "\n")
}

// Pid returns the process id of the nginx master.
func (n *Nginx) Pid() int { return n.cmd.Process.Pid }

// WorkerPids returns the process ids of the master's current children
// (its workers, and the cache manager if configured), read from /proc. It
// returns nil where /proc is unavailable or after nginx has exited.
func (n *Nginx) WorkerPids() []int { return childPids(n.Pid()) }

// AccessLog returns the access log so far. Each line has the form
//
//	127.0.0.1 "GET /video.mp4 HTTP/1.1" 206 100 range="bytes=0-99" content_range="bytes 0-99/267614" upstream_status="-" request_time=0.000
//
// nginx writes a line when the response is finished, so a caller that
// reads it right after the client got the body may need to retry briefly.
func (n *Nginx) AccessLog() string { return readFile(filepath.Join(n.Dir, "access.log")) }

// WaitAccessLog returns the access log once match reports true for it, or
// as it is after 3 s: nginx writes a request's line after the client has
// the response, so a test must not read the log at once.
func (n *Nginx) WaitAccessLog(match func(log string) bool) string {
	deadline := time.Now().Add(3 * time.Second)
	for {
		log := n.AccessLog()
		if match(log) || time.Now().After(deadline) {
			return log
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ErrorLog returns nginx's error log (level info) so far.
func (n *Nginx) ErrorLog() string { return readFile(filepath.Join(n.Dir, "error.log")) }

// Stop shuts nginx down: SIGQUIT (graceful) to the master, which stops its
// workers; if it has not exited after 5 s (a response still in flight),
// SIGKILL to the workers, and to the master if it is still there 2 s
// later. It then checks that none of the master's workers is left. Stop is
// idempotent and is also run by the test's cleanup.
func (n *Nginx) Stop() error {
	n.stopOnce.Do(func() { n.stopErr = n.stop() })
	return n.stopErr
}

func (n *Nginx) stop() error {
	pid := n.Pid()
	select {
	case <-n.exited:
		return nil // exited by itself (start-up failure); nothing to stop
	default:
	}
	workers := childPids(pid)
	if err := n.cmd.Process.Signal(syscall.SIGQUIT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGQUIT to nginx master %d: %w", pid, err)
	}
	select {
	case <-n.exited:
	case <-time.After(5 * time.Second):
		workers = append(workers, childPids(pid)...)
		// Kill the workers first, while they are still the master's
		// children: the master reaps them and, with no worker left,
		// finishes its shutdown by itself. Kill it too if it does not.
		for _, w := range workers {
			killIfChildOf(w, pid)
		}
		select {
		case <-n.exited:
		case <-time.After(2 * time.Second):
			_ = n.cmd.Process.Kill()
			select {
			case <-n.exited:
			case <-time.After(5 * time.Second):
				return fmt.Errorf("nginx master %d did not exit after SIGKILL", pid)
			}
		}
	}
	// The master waits for its workers before it exits; check anyway, with
	// a short bound, that none of the workers we saw is still alive.
	deadline := time.Now().Add(2 * time.Second)
	for {
		var alive []int
		for _, w := range workers {
			if processAlive(w) {
				alive = append(alive, w)
			}
		}
		if len(alive) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nginx workers %v still running after the master %d exited", alive, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// childPids returns the pids whose parent is ppid, from /proc/*/stat.
func childPids(ppid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if parentPid(pid) == ppid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// parentPid reads the parent pid of pid from /proc/PID/stat, or -1.
func parentPid(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// Format: pid (comm) state ppid ...; comm may contain spaces and ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return -1
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return -1
	}
	return ppid
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && !bytes.HasPrefix(bytes.TrimSpace(b[i+1:]), []byte("Z"))
}

// killIfChildOf sends SIGKILL to pid only if it is still a child of ppid,
// so that a recycled pid belonging to someone else is never signalled.
func killIfChildOf(pid, ppid int) {
	if parentPid(pid) != ppid {
		return
	}
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Signal(syscall.SIGKILL)
	}
}

// readFile returns the file's contents, or a note saying why it could not
// be read.
func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	return string(b)
}
