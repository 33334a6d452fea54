package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/rangeserve/rangeserve"
	"github.com/rangeserve/rangeserve/auth"
	"github.com/rangeserve/rangeserve/storage"
)

// runSign prints a signed share link for a URL path, using the config's
// newest signing key.
func runSign(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rangeserve sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: rangeserve sign [-config FILE] [-ttl 24h] [-scope PREFIX] [-ip ADDR] [-base URL] /MOUNT/KEY")
		fs.PrintDefaults()
	}
	cfgFile := fs.String("config", "", "config file (default: ./config.yaml, else the compiled-in default)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the link is valid")
	scope := fs.String("scope", "", "key prefix the link opens instead of one key (a folder link); the path must lie inside it")
	ip := fs.String("ip", "", "bind the link to this client IP")
	base := fs.String("base", "", "scheme and host for the printed URL (default: http://LISTEN)")
	// Accept flags after the path too: rangeserve sign /m/k -ttl 1h.
	var path string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		args = fs.Args()
		if len(args) > 0 {
			if path != "" {
				fmt.Fprintf(stderr, "rangeserve sign: one path only (got %q and %q)\n", path, args[0])
				return 2
			}
			path, args = args[0], args[1:]
		}
	}
	if path == "" {
		fs.Usage()
		return 2
	}
	cfg, _, err := loadConfig(*cfgFile, rangeserve.DefaultConfig)
	if err != nil {
		fmt.Fprintf(stderr, "rangeserve: %v\n", err)
		return 1
	}
	if len(cfg.Auth.Keys) == 0 {
		fmt.Fprintln(stderr, "rangeserve sign: the config has no signing key: add one under auth.keys")
		return 1
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	var prefixes []string
	for _, m := range cfg.Mounts {
		prefixes = append(prefixes, m.Prefix)
	}
	i, key, err := newMountIndex(prefixes).lookup(path)
	switch {
	case errors.Is(err, storage.ErrInvalidKey):
		fmt.Fprintf(stderr, "rangeserve sign: %q is not a valid path: no '.' or '..' segments, backslashes or control characters\n", path)
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "rangeserve sign: no mount serves %s\n", path)
		return 1
	}
	mc := &cfg.Mounts[i]
	if mc.Auth != "signed" && mc.Auth != "signed-or-token" {
		fmt.Fprintf(stderr, "rangeserve sign: %s is served by mount %s, which is %s: only signed and signed-or-token mounts accept links\n", path, mc.Prefix, mc.Auth)
		return 1
	}
	signer, err := auth.NewSigner(cfg.signerOptions())
	if err != nil {
		fmt.Fprintf(stderr, "rangeserve sign: %v\n", err)
		return 1
	}
	opts := auth.LinkOptions{Scope: *scope}
	if *ip != "" {
		a, err := netip.ParseAddr(*ip)
		if err != nil {
			fmt.Fprintf(stderr, "rangeserve sign: -ip %q is not an IP address\n", *ip)
			return 2
		}
		opts.IP = a
	}
	q, exp, err := signer.Sign(mc.Prefix, key, *ttl, opts)
	if err != nil {
		fmt.Fprintf(stderr, "rangeserve sign: %v\n", err)
		return 1
	}
	b := *base
	if b == "" {
		b = "http://" + cfg.Listen
	}
	u := strings.TrimSuffix(b, "/") + storage.EscapeKey(mc.Prefix+key) + "?" + q.Encode()
	fmt.Fprintln(stdout, u)
	fmt.Fprintf(stderr, "expires %s (in %s)\n", exp.UTC().Format(time.RFC3339), *ttl)
	return 0
}

// runToken prints a new random bearer token and the line that goes into
// config.yaml: only the token's SHA-256 is stored.
func runToken(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: rangeserve token")
		return 2
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		fmt.Fprintf(stderr, "rangeserve token: %v\n", err)
		return 1
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(tok))
	fmt.Fprintf(stdout, "token:  %s\nsha256: %s\n", tok, hex.EncodeToString(sum[:]))
	fmt.Fprintf(stderr, "Give the token to the client (Authorization: Bearer TOKEN); put only the sha256 in config.yaml under auth.tokens.\n")
	return 0
}
