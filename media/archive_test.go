package media_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/storage"
	"github.com/rangeserve/rangeserve/storage/local"
	"github.com/rangeserve/rangeserve/zipstream"
)

// archiveTree writes a folder "album" with nested folders, UTF-8 names,
// empty files and hidden names under a new root, and returns the root and
// the files an archive of "album" must hold (name inside the archive ->
// content).
func archiveTree(t testing.TB, bigSize int) (string, map[string][]byte) {
	t.Helper()
	root := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 8))
	blob := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	files := map[string][]byte{
		"readme.txt":             []byte("an album\n"),
		"empty.bin":              nil,
		"disc 1/01 intro.mp3":    blob(200 << 10),
		"disc 1/lyrics.txt":      bytes.Repeat([]byte("la la la\n"), 2000),
		"disc 2/deep/er/x.bin":   blob(1),
		"vidéo 𝄞 test.mp4":       blob(bigSize),
		"日本語/ファイル.txt":           []byte("こんにちは\n"),
		"disc 2/deep/empty.txt":  nil,
		"disc 1/notes/plan.json": []byte(`{"tracks": 12}`),
	}
	hidden := []string{".secret", "disc 1/.DS_Store", ".git/config"}
	write := func(name string, data []byte) {
		p := filepath.Join(root, "album", filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range files {
		write(name, data)
	}
	for _, name := range hidden {
		write(name, []byte("hidden"))
	}
	if err := os.MkdirAll(filepath.Join(root, "album", "empty dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root, files
}

func localHandler(t testing.TB, root string, opts media.Options) (*local.Backend, http.Handler) {
	t.Helper()
	b, err := local.New(local.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, http.StripPrefix("/m", newHandler(t, b, opts))
}

// readZip checks an archive with archive/zip: every file of want with its
// bytes (sha256), the folders of dirs, nothing else.
func readZip(t testing.TB, data []byte, want map[string][]byte, dirs []string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("archive/zip: %v", err)
	}
	var gotDirs []string
	seen := map[string]bool{}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			gotDirs = append(gotDirs, strings.TrimSuffix(f.Name, "/"))
			continue
		}
		w, ok := want[f.Name]
		if !ok {
			t.Errorf("unexpected entry %q", f.Name)
			continue
		}
		seen[f.Name] = true
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || sha256.Sum256(got) != sha256.Sum256(w) {
			t.Errorf("%s: %d bytes, %v; want %d bytes (sha256 differs)", f.Name, len(got), err, len(w))
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("entry %q missing", name)
		}
	}
	slices.Sort(gotDirs)
	if dirs != nil && !slices.Equal(gotDirs, dirs) {
		t.Errorf("folders %q, want %q", gotDirs, dirs)
	}
}

var albumDirs = []string{"disc 1", "disc 1/notes", "disc 2", "disc 2/deep", "disc 2/deep/er", "empty dir", "日本語"}

func TestArchiveLocalFolder(t *testing.T) {
	root, files := archiveTree(t, 300<<10)
	_, h := localHandler(t, root, media.Options{})
	var etag string
	for _, method := range []string{"GET", "HEAD"} {
		for _, tgt := range []string{"/m/album/?archive=zip", "/m/album?archive=zip"} {
			rec := serve(h, method, tgt, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("%s %s: status %d, want 200: %s", method, tgt, rec.Code, rec.Body)
			}
			hdr := rec.Header()
			for k, want := range map[string]string{
				"Content-Type":        "application/zip",
				"Accept-Ranges":       "bytes",
				"Content-Disposition": `attachment; filename="album.zip"`,
				"Last-Modified":       "",
			} {
				if got := hdr.Get(k); got != want {
					t.Errorf("%s %s: %s = %q, want %q", method, tgt, k, got, want)
				}
			}
			if etag == "" {
				etag = hdr.Get("Etag")
			}
			if got := hdr.Get("Etag"); got != etag || !strings.HasPrefix(got, `"zs1-`) {
				t.Errorf("%s %s: ETag %q, want the same strong ETag %q", method, tgt, got, etag)
			}
			if method == "HEAD" {
				if rec.Body.Len() != 0 {
					t.Errorf("HEAD: %d body bytes", rec.Body.Len())
				}
				continue
			}
			if cl := hdr.Get("Content-Length"); cl != fmt.Sprint(rec.Body.Len()) {
				t.Errorf("Content-Length %s, body %d bytes", cl, rec.Body.Len())
			}
			readZip(t, rec.Body.Bytes(), files, albumDirs)
		}
	}
	// A conditional GET with the ETag: 304.
	if rec := serve(h, "GET", "/m/album/?archive=zip", map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", rec.Code)
	}
	// The whole mount: archive.zip, album inside.
	rec := serve(h, "GET", "/m/?archive=zip", nil)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Disposition") != `attachment; filename="archive.zip"` {
		t.Fatalf("mount root: status %d, disposition %q", rec.Code, rec.Header().Get("Content-Disposition"))
	}
	inAlbum := map[string][]byte{}
	for k, v := range files {
		inAlbum["album/"+k] = v
	}
	readZip(t, rec.Body.Bytes(), inAlbum, nil)
}

