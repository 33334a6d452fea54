package auth

import (
	"fmt"
)

// Policy says which credentials a mount accepts. The zero value is not a
// valid policy: a mount whose policy was never set refuses every request
// (fail closed) instead of becoming public.
type Policy int

const (
	// PolicyPublic lets every request through without looking at
	// credentials.
	PolicyPublic Policy = iota + 1
	// PolicySigned requires a valid signed link (or, within the grace
	// period, the genuine expired link plus the grace cookie it issued).
	PolicySigned
	// PolicyToken requires an "Authorization: Bearer" token allowed for
	// the mount and key.
	PolicyToken
	// PolicySignedOrToken accepts either a signed link or a bearer token.
	PolicySignedOrToken
)

var policyNames = [...]string{
	PolicyPublic:        "public",
	PolicySigned:        "signed",
	PolicyToken:         "token",
	PolicySignedOrToken: "signed-or-token",
}

// ParsePolicy parses "public", "signed", "token" or "signed-or-token".
// Any other string, including "", is an error: a typo in a config file
// must not silently make a mount public.
func ParsePolicy(s string) (Policy, error) {
	for p, name := range policyNames {
		if name != "" && s == name {
			return Policy(p), nil
		}
	}
	return 0, fmt.Errorf("auth: unknown policy %q: use public, signed, token or signed-or-token", s)
}

// String returns the policy's config name, or "Policy(N)" for a value
// outside the defined ones.
func (p Policy) String() string {
	if p.valid() {
		return policyNames[p]
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// MarshalText implements encoding.TextMarshaler.
func (p Policy) MarshalText() ([]byte, error) {
	if !p.valid() {
		return nil, fmt.Errorf("auth: invalid policy %d", int(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with [ParsePolicy], so
// a YAML or JSON config can hold a policy name directly.
func (p *Policy) UnmarshalText(b []byte) error {
	v, err := ParsePolicy(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

func (p Policy) valid() bool { return p >= PolicyPublic && p <= PolicySignedOrToken }

func (p Policy) allowsLinks() bool  { return p == PolicySigned || p == PolicySignedOrToken }
func (p Policy) allowsTokens() bool { return p == PolicyToken || p == PolicySignedOrToken }
