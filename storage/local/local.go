package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/rangeserve/rangeserve/storage"
)

// Options configures a [Backend].
type Options struct {
	// Root is the directory whose files are served. It must exist and be a
	// directory; a relative path is made absolute and symbolic links in it
	// are resolved once, by [New].
	Root string
	// Cache keeps hot files open, and small ones in memory, between
	// requests (see [CacheOptions]). The zero value is the default cache;
	// Cache.Files = [NoCache] turns it off.
	Cache CacheOptions
	// FollowSymlinks lets symbolic links beneath Root point anywhere,
	// including outside Root. The default (false) serves a link only when
	// its target, resolved step by step, stays beneath Root and the link
	// is relative (an absolute link is refused even if it points inside
	// Root: see [os.Root]). Keys are validated by [storage.CleanKey] in
	// both cases, so ".." never escapes.
	FollowSymlinks bool
}

// Backend serves the regular files beneath a root directory. It is safe
// for concurrent use. Create it with [New] and release it with
// [Backend.Close].
type Backend struct {
	root   string   // absolute, symlink-free path of the root
	fsroot *os.Root // handle on root; every lookup goes through it unless follow
	fast   fastDir  // root opened for the fast path of Open, or -1
	follow bool
	files  *fileCache // nil when off or without the fast path
}

// Interface guards.
var (
	_ storage.Backend = (*Backend)(nil)
	_ storage.Lister  = (*Backend)(nil)
	_ storage.Pather  = (*Backend)(nil)
)

// New returns a backend serving opts.Root. It fails when the root does not
// exist, is not a directory or cannot be opened; the error names the path
// (it is meant for the operator, at start-up).
func New(opts Options) (*Backend, error) {
	if opts.Root == "" {
		return nil, errors.New("local: Options.Root is empty: set it to the directory to serve")
	}
	abs, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("local: root %q: cannot make the path absolute: %w", opts.Root, err)
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("local: root %q does not exist (or a symbolic link in it is dangling): %w", abs, err)
		}
		return nil, fmt.Errorf("local: root %q: cannot resolve symbolic links: %w", abs, err)
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return nil, fmt.Errorf("local: root %q: %w", resolved, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("local: root %q is a %s, not a directory", resolved, describeMode(fi.Mode()))
	}
	r, err := os.OpenRoot(resolved)
	if err != nil {
		return nil, fmt.Errorf("local: root %q: cannot open the directory: %w", resolved, err)
	}
	b := &Backend{root: resolved, fsroot: r, fast: openFastDir(resolved), follow: opts.FollowSymlinks}
	if b.fast >= 0 {
		b.files = newFileCache(opts.Cache)
	}
	return b, nil
}

func describeMode(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	default:
		return "non-directory file"
	}
}

// CacheStats returns the counters of the open-file cache (zero when it
// is off).
func (b *Backend) CacheStats() CacheStats {
	if b.files == nil {
		return CacheStats{}
	}
	return b.files.stats()
}

// Root returns the absolute, symlink-resolved path of the root directory.
func (b *Backend) Root() string { return b.root }

