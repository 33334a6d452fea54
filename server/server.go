package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the zero fields of [Options].
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultShutdownTimeout   = 30 * time.Second
)

// Bounds of [Options].MaxHeaderBytes: browsers send several KiB of
// headers.
const (
	MinHeaderBytes = 8 << 10
	MaxHeaderBytes = 1 << 30
)

// headerSlack is what net/http adds to http.Server.MaxHeaderBytes before
// it answers 431: it reads at most MaxHeaderBytes + 4096 bytes of request
// line and headers ("bufio slop"). Listen subtracts it, so that
// [Options].MaxHeaderBytes is the limit as written.
const headerSlack = 4096

// Off, as a timeout in [Options], turns it off.
const Off = -1

// Options configures a [Server]. The zero value of each field selects the
// default in its comment.
type Options struct {
	// Addr is the address to listen on, host:port ("127.0.0.1:8080",
	// "[::]:443"; port 0 picks a free one). Required.
	Addr string
	// CertFile and KeyFile are PEM files of the certificate (chain first)
	// and its private key. Both set: HTTPS, with HTTP/2 negotiated by
	// ALPN and HTTP/1.1 for older clients. Both empty: plain HTTP.
	CertFile, KeyFile string
	// H2C also serves HTTP/2 over plain TCP to clients that start with
	// it ("prior knowledge": curl --http2-prior-knowledge, a gRPC-style
	// proxy), for a TLS-terminating proxy in front that speaks HTTP/2 to
	// its backends. The HTTP/1.1 Upgrade: h2c dance, deprecated by RFC
	// 9113, is not offered. Default false. Not allowed with TLS.
	H2C bool
	// ReadHeaderTimeout bounds reading a request's headers (slowloris).
	// Default [DefaultReadHeaderTimeout].
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle that long. Default
	// [DefaultIdleTimeout].
	IdleTimeout time.Duration
	// WriteTimeout is the http.Server's WriteTimeout: the write deadline
	// set when a request's headers have been read. Default Off: none,
	// since media responses may last hours; give it the limits package's
	// idle write timeout, which moves the deadline forward as bytes flow.
	WriteTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers together, as
	// sent: a request whose head is larger gets 431. Default
	// [DefaultMaxHeaderBytes]; from [MinHeaderBytes] to [MaxHeaderBytes].
	MaxHeaderBytes int
	// ShutdownTimeout is how long [Server.Shutdown] lets requests in
	// flight run before closing their connections. Default
	// [DefaultShutdownTimeout].
	ShutdownTimeout time.Duration
	// ConnContext is the http.Server's ConnContext (the limits package's,
	// for per-connection bandwidth). Default none.
	ConnContext func(ctx context.Context, c net.Conn) context.Context
	// BaseContext is the context requests derive from. Default
	// context.Background().
	BaseContext context.Context
	// Logger receives the http.Server's errors (TLS handshakes, panics)
	// and the shutdown lines. Default slog.Default().
	Logger *slog.Logger
}

// Server is one listener and its http.Server.
type Server struct {
	srv      *http.Server
	ln       net.Listener
	tls      bool
	certFile string
	keyFile  string
	cert     atomic.Pointer[tls.Certificate]
	shutdown time.Duration
	log      *slog.Logger

	mu    sync.Mutex
	conns map[net.Conn]http.ConnState
}

// Validate checks opts without binding or reading anything: what
// `rangeserve check` runs. Its errors name the field at fault.
func (o Options) Validate() error {
	_, err := o.resolve()
	return err
}

