// Package uitest owns the browser checks of rangeserve's web UI: a
// headless Chromium per test (fresh profile, chromedp) and page-level
// checks that take only the server's base URL, so that the same checks run
// against the static package's fake API and against the real binary with
// local, S3 and signed mounts. It records JavaScript dialogs, uncaught
// exceptions and Content-Security-Policy violations, and fails a check
// that caused any. Screenshots go to [ArtifactsDir].
//
// It is test support (imports chromedp and internal/testenv) and is never
// linked into the rangeserve binary.
package uitest
