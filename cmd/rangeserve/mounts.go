package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/rangeserve/rangeserve/storage"
)

// mountIndex is the one lookup from a URL path to a mount, used by the
// server's router and by `rangeserve sign`.
//
// The whole path is cleaned first (storage.CleanKey: empty segments
// dropped, "." and ".." segments and their encodings refused), and the
// mount is chosen from the cleaned path by the longest prefix on segment
// boundaries; the key is the rest. "/media//private/x",
// "/media/%2Fprivate/x" and "/media/private/x" are one path, so they reach
// the same mount (/media/private/, never /media/ with the key
// "private/x") and the same key.
type mountIndex struct {
	names []string // mount prefixes without slashes ("" for /), longest first
	pos   []int    // the mounts' positions in the config, in the same order
}

var (
	errNoMount = errors.New("no mount serves this path")
	// errAPIPath is the lookup's answer for paths under /api/, which
	// belong to rangeserve's own API, never to a mount.
	errAPIPath = errors.New("the path belongs to rangeserve's API")
)

// newMountIndex indexes prefixes (cleaned config prefixes, "/media/").
func newMountIndex(prefixes []string) *mountIndex {
	ix := &mountIndex{}
	for i, p := range prefixes {
		ix.names = append(ix.names, strings.Trim(p, "/"))
		ix.pos = append(ix.pos, i)
	}
	sort.Stable(byLength{ix})
	return ix
}

type byLength struct{ *mountIndex }

func (b byLength) Len() int           { return len(b.names) }
func (b byLength) Less(i, j int) bool { return len(b.names[i]) > len(b.names[j]) }
func (b byLength) Swap(i, j int) {
	b.names[i], b.names[j] = b.names[j], b.names[i]
	b.pos[i], b.pos[j] = b.pos[j], b.pos[i]
}

// lookup returns the position of the mount serving the decoded URL path
// and the key below it. Its errors: a path CleanKey refuses
// (storage.ErrInvalidKey), errAPIPath, errUIPath (ui.go), errNoMount.
func (ix *mountIndex) lookup(path string) (int, string, error) {
	clean, err := storage.CleanKey(path)
	if err != nil {
		return -1, "", err
	}
	if clean == "api" || strings.HasPrefix(clean, "api/") {
		return -1, "", errAPIPath
	}
	if clean == "ui" || strings.HasPrefix(clean, "ui/") {
		return -1, "", errUIPath
	}
	for i, name := range ix.names {
		switch {
		case name == "":
			return ix.pos[i], clean, nil
		case clean == name:
			return ix.pos[i], "", nil
		case len(clean) > len(name) && clean[len(name)] == '/' && strings.HasPrefix(clean, name):
			return ix.pos[i], clean[len(name)+1:], nil
		}
	}
	return -1, "", errNoMount
}

// storeRoot is where the files of mount m live, as a string that ends
// with "/", so that m's files lie inside another mount's when the other's
// storeRoot is a prefix of m's: the resolved absolute directory of a local
// mount ("file:/srv/media/"), the endpoint, bucket and prefix of an s3
// mount ("s3://host:9000/bucket/videos/", the prefix written as
// storage/s3 applies it).
func (c *Config) storeRoot(m *Mount) string {
	switch m.Backend {
	case "local":
		p, err := filepath.Abs(c.path(m.Root))
		if err != nil {
			p = filepath.Clean(c.path(m.Root))
		}
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		return "file:" + strings.TrimSuffix(filepath.ToSlash(p), "/") + "/"
	case "s3":
		prefix := strings.Trim(m.S3.Prefix, "/")
		if prefix != "" {
			prefix += "/"
		}
		return "s3://" + strings.ToLower(m.S3.Endpoint) + "/" + m.S3.Bucket + "/" + prefix
	}
	return ""
}

// admitsMore reports whether policy outer lets through a request that
// policy inner refuses: public admits anyone, signed-or-token a token
// where signed asks for a link and a link where token asks for a token.
func admitsMore(outer, inner string) bool {
	accepts := func(p string) (links, tokens, anyone bool) {
		switch p {
		case "public":
			return true, true, true
		case "signed":
			return true, false, false
		case "token":
			return false, true, false
		}
		return true, true, false // signed-or-token
	}
	ol, ot, oa := accepts(outer)
	il, it, ia := accepts(inner)
	return (oa && !ia) || (ol && !il) || (ot && !it)
}

// checkNesting refuses a mount whose files lie inside another mount's
// root (local: the same or a parent directory; s3: the same endpoint and
// bucket, a prefix of its prefix) when the other mount's policy admits
// requests this one refuses: whatever path reaches those files through the
// outer mount (a symbolic link inside its root, another spelling of the
// path, a case-insensitive file system, a second URL prefix) bypasses the
// inner mount's policy. The inner mount's nested_in lists the outer
// mounts it accepts that for.
func (c *Config) checkNesting() error {
	roots := make([]string, len(c.Mounts))
	for i := range c.Mounts {
		roots[i] = c.storeRoot(&c.Mounts[i])
	}
	for i := range c.Mounts {
		in := &c.Mounts[i]
		p := fmt.Sprintf("mounts[%d]", i)
		for k, n := range in.NestedIn {
			if !strings.HasSuffix(n, "/") {
				in.NestedIn[k] = n + "/"
			}
		}
		needed := map[string]bool{}
		for j := range c.Mounts {
			out := &c.Mounts[j]
			if i == j || roots[i] == "" || !strings.HasPrefix(roots[i], roots[j]) || !admitsMore(out.Auth, in.Auth) {
				continue
			}
			needed[out.Prefix] = true
			if slices.Contains(in.NestedIn, out.Prefix) {
				continue
			}
			what, key := "root lies inside the root", p+".root"
			if in.Backend == "s3" {
				what, key = "objects (endpoint, bucket and prefix) lie inside those", p+".s3.prefix"
			}
			return errAt(key, "this %s mount's %s of mounts[%d] (%s, %s), which would serve them under its weaker policy to any path that reaches them (another URL prefix, a symbolic link): give %s a root outside %s's, or, if %s may serve these files, add nested_in: [%s] to %s",
				in.Auth, what, j, out.Prefix, out.Auth, p, out.Prefix, out.Prefix, out.Prefix, p)
		}
		for k, n := range in.NestedIn {
			if !needed[n] {
				return errAt(fmt.Sprintf("%s.nested_in[%d]", p, k), "%q is not the prefix of a mount with a weaker policy whose root holds this mount's: remove it (nested_in lists the mounts a stronger mount's files may be reached through, with their prefix as written, such as /media/)", n)
			}
		}
	}
	return nil
}