// resolve checks opts and returns them with the defaults filled in and
// Off turned into the zero net/http reads as "none".
func (o Options) resolve() (Options, error) {
	if o.Addr == "" {
		return o, errors.New("server: Addr is empty: give the address to listen on, host:port")
	}
	if _, _, err := net.SplitHostPort(o.Addr); err != nil {
		return o, fmt.Errorf("server: Addr %q is not host:port (for example 127.0.0.1:8080 or :8080)", o.Addr)
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return o, fmt.Errorf("server: %s: set both CertFile and KeyFile, or neither", o.Addr)
	}
	if o.H2C && o.CertFile != "" {
		return o, fmt.Errorf("server: %s: H2C is HTTP/2 without TLS; with a certificate HTTP/2 is negotiated by ALPN already: drop H2C", o.Addr)
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"ReadHeaderTimeout", &o.ReadHeaderTimeout, DefaultReadHeaderTimeout},
		{"IdleTimeout", &o.IdleTimeout, DefaultIdleTimeout},
		{"WriteTimeout", &o.WriteTimeout, 0},
		{"ShutdownTimeout", &o.ShutdownTimeout, DefaultShutdownTimeout},
	}
	for _, d := range durations {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v == Off:
			*d.v = 0
		case *d.v < 0:
			return o, fmt.Errorf("server: %s %v is negative: use 0 for the default or Off", d.name, *d.v)
		}
	}
	if o.MaxHeaderBytes == 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MaxHeaderBytes < MinHeaderBytes || o.MaxHeaderBytes > MaxHeaderBytes {
		return o, fmt.Errorf("server: MaxHeaderBytes %d is out of range: browsers send several KiB of headers; use %d (8KiB) to %d (1GiB)", o.MaxHeaderBytes, MinHeaderBytes, MaxHeaderBytes)
	}
	return o, nil
}

// Listen checks opts, loads the certificate, binds the address and
// returns the Server, which serves h once [Server.Serve] runs.
func Listen(opts Options, h http.Handler) (*Server, error) {
	opts, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	s := &Server{tls: opts.CertFile != "", certFile: opts.CertFile, keyFile: opts.KeyFile,
		log: opts.Logger, conns: map[net.Conn]http.ConnState{}, shutdown: opts.ShutdownTimeout}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.tls {
		if err := s.ReloadCertificate(); err != nil {
			return nil, err
		}
	}
	base := opts.BaseContext
	if base == nil {
		base = context.Background()
	}
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		IdleTimeout:       opts.IdleTimeout,
		WriteTimeout:      opts.WriteTimeout,
		MaxHeaderBytes:    opts.MaxHeaderBytes - headerSlack,
		ConnContext:       opts.ConnContext,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ConnState:         s.track,
	}
	if s.tls {
		s.srv.TLSConfig = &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return s.cert.Load(), nil
			},
		}
	}
	if opts.H2C {
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetHTTP2(true)
		p.SetUnencryptedHTTP2(true)
		s.srv.Protocols = &p
	}
	s.ln, err = net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("server: listening on %s: %w (is another server using the port?)", opts.Addr, err)
	}
	return s, nil
}

// ReloadCertificate reads the certificate and key files again (a renewed
// certificate); new handshakes use it, connections already open keep
// theirs. On error the certificate in use stays.
func (s *Server) ReloadCertificate() error {
	if !s.tls {
		return nil
	}
	c, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return fmt.Errorf("server: loading the certificate %s and key %s: %w", s.certFile, s.keyFile, err)
	}
	s.cert.Store(&c)
	return nil
}

// Addr returns the address the Server listens on (with the port picked
// for port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL returns the base URL of the Server: http:// or https:// and its
// address.
func (s *Server) URL() string {
	if s.tls {
		return "https://" + s.ln.Addr().String()
	}
	return "http://" + s.ln.Addr().String()
}

// Serve accepts connections until [Server.Shutdown]; it then returns nil.
// Any other return is an error of the listener.
func (s *Server) Serve() error {
	var err error
	if s.tls {
		err = s.srv.ServeTLS(s.ln, "", "")
	} else {
		err = s.srv.Serve(s.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// track follows connection states, to count what Shutdown cuts.
func (s *Server) track(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st {
	case http.StateClosed, http.StateHijacked:
		delete(s.conns, c)
	default:
		s.conns[c] = st
	}
}

// Shutdown stops accepting connections, closes idle ones, and waits for
// requests in flight to finish, for at most [Options].ShutdownTimeout or
// until ctx ends. It then closes the connections still busy and returns
// how many it closed that way (0 after a clean drain).
func (s *Server) Shutdown(ctx context.Context) (cut int, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.shutdown)
	defer cancel()
	err = s.srv.Shutdown(ctx)
	if err == nil {
		return 0, nil
	}
	s.mu.Lock()
	cut = len(s.conns)
	s.mu.Unlock()
	s.srv.Close()
	return cut, err
}

// ShutdownTimeout returns how long [Server.Shutdown] lets requests run.
func (s *Server) ShutdownTimeout() time.Duration { return s.shutdown }

// Close closes the listener and every connection at once.
func (s *Server) Close() error { return s.srv.Close() }