// Probe reports whether the root can still be served, for readiness
// checks: the root's path must still name a directory, the one the
// backend opened (not one mounted or created over it since). It stats
// the path once; a hung file system (a dead NFS server) blocks it, so the
// caller bounds it in time.
func (b *Backend) Probe(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fi, err := os.Stat(b.root)
	if err != nil {
		return fmt.Errorf("local: root %q: %w", b.root, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("local: root %q is now a %s", b.root, describeMode(fi.Mode()))
	}
	opened, err := b.fsroot.Stat(".")
	if err != nil {
		return fmt.Errorf("local: root %q: the opened directory: %w", b.root, err)
	}
	if !os.SameFile(fi, opened) {
		return fmt.Errorf("local: root %q now names another directory than the one opened at start-up: reload or restart to serve it", b.root)
	}
	return nil
}

// Close releases the handle on the root directory. Objects already opened
// stay usable; later calls fail.
func (b *Backend) Close() error {
	if b.files != nil {
		b.files.close()
	}
	b.fast.close()
	b.fast = -1
	return b.fsroot.Close()
}

// Open returns the regular file stored under key, opened for reading. The
// returned object implements [storage.Filer], unless its bytes are served
// from the open-file cache's memory (then it implements
// rangeio.RangeWriterTo); its Info comes from fstat(2) of the opened
// descriptor, so it describes exactly the bytes ReadAt returns even if
// the file is replaced later. A cached file may be served as the version
// cached for up to [CacheOptions].Valid after it was replaced (never the
// new bytes under the old ETag). ctx is checked before the file is opened
// and at every ReadAt.
//
// A directory yields an error matching [storage.ErrIsDir]; a device, FIFO
// or socket one matching [storage.ErrNotExist], without blocking: the
// file's type is checked before it is opened, and the open itself is
// non-blocking in case the name was swapped in between.
func (b *Backend) Open(ctx context.Context, key string) (storage.Object, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := b.check(key); err != nil {
		return nil, err
	}
	if b.files != nil {
		if o := b.files.get(ctx, b.fast, key); o != nil {
			return o, nil
		}
		if f, id, ok := b.fast.openID(b.root, key, b.follow); ok {
			return b.files.adopt(ctx, key, f, id), nil
		}
	}
	return b.openFile(ctx, key)
}

// openFile opens key's file without the open-file cache: the object owns
// a descriptor of its own (a follower reads it sequentially and closes
// it). key has passed check.
func (b *Backend) openFile(ctx context.Context, key string) (*object, error) {
	if f, info, ok := b.fast.open(b.root, key, b.follow); ok {
		return &object{ctx: ctx, f: f, info: info}, nil
	}
	// Refuse non-regular files before opening them: opening a device can
	// have side effects, and opening a FIFO releases a writer blocked on it.
	if _, err := b.statRegular("open", key); err != nil {
		return nil, err
	}
	f, fi, err := b.openRegular(key)
	if err != nil {
		return nil, err
	}
	return &object{ctx: ctx, f: f, info: fileInfo(key, fi)}, nil
}

// openRegular opens key without blocking and returns it only if fstat(2)
// says it is a regular file, in blocking mode again.
func (b *Backend) openRegular(key string) (*os.File, fs.FileInfo, error) {
	var f *os.File
	var err error
	if b.follow {
		f, err = os.OpenFile(b.join(key), openFlags, 0)
	} else {
		f, err = b.fsroot.OpenFile(key, openFlags, 0)
	}
	if err != nil {
		return nil, nil, translate("open", key, err)
	}
	fi, err := f.Stat()
	if err == nil {
		err = regular("open", key, fi)
	}
	if err == nil {
		err = setBlocking(f)
	}
	if err != nil {
		f.Close()
		return nil, nil, translate("open", key, err)
	}
	return f, fi, nil
}

// Stat returns the Info Open's object would have, without keeping the file
// open. For a directory it returns the directory's Info (IsDir set) along
// with an error matching [storage.ErrIsDir], as Open would refuse it.
func (b *Backend) Stat(ctx context.Context, key string) (storage.Info, error) {
	if err := ctx.Err(); err != nil {
		return storage.Info{}, err
	}
	if err := b.check(key); err != nil {
		return storage.Info{}, err
	}
	fi, err := b.statRegular("stat", key)
	if err != nil {
		if fi != nil && fi.IsDir() {
			return dirInfo(key, fi), err
		}
		return storage.Info{}, err
	}
	return fileInfo(key, fi), nil
}

// Path returns the absolute path of key's regular file, for X-Sendfile.
// It applies the same checks as Open. Unless FollowSymlinks is set, the
// path returned is the fully resolved one and it is verified to lie
// beneath the root, so the proxy that opens it follows no link; the file
// could still be replaced between this check and the proxy's open by
// someone who can write beneath the root.
func (b *Backend) Path(key string) (string, error) {
	if err := b.check(key); err != nil {
		return "", err
	}
	if _, err := b.statRegular("path", key); err != nil {
		return "", err
	}
	p := b.join(key)
	if b.follow {
		return p, nil
	}
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", translate("path", key, err)
	}
	if !b.within(resolved) {
		return "", fmt.Errorf("local: path %q: resolves outside the root: %w", key, storage.ErrNotExist)
	}
	return resolved, nil
}

