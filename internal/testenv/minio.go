package testenv

// This file starts a throw-away MinIO server for integration tests. It is
// the only part of testenv that imports a third-party module (minio-go):
// testenv is internal test support, never linked into the rangeserve
// binary, so the storage/s3 tests and the cross-backend tests can share one
// way of creating buckets and objects.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const (
	// minioReadyTimeout bounds how long StartMinIO and Restart wait for
	// /minio/health/live to answer 200.
	minioReadyTimeout = 60 * time.Second
	// minioStopTimeout is how long Stop waits after SIGTERM before it
	// sends SIGKILL.
	minioStopTimeout = 10 * time.Second
	// MinIORegion is the region the test server reports; clients that set
	// it skip the bucket-location lookup.
	MinIORegion = "us-east-1"
)

// MinIO is a MinIO server started by [StartMinIO] for one test. It listens
// on 127.0.0.1 only, keeps its data in a temporary directory and is stopped
// by the test's cleanup. Its methods may be called from the test's
// goroutine only, except Endpoint, AccessKey and SecretKey, which never
// change.
type MinIO struct {
	// Endpoint is "127.0.0.1:PORT", the S3 API address (no scheme).
	Endpoint string
	// AccessKey and SecretKey are the root credentials, random per server.
	AccessKey string
	SecretKey string
	// Dir is the data directory; it survives Stop and Restart.
	Dir string
	// LogPath is the file MinIO's stdout and stderr go to, across
	// restarts. It is printed to the test log when the test fails.
	LogPath string

	bin         string
	consoleAddr string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	client *minio.Client
}

// StartMinIO starts a MinIO server for t and waits until it is ready. It
// skips the test when the minio binary is missing (fails it when CI=true;
// see [Require]). The server is stopped (SIGTERM, then SIGKILL) when the
// test and its subtests finish; its log is dumped to the test log if the
// test failed.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	bin := Require(t, "minio")
	m := &MinIO{
		AccessKey: "rs" + randHex(t, 8),
		SecretKey: randHex(t, 20),
		Dir:       t.TempDir(),
		LogPath:   filepath.Join(t.TempDir(), "minio.log"),
		bin:       bin,
	}
	t.Cleanup(func() {
		m.stop()
		if t.Failed() {
			m.dumpLog(t)
		}
	})
	// A free port may be taken between FreePort and MinIO's bind: retry
	// with new ports a few times.
	var err error
	for range 3 {
		m.Endpoint = "127.0.0.1:" + strconv.Itoa(FreePort(t))
		m.consoleAddr = "127.0.0.1:" + strconv.Itoa(FreePort(t))
		if err = m.start(); err == nil {
			return m
		}
		m.stop()
	}
	m.dumpLog(t)
	t.Fatalf("testenv: starting minio: %v", err)
	return nil
}

// URL returns the server's base URL, "http://127.0.0.1:PORT".
func (m *MinIO) URL() string { return "http://" + m.Endpoint }

// Client returns a minio-go client with the root credentials, path-style
// bucket lookup and region [MinIORegion]. The same client is returned on
// every call.
func (m *MinIO) Client(t testing.TB) *minio.Client {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.client != nil {
		return m.client
	}
	c, err := minio.New(m.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(m.AccessKey, m.SecretKey, ""),
		Region:       MinIORegion,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatalf("testenv: minio client: %v", err)
	}
	m.client = c
	return c
}

// ChecksumClient returns a minio-go client like [MinIO.Client]'s but with
// trailing headers enabled, which minio-go needs to upload with
// PutObjectOptions.Checksum (the checksum is sent as a trailer and the
// server stores it). A new client is returned on every call.
func (m *MinIO) ChecksumClient(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(m.Endpoint, &minio.Options{
		Creds:           credentials.NewStaticV4(m.AccessKey, m.SecretKey, ""),
		Region:          MinIORegion,
		BucketLookup:    minio.BucketLookupPath,
		TrailingHeaders: true,
	})
	if err != nil {
		t.Fatalf("testenv: minio client: %v", err)
	}
	return c
}

