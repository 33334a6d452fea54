package uitest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/rangeserve/rangeserve/internal/testenv"
)

// BrowserTimeout bounds the whole life of one headless Chromium, so that a
// hung browser cannot hang the test run.
const BrowserTimeout = 180 * time.Second

// pageProbe runs in every document before its own scripts: it records
// CSP violations where the checks can read them.
const pageProbe = `window.__csp = [];
document.addEventListener('securitypolicyviolation', e => {
  window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sourceFile || '') + ':' + e.lineNumber);
});`

// Browser is one headless Chromium with its own profile directory.
type Browser struct {
	// Ctx is the chromedp context of the browser's one tab.
	Ctx context.Context
	// Dir is the profile directory (removed with the test's TempDir).
	Dir string

	out  *syncBuffer
	stop func()

	mu         sync.Mutex
	dialogs    []string // messages of JavaScript dialogs that opened
	exceptions []string // uncaught exceptions and console errors
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start starts Debian's chromium headless with a fresh profile and a
// 1280x800 viewport. It skips the test when chromium is missing (fails it
// when CI=true). The browser is closed at the test's cleanup, which also
// checks that none of its processes is left.
func Start(t testing.TB) *Browser {
	t.Helper()
	bin := testenv.Require(t, "chromium")
	dir := t.TempDir()
	out := &syncBuffer{}
	opts := slices.Concat(chromedp.DefaultExecAllocatorOptions[:], []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.CombinedOutput(out),
	})
	root, cancelRoot := context.WithTimeout(context.Background(), BrowserTimeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(root, opts...)
	logf := func(format string, args ...any) { fmt.Fprintf(out, "chromedp: "+format+"\n", args...) }
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(logf), chromedp.WithErrorf(logf))
	b := &Browser{Ctx: ctx, Dir: dir, out: out}
	var once sync.Once
	b.stop = func() {
		once.Do(func() {
			if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
				logf("closing the browser: %v", err)
			}
			cancelCtx()
			cancelAlloc()
			cancelRoot()
			if left := chromiumProcesses(dir, 10*time.Second); len(left) > 0 {
				t.Errorf("chromium processes left after closing the browser: %v", left)
			}
		})
	}
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			t.Logf("chromium output (%s, D-Bus noise left out):\n%s", dir, withoutDBus(out.String()))
		}
	})
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium (%s): %v\n%s", bin, err, withoutDBus(out.String()))
	}
	b.watch(t)
	return b
}

// Fresh opens a new browser context in b's Chromium: a tab with a fresh
// profile of its own (no cookies, storage, cache or token), as an
// incognito window has, for the cost of a tab instead of a process. Its
// viewport is 1280x800. It is closed by Stop or at the test's cleanup,
// and with b.
func (b *Browser) Fresh(t testing.TB) *Browser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.Ctx, chromedp.WithNewBrowserContext())
	f := &Browser{Ctx: ctx, Dir: b.Dir, out: b.out}
	var once sync.Once
	f.stop = func() {
		once.Do(func() {
			cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer ccancel()
			go func() { <-cctx.Done(); cancel() }() // bounds Cancel's wait for the tab
			if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(b.out, "chromedp: closing a browser context: %v\n", err)
			}
			cancel()
		})
	}
	t.Cleanup(f.stop)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("opening a new browser context: %v", err)
	}
	f.watch(t)
	f.Viewport(t, 1280, 800)
	return f
}

// watch installs the page probe and records the tab's dialogs and
// uncaught exceptions.
func (b *Browser) watch(t testing.TB) {
	t.Helper()
	ctx := b.Ctx
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: pageProbe}); err != nil {
		t.Fatalf("installing the page probe: %v", err)
	}
	// Dialogs: record and dismiss, so that a page that opens one cannot
	// block the test (and the check can fail on it).
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, string(ev.Type)+": "+ev.Message)
			b.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() || (m.Type == "error" && m.Source != "network" && m.Source != "security" && m.Source != "") {
				b.mu.Lock()
				b.exceptions = append(b.exceptions, fmt.Sprintf("%s %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
				b.mu.Unlock()
			}
		}
	}()
}

// Stop closes the browser now (it is also closed at cleanup).
func (b *Browser) Stop() { b.stop() }

// Dialogs returns the JavaScript dialogs that opened so far.
func (b *Browser) Dialogs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.dialogs)
}

// Exceptions returns the uncaught exceptions seen so far.
func (b *Browser) Exceptions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.exceptions)
}

// Navigate opens url and waits for the load event.
func (b *Browser) Navigate(t testing.TB, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
}