// within reports whether the absolute path p is the root or beneath it.
func (b *Backend) within(p string) bool {
	rel, err := filepath.Rel(b.root, p)
	return err == nil && !filepath.IsAbs(rel) && rel != ".." &&
		!strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// join returns the lexical path of key under the root. Only for keys that
// passed check.
func (b *Backend) join(key string) string {
	return filepath.Join(b.root, filepath.FromSlash(key))
}

// check refuses keys that are not in [storage.CleanKey]'s form, rather than
// cleaning them again: a caller passing raw input is a bug to surface, and
// a 404 for it leaks nothing. Hidden names (".env") are valid keys here:
// whether they are served is the HTTP layer's policy, the same for every
// backend.
func (b *Backend) check(key string) error {
	if ck, err := storage.CleanKey(key); err != nil || ck != key {
		return fmt.Errorf("local: key %q: %w", key, storage.ErrInvalidKey)
	}
	return nil
}

// stat follows symbolic links according to the backend's policy.
func (b *Backend) stat(key string) (fs.FileInfo, error) {
	if b.follow {
		return os.Stat(b.join(key))
	}
	if key == "" {
		key = "."
	}
	return b.fsroot.Stat(key)
}

// statRegular stats key and returns an error unless it is a regular file.
// The FileInfo is returned with the error for a directory.
func (b *Backend) statRegular(op, key string) (fs.FileInfo, error) {
	fi, err := b.stat(key)
	if err != nil {
		return nil, translate(op, key, err)
	}
	return fi, regular(op, key, fi)
}

// regular returns nil for a regular file, an error matching ErrIsDir for
// a directory and one matching ErrNotExist for anything else.
func regular(op, key string, fi fs.FileInfo) error {
	switch {
	case fi.Mode().IsRegular():
		return nil
	case fi.IsDir():
		return fmt.Errorf("local: %s %q: %w", op, key, storage.ErrIsDir)
	default:
		return fmt.Errorf("local: %s %q: not a regular file (%s): %w", op, key, describeMode(fi.Mode()), storage.ErrNotExist)
	}
}

// keyError is how every error leaves this package: the operation and the
// key, never a file system path, and the storage sentinel it matches.
type keyError struct {
	op, key string
	kind    error // a storage sentinel, or nil
	err     error // the underlying cause, without its path
}

func (e *keyError) Error() string {
	s := fmt.Sprintf("local: %s %q: ", e.op, e.key)
	switch {
	case e.kind == nil:
		return s + e.err.Error()
	case e.err == nil:
		return s + e.kind.Error()
	default:
		return s + e.err.Error() + " (" + e.kind.Error() + ")"
	}
}

func (e *keyError) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.err != nil {
		errs = append(errs, e.err)
	}
	return errs
}

// translate maps a file system error to the storage sentinels, dropping
// the *fs.PathError's path (which may hold the root's absolute path).
// Errors already translated pass through.
func translate(op, key string, err error) error {
	var ke *keyError
	if errors.As(err, &ke) || errors.Is(err, storage.ErrIsDir) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	cause := err
	var pe *fs.PathError
	if errors.As(err, &pe) {
		cause = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		cause = le.Err
	}
	var kind error
	var errno syscall.Errno
	switch {
	case errors.Is(cause, fs.ErrNotExist):
		kind = storage.ErrNotExist
	case errors.Is(cause, fs.ErrPermission):
		kind = storage.ErrPermission
	case errors.As(cause, &errno):
		switch errno {
		case syscall.ENOTDIR, syscall.ELOOP, syscall.ENAMETOOLONG, syscall.EINVAL, syscall.ENXIO,
			syscall.EOPNOTSUPP:
			// A file used as a directory, a symlink loop, a name the
			// file system will not take, a socket or unconnected
			// device: nothing to serve.
			kind = storage.ErrNotExist
		default:
			// EIO, EMFILE, ENOMEM, ESTALE...: the store is failing.
			kind = storage.ErrUnavailable
		}
	default:
		// os.Root reports a name that escapes the root with an error of
		// its own (not an Errno); treat any such refusal as absence.
		kind = storage.ErrNotExist
	}
	if cause == kind {
		cause = nil
	}
	return &keyError{op: op, key: key, kind: kind, err: cause}
}