func TestArchiveRanges(t *testing.T) {
	root, _ := archiveTree(t, 300<<10)
	_, h := localHandler(t, root, media.Options{})
	full := serve(h, "GET", "/m/album/?archive=zip", nil)
	data, etag := full.Body.Bytes(), full.Header().Get("Etag")
	size := int64(len(data))
	rng := rand.New(rand.NewPCG(9, 10))
	for range 40 {
		off := rng.Int64N(size)
		end := off + rng.Int64N(size-off)
		hdr := map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", off, end)}
		if rng.IntN(2) == 0 {
			hdr["If-Range"] = etag
		}
		rec := serve(h, "GET", "/m/album/?archive=zip", hdr)
		if rec.Code != http.StatusPartialContent {
			t.Fatalf("range %d-%d: status %d, want 206", off, end, rec.Code)
		}
		if want := fmt.Sprintf("bytes %d-%d/%d", off, end, size); rec.Header().Get("Content-Range") != want {
			t.Errorf("Content-Range %q, want %q", rec.Header().Get("Content-Range"), want)
		}
		if !bytes.Equal(rec.Body.Bytes(), data[off:end+1]) {
			t.Fatalf("range %d-%d: body differs from the whole archive's bytes", off, end)
		}
	}
	// Several ranges: multipart/byteranges, each part the archive's bytes.
	spans := [][2]int64{{0, 99}, {size / 2, size/2 + 5000}, {size - 22, size - 1}}
	var spec []string
	for _, s := range spans {
		spec = append(spec, fmt.Sprintf("%d-%d", s[0], s[1]))
	}
	rec := serve(h, "GET", "/m/album/?archive=zip", map[string]string{"Range": "bytes=" + strings.Join(spec, ",")})
	if rec.Code != http.StatusPartialContent {
		t.Fatalf("multi-range: status %d", rec.Code)
	}
	_, params, err := mime.ParseMediaType(rec.Header().Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(rec.Body, params["boundary"])
	for i, s := range spans {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		got, _ := io.ReadAll(p)
		if !bytes.Equal(got, data[s[0]:s[1]+1]) || p.Header.Get("Content-Type") != "application/zip" {
			t.Errorf("part %d (%v): %d bytes, type %q; differs", i, s, len(got), p.Header.Get("Content-Type"))
		}
	}
	// Unsatisfiable.
	if rec := serve(h, "GET", "/m/album/?archive=zip", map[string]string{"Range": fmt.Sprintf("bytes=%d-", size)}); rec.Code != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("range past the end: status %d, want 416", rec.Code)
	}
}