// Open loads url as a new document: it goes to about:blank first, so
// that a URL differing from the current one only in its hash still starts
// the page afresh (a plain navigation would only fire hashchange).
func (b *Browser) Open(t testing.TB, url string) {
	t.Helper()
	b.Navigate(t, "about:blank")
	b.Navigate(t, url)
}

// Do runs actions with a timeout, failing the test on error.
func (b *Browser) Do(t testing.TB, timeout time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Eval runs js in the page, awaits its promise and decodes the result.
func Eval[T any](t testing.TB, b *Browser, timeout time.Duration, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// Wait polls the JavaScript expression cond until it is true, failing the
// test with what and the value of explain (an expression) on timeout.
func (b *Browser) Wait(t testing.TB, timeout time.Duration, what, cond, explain string) {
	t.Helper()
	js := fmt.Sprintf(`(async () => {
  const t0 = performance.now();
  for (;;) {
    try { if (%s) return ''; } catch (e) {}
    if (performance.now() - t0 > %d) { try { return String(%s); } catch (e) { return String(e); } }
    await new Promise(r => setTimeout(r, 50));
  }
})()`, cond, timeout.Milliseconds(), orEmpty(explain))
	if msg := Eval[string](t, b, timeout+5*time.Second, js); msg != "" || !Eval[bool](t, b, 5*time.Second, "!!("+cond+")") {
		t.Fatalf("%s: not after %v (%s)", what, timeout, msg)
	}
}

func orEmpty(s string) string {
	if s == "" {
		return `'no detail'`
	}
	return s
}

// Viewport sets the size of the page's viewport in CSS pixels.
func (b *Browser) Viewport(t testing.TB, w, h int64) {
	t.Helper()
	b.Do(t, 10*time.Second, fmt.Sprintf("viewport %dx%d", w, h), chromedp.EmulateViewport(w, h))
}

// ColorScheme emulates prefers-color-scheme: "light", "dark", or "" for
// the browser's own.
func (b *Browser) ColorScheme(t testing.TB, scheme string) {
	t.Helper()
	var features []*emulation.MediaFeature
	if scheme != "" {
		features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
	}
	if _, err := chromedp.Call(b.Ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: features}); err != nil {
		t.Fatalf("color scheme %q: %v", scheme, err)
	}
}

// Key sends key presses (characters, or kb constants such as kb.ArrowRight)
// to the focused element of the page.
func (b *Browser) Key(t testing.TB, keys string) {
	t.Helper()
	b.Do(t, 10*time.Second, fmt.Sprintf("pressing %q", keys), chromedp.KeyEvent(keys))
}

// Click clicks the first element matching the CSS selector sel once it
// is visible.
func (b *Browser) Click(t testing.TB, sel string) {
	t.Helper()
	b.Do(t, 15*time.Second, "clicking "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// ArtifactsDir is where screenshots go: $RANGESERVE_ARTIFACTS/screenshots,
// or testdata/screenshots below the test's working directory (its package
// directory), which .gitignore leaves out.
func ArtifactsDir() string {
	if d := os.Getenv("RANGESERVE_ARTIFACTS"); d != "" {
		return filepath.Join(d, "screenshots")
	}
	return filepath.Join("testdata", "screenshots")
}

// Screenshot saves the viewport as ArtifactsDir()/name.png and returns
// the file's path.
func (b *Browser) Screenshot(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 20*time.Second)
	defer cancel()
	// Let transitions and the video's first frame settle.
	_ = chromedp.Do(ctx, chromedp.Sleep(300*time.Millisecond))
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := ArtifactsDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
	return p
}

// withoutDBus drops chromium's complaints about the missing D-Bus, which
// are harmless in a container and would hide the lines that matter.
func withoutDBus(s string) string {
	var keep []string
	for line := range strings.SplitSeq(s, "\n") {
		if !strings.Contains(line, ":ERROR:dbus/") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// chromiumProcesses waits up to timeout until no process runs with the
// profile directory dir on its command line, and returns those still
// running then (pid and command).
func chromiumProcesses(dir string, timeout time.Duration) []string {
	needle := "--user-data-dir=" + dir
	deadline := time.Now().Add(timeout)
	for {
		var left []string
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			b, err := os.ReadFile(p)
			if err != nil || !strings.Contains(string(b), needle) {
				continue
			}
			cmd := strings.ReplaceAll(string(b), "\x00", " ")
			if len(cmd) > 120 {
				cmd = cmd[:120] + "…"
			}
			left = append(left, filepath.Base(filepath.Dir(p))+": "+cmd)
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Request is one request the server saw for a file, as the tests' servers
// record it (the fake API in static, the access log of the binary).
type Request struct {
	At     time.Time
	Path   string // URL path, unescaped
	Range  string // the Range header, "" when none
	Status int
}
