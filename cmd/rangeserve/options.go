package main

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/rangeserve/rangeserve/media"
	"github.com/rangeserve/rangeserve/storage"
)

// mediaOptions maps a mount onto media.Options (the logger aside). Keys
// left out are zero: media's defaults.
func (m *Mount) mediaOptions() media.Options {
	return media.Options{
		CacheControl:   m.CacheControl,
		MaxRanges:      m.MaxRanges,
		Mode:           media.Mode(m.Mode),
		InternalPrefix: m.XAccel.InternalPrefix,
		AccelBuffering: m.XAccel.Buffering,
		AccelLimitRate: m.XAccel.LimitRate,
		RedirectTTL:    m.RedirectTTL,
		AllowHidden:    m.AllowHidden,
		Faststart:      m.Faststart,
	}
}

// mediaKeys names, below mounts[i], the key each media.Options field
// comes from.
var mediaKeys = map[string]string{
	"CacheControl":   "cache_control",
	"MaxRanges":      "max_ranges",
	"Mode":           "mode",
	"InternalPrefix": "x_accel.internal_prefix",
	"AccelBuffering": "x_accel.buffering",
	"AccelLimitRate": "x_accel.limit_rate",
	"RedirectTTL":    "redirect_ttl",
	"AllowHidden":    "allow_hidden",
	"Faststart":      "faststart",
}

// checkMedia runs media's own checks of a mount's options, the ones
// media.New makes at start-up, so that `rangeserve check` reports them
// too: it builds a handler on a backend with the mount's capabilities
// that reads nothing.
func checkMedia(p string, m *Mount) error {
	var b storage.Backend = dryBackend{}
	switch m.Backend {
	case "local":
		b = dryLocal{}
	case "s3":
		b = dryS3{}
	}
	if _, err := media.New(b, m.mediaOptions()); err != nil {
		return optionError(err, p, mediaKeys)
	}
	return nil
}

// optionError puts a library's error at the config key it concerns,
// below+"."+keys[field]: the field is the one the error reports through an
// Option method (as auth.OptionError does), else the first field of keys
// its message names as a word (media's and s3's errors name the field of
// their Options at fault); without one, the error goes at below itself.
func optionError(err error, below string, keys map[string]string) error {
	var oe interface {
		error
		Option() string
	}
	if errors.As(err, &oe) {
		if k, ok := keys[oe.Option()]; ok {
			return errAt(below+"."+k, "%v", err)
		}
	}
	first, key := -1, ""
	for field, k := range keys {
		if i := wordIndex(err.Error(), field); i >= 0 && (first < 0 || i < first) {
			first, key = i, k
		}
	}
	if key != "" {
		return errAt(below+"."+key, "%v", err)
	}
	return errAt(below, "%v", err)
}

// wordIndex is the index of word in s where it stands as a word (not
// inside an identifier), or -1.
func wordIndex(s, word string) int {
	isIdent := func(c byte) bool {
		return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
	}
	for off := 0; ; {
		i := strings.Index(s[off:], word)
		if i < 0 {
			return -1
		}
		i += off
		end := i + len(word)
		if (i == 0 || !isIdent(s[i-1])) && (end == len(s) || !isIdent(s[end])) {
			return i
		}
		off = i + 1
	}
}

// dryBackend has a backend's methods and no objects: what checkMedia
// builds media handlers on.
type dryBackend struct{}

func (dryBackend) Open(context.Context, string) (storage.Object, error) {
	return nil, storage.ErrNotExist
}
func (dryBackend) Stat(context.Context, string) (storage.Info, error) {
	return storage.Info{}, storage.ErrNotExist
}

// dryLocal has the capabilities of storage/local (file paths).
type dryLocal struct{ dryBackend }

func (dryLocal) Path(string) (string, error) { return "", storage.ErrNotExist }

// dryS3 has the capabilities of storage/s3 (presigned URLs).
type dryS3 struct{ dryBackend }

func (dryS3) PresignGet(context.Context, string, time.Duration, url.Values) (*url.URL, error) {
	return nil, storage.ErrNotExist
}