// TestArchiveIfRangeAfterChange: an entry replaced between two range
// requests changes the archive's ETag, so If-Range fails and the second
// request gets the whole new archive (200), not a splice of two.
func TestArchiveIfRangeAfterChange(t *testing.T) {
	root, files := archiveTree(t, 300<<10)
	_, h := localHandler(t, root, media.Options{})
	first := serve(h, "GET", "/m/album/?archive=zip", map[string]string{"Range": "bytes=0-999"})
	if first.Code != http.StatusPartialContent {
		t.Fatalf("first range: status %d", first.Code)
	}
	etag := first.Header().Get("Etag")
	files["disc 1/lyrics.txt"] = []byte("new words\n")
	if err := os.WriteFile(filepath.Join(root, "album", "disc 1", "lyrics.txt"), files["disc 1/lyrics.txt"], 0o644); err != nil {
		t.Fatal(err)
	}
	second := serve(h, "GET", "/m/album/?archive=zip", map[string]string{"Range": "bytes=1000-", "If-Range": etag})
	if second.Code != http.StatusOK {
		t.Fatalf("If-Range with the old ETag after a change: status %d, want 200", second.Code)
	}
	if second.Header().Get("Etag") == etag {
		t.Fatalf("the archive's ETag did not change with an entry")
	}
	readZip(t, second.Body.Bytes(), files, albumDirs)
}

// changingBackend reports a different version for one key when it is
// opened than when it was listed: the file changed after the listing.
type changingBackend struct {
	*local.Backend
	key string
}

func (b changingBackend) Open(ctx context.Context, key string) (storage.Object, error) {
	obj, err := b.Backend.Open(ctx, key)
	if err != nil || key != b.key {
		return obj, err
	}
	return changedObject{obj}, nil
}

type changedObject struct{ storage.Object }

func (o changedObject) Info() storage.Info {
	i := o.Object.Info()
	i.ETag = `"changed"`
	return i
}

// TestArchiveEntryChangedMidResponse: a file found changed after the
// headers were sent aborts the response: the client sees a broken
// transfer, not a complete archive.
func TestArchiveEntryChangedMidResponse(t *testing.T) {
	root, _ := archiveTree(t, 300<<10)
	b, err := local.New(local.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := newHandler(t, changingBackend{Backend: b, key: "album/vidéo 𝄞 test.mp4"}, media.Options{})
	srv := httptest.NewServer(http.StripPrefix("/m", h))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/m/album/?archive=zip")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("read %d of %d bytes, err %v; want io.ErrUnexpectedEOF", n, resp.ContentLength, err)
	}
}

