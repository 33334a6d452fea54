package limits

// KeyBuckets returns the number of key buckets l holds.
func KeyBuckets(l *Limiter) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}