// PutChecksum stores data under bucket/key with the checksum cs (for
// example minio.ChecksumFullObjectCRC32) through [MinIO.ChecksumClient],
// in parts of partSize bytes when partSize is not 0 (a multipart upload),
// failing the test on error.
func (m *MinIO) PutChecksum(t testing.TB, bucket, key string, data []byte, cs minio.ChecksumType, partSize uint64) minio.UploadInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	info, err := m.ChecksumClient(t).PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{Checksum: cs, PartSize: partSize})
	if err != nil {
		t.Fatalf("testenv: put %s/%s with checksum %v: %v", bucket, key, cs, err)
	}
	return info
}

// MakeBucket creates the bucket name, failing the test on error.
func (m *MinIO) MakeBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Client(t).MakeBucket(ctx, name, minio.MakeBucketOptions{Region: MinIORegion}); err != nil {
		t.Fatalf("testenv: make bucket %q: %v", name, err)
	}
}

// Put stores data under bucket/key with the given Content-Type ("" for
// MinIO's default) in a single PUT, failing the test on error.
func (m *MinIO) Put(t testing.TB, bucket, key string, data []byte, contentType string) minio.UploadInfo {
	t.Helper()
	return m.PutReader(t, bucket, key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: contentType})
}

// PutReader stores size bytes from r under bucket/key with opts (set
// opts.PartSize to force a multipart upload), failing the test on error.
func (m *MinIO) PutReader(t testing.TB, bucket, key string, r io.Reader, size int64, opts minio.PutObjectOptions) minio.UploadInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	info, err := m.Client(t).PutObject(ctx, bucket, key, r, size, opts)
	if err != nil {
		t.Fatalf("testenv: put %s/%s: %v", bucket, key, err)
	}
	return info
}

// Stop stops the server (SIGTERM, then SIGKILL after a timeout) and waits
// for it to exit. The data directory is kept; see [MinIO.Restart].
func (m *MinIO) Stop(t testing.TB) {
	t.Helper()
	m.stop()
}

// Restart starts the server again on the same address with the same data
// directory and credentials (stopping it first if it runs) and waits until
// it is ready.
func (m *MinIO) Restart(t testing.TB) {
	t.Helper()
	m.stop()
	// The old listener's port can linger for a moment; retry briefly.
	deadline := time.Now().Add(minioReadyTimeout)
	for {
		err := m.start()
		if err == nil {
			return
		}
		m.stop()
		if time.Now().After(deadline) {
			m.dumpLog(t)
			t.Fatalf("testenv: restarting minio: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// start launches the process and waits for readiness.
func (m *MinIO) start() error {
	logf, err := os.OpenFile(m.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	fmt.Fprintf(logf, "=== testenv: %s starting minio on %s\n", time.Now().Format(time.RFC3339Nano), m.Endpoint)

	cmd := exec.Command(m.bin, "server", m.Dir,
		"--address", m.Endpoint, "--console-address", m.consoleAddr, "--quiet")
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+m.AccessKey,
		"MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=1",
	)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	m.mu.Lock()
	m.cmd, m.exited = cmd, exited
	m.mu.Unlock()
	return m.waitReady(exited)
}

// waitReady polls the liveness endpoint until it answers 200, the process
// exits or minioReadyTimeout passes.
func (m *MinIO) waitReady(exited <-chan struct{}) error {
	hc := &http.Client{Timeout: time.Second}
	url := m.URL() + "/minio/health/live"
	deadline := time.Now().Add(minioReadyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("minio exited before it was ready (see its log)")
		default:
		}
		resp, err := hc.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("minio not ready on %s after %v", m.Endpoint, minioReadyTimeout)
}

// stop signals the running process, if any, by pid and waits for it.
func (m *MinIO) stop() {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.cmd, m.exited = nil, nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(minioStopTimeout):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func (m *MinIO) dumpLog(t testing.TB) {
	t.Helper()
	b, err := os.ReadFile(m.LogPath)
	if err != nil {
		t.Logf("testenv: minio log %s: %v", m.LogPath, err)
		return
	}
	const max = 16 << 10
	if len(b) > max {
		b = append([]byte("...\n"), b[len(b)-max:]...)
	}
	t.Logf("testenv: minio log (%s):\n%s", m.LogPath, b)
}

func randHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: random: %v", err)
	}
	return hex.EncodeToString(b)
}
