package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rangeserve/rangeserve/internal/testenv"
	"github.com/rangeserve/rangeserve/internal/uitest"
)

// selfSigned writes a certificate for 127.0.0.1 and its key to dir and
// returns their paths and a pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rangeserve test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

// protoAnswer is what must not differ between HTTP/1.1 and HTTP/2.
type protoAnswer struct {
	status                                  int
	contentRange, contentType, length, etag string
	sum                                     string
}

func protoFetch(t *testing.T, c *http.Client, u string, hdr map[string]string, proto string) protoAnswer {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Proto != proto {
		t.Fatalf("GET %s: %s, want %s", u, resp.Proto, proto)
	}
	ct := resp.Header.Get("Content-Type")
	if i := strings.Index(ct, "boundary="); i >= 0 {
		// Boundaries differ per response: compare the parts instead.
		boundary := ct[i+len("boundary="):]
		body = bytes.ReplaceAll(body, []byte(boundary), []byte("BOUNDARY"))
		ct = ct[:i]
	}
	return protoAnswer{resp.StatusCode, resp.Header.Get("Content-Range"), ct, resp.Header.Get("Content-Length"), resp.Header.Get("ETag"), hexSum(body)}
}

// protoCases are requests HTTP/2 must answer as HTTP/1.1 does, with the
// status both must give. Multipart bodies are compared with the boundary
// blanked, so Content-Length must match too.
func protoCases(etag string) []struct {
	hdr    map[string]string
	status int
} {
	return []struct {
		hdr    map[string]string
		status int
	}{
		{nil, 200},
		{map[string]string{"Range": "bytes=0-0"}, 206},
		{map[string]string{"Range": "bytes=1000-1999"}, 206},
		{map[string]string{"Range": "bytes=-500"}, 206},
		{map[string]string{"Range": "bytes=0-9,100-109,5000-5099"}, 206},
		{map[string]string{"Range": "bytes=99999999-"}, 416},
		{map[string]string{"If-None-Match": etag}, 304},
		{map[string]string{"If-Match": `"nope"`}, 412},
		{map[string]string{"Range": "bytes=0-9", "If-Range": etag}, 206},
		{map[string]string{"Range": "bytes=0-9", "If-Range": `"stale"`}, 200},
	}
}

