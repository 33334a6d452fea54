package metrics

// LinkHook is what auth calls after verifying a signed link, with the
// outcome ("ok", "expired", "bad_signature", ...). [Metrics.LinkVerified]
// is one.
type LinkHook func(outcome string)

// LinkVerified counts one signed-link verification with outcome. An
// outcome that is not a short lower-case word (letters, digits, '-', '_',
// at most 32 bytes) is counted as "other", so a caller's mistake cannot
// create unbounded series.
func (m *Metrics) LinkVerified(outcome string) {
	if !labelWord(outcome) {
		outcome = "other"
	}
	m.links.WithLabelValues(outcome).Inc()
}

func labelWord(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

var _ LinkHook = (*Metrics)(nil).LinkVerified
