package auth

import (
	"crypto/hmac"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// GraceCookie is the name of the playback grace cookie.
const GraceCookie = "rs_grace"

// maxGraceCookies bounds how many rs_grace cookies of one request are
// checked (a browser sends one per matching Path).
const maxGraceCookies = 8

// The grace cookie keeps a started playback alive after its link expired.
// Its value is "<kid>.<cookie exp>.<mac>" where mac is HMAC-SHA256 (key
// kid) over "rs1", "grace", kid, mount, key, the link's exp and the cookie
// exp. Binding the link's exp means the cookie only works together with
// the genuine (expired) link that started the playback, so the hard cap
// link exp + MaxGrace is computed from signed data; binding mount and key
// means a cookie for one key never authorizes another.

func graceMAC(secret []byte, kid, mount, key, linkExp, cookieExp string) []byte {
	return mac(secret, "rs1", "grace", kid, mount, key, linkExp, cookieExp)
}

// graceUntil is when a cookie issued or renewed now expires, or the zero
// time when no cookie should be issued.
func (s *Signer) graceUntil(l link) time.Time {
	if s.grace <= 0 {
		return time.Time{}
	}
	now := s.now()
	until := now.Add(s.grace)
	if hard := time.Unix(l.exp, 0).Add(s.maxGrace); until.After(hard) {
		until = hard
	}
	until = until.Truncate(time.Second)
	if !until.After(now) {
		return time.Time{}
	}
	return until
}

// graceCookie returns the cookie to set after a request for key was
// authorized by link l, or nil when grace is off or used up.
func (s *Signer) graceCookie(l link, mount, key, path string, secure bool) *http.Cookie {
	until := s.graceUntil(l)
	if until.IsZero() || !validCookiePath(path) {
		return nil
	}
	k := s.keys[0]
	exp := strconv.FormatInt(until.Unix(), 10)
	v := k.ID + "." + exp + "." + b64.EncodeToString(graceMAC(k.Secret, k.ID, mountName(mount), key, l.expStr, exp))
	maxAge := int(until.Sub(s.now()) / time.Second)
	if maxAge <= 0 {
		return nil
	}
	return &http.Cookie{
		Name:     GraceCookie,
		Value:    v,
		Path:     path,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// validGrace reports whether one of the request's grace cookies was issued
// for key on mount with the link l, and is neither expired nor past the
// hard cap l.exp + MaxGrace.
func (s *Signer) validGrace(r *http.Request, l link, mount, key string) bool {
	if s.grace <= 0 {
		return false
	}
	now := s.now()
	hard := time.Unix(l.exp, 0).Add(s.maxGrace)
	if !now.Before(hard) {
		return false
	}
	for i, c := range r.CookiesNamed(GraceCookie) {
		if i >= maxGraceCookies {
			break
		}
		kid, rest, ok1 := strings.Cut(c.Value, ".")
		expStr, sigStr, ok2 := strings.Cut(rest, ".")
		if !ok1 || !ok2 {
			continue
		}
		exp, err := strconv.ParseInt(expStr, 10, 64)
		if err != nil {
			continue
		}
		until := time.Unix(exp, 0)
		if !now.Before(until) || until.After(hard) {
			continue
		}
		sig, err := b64.DecodeString(sigStr)
		if err != nil {
			continue
		}
		for _, k := range s.keys {
			if k.ID == kid && hmac.Equal(sig, graceMAC(k.Secret, kid, mountName(mount), key, l.expStr, expStr)) {
				return true
			}
		}
	}
	return false
}

// validCookiePath reports whether p can be sent as a cookie Path
// attribute unchanged (net/http would otherwise drop bytes and log).
func validCookiePath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c >= 0x7f || c == ';' {
			return false
		}
	}
	return true
}