// TestTLSAndHTTP2: with server.tls the binary speaks HTTPS; Go's client
// negotiates HTTP/2 and gets for ranges, multi-ranges and conditionals
// exactly what an HTTP/1.1 client gets; curl --http2 fetches a range.
// With server.h2c, HTTP/2 with prior knowledge works over plain TCP.
func TestTLSAndHTTP2(t *testing.T) {
	dir := t.TempDir()
	path := randomFile(t, dir, "v.bin", 300_000)
	data, _ := os.ReadFile(path)
	certFile, keyFile, roots := selfSigned(t, t.TempDir())
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	p := startBinaryWith(t, fmt.Sprintf("server:\n  tls: {cert_file: %q, key_file: %q}\n", certFile, keyFile)+localConfig(dir), "https", h2)
	u := p.URL + "/v.bin"
	full := protoFetch(t, h2, u, nil, "HTTP/2.0")
	if full.sum != hexSum(data) {
		t.Fatal("HTTP/2: wrong bytes")
	}
	for _, c := range protoCases(full.etag) {
		a2, a1 := protoFetch(t, h2, u, c.hdr, "HTTP/2.0"), protoFetch(t, h1, u, c.hdr, "HTTP/1.1")
		if a2 != a1 || a2.status != c.status {
			t.Errorf("%v: HTTP/2 %+v, HTTP/1.1 %+v; want status %d", c.hdr, a2, a1, c.status)
		}
	}
	if a := protoFetch(t, h2, u, map[string]string{"Range": "bytes=1000-1999"}, "HTTP/2.0"); a.sum != hexSum(data[1000:2000]) {
		t.Errorf("HTTP/2 range: wrong bytes")
	}
	if m := scrapeMetrics(t, h2, p.URL+"/metrics"); m[metricSeries("rangeserve_http_requests_total", "mount", "/", "method", "GET", "status", "206", "strategy", "serve")] == 0 {
		t.Errorf("/metrics over HTTPS does not count the ranges")
	}

	curl := testenv.Require(t, "curl")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, mustRead(t, certFile), 0o644)
	out, err := runCmd(t, 30*time.Second, curl, "-sS", "--http2", "--cacert", caFile, "-r", "1000-1999", "-o", "-", "-w", "\n%{http_version} %{http_code}", u)
	if err != nil {
		t.Fatalf("curl --http2: %v: %s", err, out)
	}
	i := strings.LastIndexByte(out, '\n')
	if out[i+1:] != "2 206" || out[:i] != string(data[1000:2000]) {
		t.Errorf("curl --http2 -r 1000-1999: %q and %d bytes, want \"2 206\" and the file's 1000 bytes", out[i+1:], i)
	}

	q := startBinary(t, "server:\n  h2c: true\n"+localConfig(dir))
	out, err = runCmd(t, 30*time.Second, curl, "-sS", "--http2-prior-knowledge", "-r", "0-99", "-o", "/dev/null", "-w", "%{http_version} %{http_code} %{size_download}", q.URL+"/v.bin")
	if err != nil || out != "2 206 100" {
		t.Errorf("curl --http2-prior-knowledge: %q, %v; want \"2 206 100\"", out, err)
	}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: &protos}}
	for _, c := range protoCases(full.etag) {
		a2, a1 := protoFetch(t, h2c, q.URL+"/v.bin", c.hdr, "HTTP/2.0"), protoFetch(t, http.DefaultClient, q.URL+"/v.bin", c.hdr, "HTTP/1.1")
		if a2 != a1 || a2.status != c.status {
			t.Errorf("h2c %v: HTTP/2 %+v, HTTP/1.1 %+v; want status %d", c.hdr, a2, a1, c.status)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// corsProbePage plays src in a <video crossorigin> (seek to 70%, a frame
// read back from a canvas, which a tainted video forbids) and fetches a
// range and a preflighted multi-range, reporting what the page could see.
const corsProbePage = `<!doctype html>
<meta charset="utf-8">
<title>cors probe</title>
<body>
<script>
function until(el, name, ms) {
  return new Promise(res => {
    const t = setTimeout(() => res('timeout'), ms);
    el.addEventListener(name, () => { clearTimeout(t); res('ok'); }, {once: true});
    el.addEventListener('error', () => { clearTimeout(t); res('error'); }, {once: true});
  });
}
async function probe(src) {
  const out = {};
  const v = document.createElement('video');
  v.muted = true;
  v.preload = 'auto';
  v.crossOrigin = 'anonymous';
  const meta = until(v, 'loadedmetadata', 15000);
  v.src = src;
  document.body.append(v);
  out.video = await meta;
  if (out.video === 'ok') {
    const seeked = until(v, 'seeked', 15000);
    v.currentTime = v.duration * 0.7;
    out.seeked = await seeked;
    if (v.readyState < 2) await until(v, 'canplay', 5000);
    const c = document.createElement('canvas');
    c.width = 8; c.height = 8;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, 8, 8);
    try { g.getImageData(0, 0, 1, 1); out.frame = 'readable'; } catch (e) { out.frame = e.name; }
  }
  v.removeAttribute('src'); v.load(); v.remove();
  try {
    const r = await fetch(src, {headers: {Range: 'bytes=0-99'}, cache: 'no-store'});
    out.status = r.status;
    out.contentRange = r.headers.get('Content-Range') || '';
    out.etag = r.headers.get('ETag') || '';
    out.length = (await r.arrayBuffer()).byteLength;
  } catch (e) { out.fetch = e.name; }
  try {
    const r = await fetch(src, {headers: {Range: 'bytes=0-9,20-29'}, cache: 'no-store'});
    out.multi = String(r.status);
  } catch (e) { out.multi = e.name; }
  return out;
}
</script>`

type corsProbe struct {
	Video, Seeked, Frame string
	Status               int
	ContentRange, ETag   string
	Length               int
	Fetch, Multi         string
}

// TestCORSInChromium: a page served from one loopback origin plays, with
// crossorigin, a video from the binary on another, reads its frames, and
// reads ranges with Content-Range and ETag, on a mount whose cors lists
// the page's origin; a mount without cors is refused by the browser.
func TestCORSInChromium(t *testing.T) {
	testenv.Short(t, "starts Chromium")
	b := uitest.Start(t)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, corsProbePage)
	}))
	defer page.Close()
	td := repoTestdata(t)
	p := startBinary(t, fmt.Sprintf(`
mounts:
  - {prefix: /cors/, backend: local, root: %q, auth: public, cors: {allowed_origins: [%q]}}
  - {prefix: /plain/, backend: local, root: %q, auth: public}
`, td, page.URL, td))
	b.Navigate(t, page.URL+"/")
	fi, err := os.Stat(filepath.Join(td, "video.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	got := uitest.Eval[corsProbe](t, b, 60*time.Second, fmt.Sprintf("probe(%q)", p.URL+"/cors/video.mp4"))
	want := corsProbe{Video: "ok", Seeked: "ok", Frame: "readable", Status: 206,
		ContentRange: "bytes 0-99/" + strconv.FormatInt(fi.Size(), 10), ETag: got.ETag, Length: 100, Multi: "206"}
	if got != want || got.ETag == "" {
		t.Errorf("mount with cors:\n got %+v\nwant %+v (and an ETag)", got, want)
	}
	got = uitest.Eval[corsProbe](t, b, 60*time.Second, fmt.Sprintf("probe(%q)", p.URL+"/plain/video.mp4"))
	if want := (corsProbe{Video: "error", Fetch: "TypeError", Multi: "TypeError"}); got != want {
		t.Errorf("mount without cors:\n got %+v\nwant %+v", got, want)
	}
	// The preflight was answered by the mount, without credentials.
	if logs := p.loggedLines(); !strings.Contains(logs, "method=OPTIONS path=/cors/video.mp4 status=204") {
		t.Errorf("no preflight in the access log:\n%s", logs)
	}
}