func TestArchiveRefusals(t *testing.T) {
	root, _ := archiveTree(t, 1000)
	if err := os.WriteFile(filepath.Join(root, "file.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, h := localHandler(t, root, media.Options{})
	_, hNo := localHandler(t, root, media.Options{NoArchives: true})
	_, hSmall := localHandler(t, root, media.Options{ArchiveMaxEntries: 3})
	for _, c := range []struct {
		h    http.Handler
		tgt  string
		want int
	}{
		{h, "/m/missing/?archive=zip", 404},
		{h, "/m/file.txt?archive=zip", 404},
		{h, "/m/album/.git/?archive=zip", 404},
		{h, "/m/album/?archive=tar", 400},
		{h, "/m/album/?archive=zip&deflate=2", 400},
		{h, "/m/album/?archive=zip&deflate=1", 200},
		{h, "/m/album/empty%20dir/?archive=zip", 200},
		{hNo, "/m/album/?archive=zip", 404},
		{hSmall, "/m/album/?archive=zip", 403},
		{hSmall, "/m/album/?archive=zip&deflate=1", 403},
		{hSmall, "/m/album/disc%202/deep/?archive=zip", 200},
	} {
		for _, method := range []string{"GET", "HEAD"} {
			if rec := serve(c.h, method, c.tgt, nil); rec.Code != c.want {
				t.Errorf("%s %s: status %d, want %d", method, c.tgt, rec.Code, c.want)
			}
		}
	}
	if _, err := media.New(newMem(), media.Options{ArchiveCRCs: -1}); err == nil {
		t.Errorf("ArchiveCRCs -1 accepted")
	}
}

func TestArchiveDeflate(t *testing.T) {
	root, files := archiveTree(t, 300<<10)
	_, h := localHandler(t, root, media.Options{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/m/album/?archive=zip&deflate=1")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	if resp.ContentLength != -1 || !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
		t.Errorf("Content-Length %d, Transfer-Encoding %q; want chunked without length", resp.ContentLength, resp.TransferEncoding)
	}
	for k, want := range map[string]string{"Accept-Ranges": "none", "Etag": "", "Content-Type": "application/zip", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	readZip(t, body, files, albumDirs)
	zr, _ := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	for _, f := range zr.File {
		want := zip.Store
		if strings.HasSuffix(f.Name, ".txt") || strings.HasSuffix(f.Name, ".json") {
			want = zip.Deflate
		}
		if f.UncompressedSize64 > 0 && f.Method != want {
			t.Errorf("%s: method %d, want %d", f.Name, f.Method, want)
		}
	}
}

// TestArchiveCRCsShared: a second archive of the same folder reads no
// entry for its central directory; the first, downloaded whole, read each
// entry once.
func TestArchiveCRCsShared(t *testing.T) {
	root, files := archiveTree(t, 300<<10)
	b, err := local.New(local.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cb := &countingBackend{Backend: b}
	h := http.StripPrefix("/m", newHandler(t, cb, media.Options{}))
	var total int64
	for _, v := range files {
		total += int64(len(v))
	}
	full := serve(h, "GET", "/m/album/?archive=zip", nil)
	if got := cb.read.Load(); got != total {
		t.Errorf("whole archive read %d bytes of entries, want %d", got, total)
	}
	cb.read.Store(0)
	size := len(full.Body.Bytes())
	rec := serve(h, "GET", "/m/album/?archive=zip", map[string]string{"Range": fmt.Sprintf("bytes=%d-", size-1000)})
	if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), full.Body.Bytes()[size-1000:]) {
		t.Fatalf("tail range: status %d, differs", rec.Code)
	}
	if got := cb.read.Load(); got != 0 {
		t.Errorf("the central directory of a second request read %d bytes of entries, want 0", got)
	}
}

type countingBackend struct {
	*local.Backend
	read atomic.Int64
}

func (b *countingBackend) Open(ctx context.Context, key string) (storage.Object, error) {
	obj, err := b.Backend.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	return &countingObject{Object: obj, n: &b.read}, nil
}

type countingObject struct {
	storage.Object
	n *atomic.Int64
}

func (o *countingObject) ReadAt(p []byte, off int64) (int, error) {
	n, err := o.Object.ReadAt(p, off)
	o.n.Add(int64(n))
	return n, err
}

func TestArchiveReportsStrategy(t *testing.T) {
	root, _ := archiveTree(t, 1000)
	_, h := localHandler(t, root, media.Options{})
	for _, tgt := range []string{"/m/album/?archive=zip", "/m/album/?archive=zip&deflate=1"} {
		var o media.Outcome
		req := httptest.NewRequest("GET", tgt, nil)
		req = req.WithContext(media.WithOutcome(req.Context(), &o))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || o.Strategy != media.StrategyArchive {
			t.Errorf("%s: status %d, strategy %q; want 200, %q", tgt, rec.Code, o.Strategy, media.StrategyArchive)
		}
	}
}

// TestArchiveSymlinkLoop: a link to a parent folder does not make the
// listing endless. With FollowSymlinks, where only the kernel's limit of
// 40 links per path would stop it, the depth limit answers 403; under the
// default policy the backend's own resolution stops following it after a
// few levels.
func TestArchiveSymlinkLoop(t *testing.T) {
	root, _ := archiveTree(t, 1000)
	if err := os.Symlink("..", filepath.Join(root, "album", "disc 1", "up")); err != nil {
		t.Fatal(err)
	}
	b, err := local.New(local.Options{Root: root, FollowSymlinks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := http.StripPrefix("/m", newHandler(t, b, media.Options{ArchiveMaxEntries: zipstream.NoEntryLimit}))
	if rec := serve(h, "GET", "/m/album/?archive=zip", nil); rec.Code != http.StatusForbidden {
		t.Errorf("link loop: status %d, want 403", rec.Code)
	}
	// Streamed (deflate=1), the loop is found after the status line: a
	// broken transfer.
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/m/album/?archive=zip&deflate=1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err == nil {
		t.Errorf("deflate=1 with a link loop: status %d, read error %v; want 200 and a broken transfer", resp.StatusCode, err)
	}
	_, hDefault := localHandler(t, root, media.Options{})
	if rec := serve(hDefault, "GET", "/m/album/?archive=zip", nil); rec.Code != http.StatusOK && rec.Code != http.StatusForbidden {
		t.Errorf("default symlink policy, link loop: status %d, want 200 or 403", rec.Code)
	}
}

// TestArchiveInDelegatingModes: archives are generated by the handler in
// every mode; nothing to delegate.
func TestArchiveInDelegatingModes(t *testing.T) {
	root, files := archiveTree(t, 1000)
	_, h := localHandler(t, root, media.Options{Mode: media.ModeXAccel, InternalPrefix: "/_protected"})
	rec := serve(h, "GET", "/m/album/?archive=zip", nil)
	if rec.Code != http.StatusOK || rec.Header().Get("X-Accel-Redirect") != "" {
		t.Fatalf("x-accel mode: status %d, X-Accel-Redirect %q", rec.Code, rec.Header().Get("X-Accel-Redirect"))
	}
	readZip(t, rec.Body.Bytes(), files, albumDirs)
}

// crcBackend's objects report a stored CRC-32 (as an S3 object uploaded
// with a CRC32 checksum could), which the archive uses instead of reading.
type crcBackend struct {
	*local.Backend
	crcs map[string]uint32
	read atomic.Int64
}

func (b *crcBackend) Open(ctx context.Context, key string) (storage.Object, error) {
	obj, err := b.Backend.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	crc, ok := b.crcs[key]
	return &crcObject{countingObject: countingObject{Object: obj, n: &b.read}, crc: crc, ok: ok}, nil
}

type crcObject struct {
	countingObject
	crc uint32
	ok  bool
}

func (o *crcObject) StoredCRC32() (uint32, bool) { return o.crc, o.ok }

func TestArchiveStoredCRC32(t *testing.T) {
	root, files := archiveTree(t, 300<<10)
	b, err := local.New(local.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cb := &crcBackend{Backend: b, crcs: map[string]uint32{}}
	for name, data := range files {
		cb.crcs["album/"+name] = crc32.ChecksumIEEE(data)
	}
	h := http.StripPrefix("/m", newHandler(t, cb, media.Options{}))
	full := serve(h, "GET", "/m/album/?archive=zip", nil)
	size := full.Body.Len()
	cb.read.Store(0)
	// A fresh handler (empty cache): the central directory comes from
	// the stored checksums, without reading any file.
	h2 := http.StripPrefix("/m", newHandler(t, cb, media.Options{}))
	rec := serve(h2, "GET", "/m/album/?archive=zip", map[string]string{"Range": fmt.Sprintf("bytes=%d-", size-1000)})
	if rec.Code != http.StatusPartialContent || !bytes.Equal(rec.Body.Bytes(), full.Body.Bytes()[size-1000:]) {
		t.Fatalf("tail: status %d, differs", rec.Code)
	}
	if got := cb.read.Load(); got != 0 {
		t.Errorf("with stored CRC-32s the central directory read %d bytes, want 0", got)
	}
}
