package s3

import (
	"sync"
	"time"
)

// statCacheMax bounds the number of remembered objects.
const statCacheMax = 16384

// statCache remembers the metadata of recently opened objects for a
// short time, so that a player's burst of range requests costs one HEAD rather
// than one per request. Only found objects are remembered. An entry is
// dropped when a read pinned to its ETag finds the object replaced
// (ErrChanged), so a replaced object is seen again at the next request.
// It is safe for concurrent use.
type statCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]statEntry
}

type statEntry struct {
	meta    meta
	expires time.Time
}

func newStatCache(ttl time.Duration) *statCache {
	if ttl <= 0 {
		return nil
	}
	return &statCache{ttl: ttl, m: make(map[string]statEntry)}
}

func (c *statCache) get(name string, now time.Time) (meta, bool) {
	if c == nil {
		return meta{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[name]
	if !ok || !now.Before(e.expires) {
		return meta{}, false
	}
	return e.meta, true
}

func (c *statCache) put(name string, m meta, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= statCacheMax {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		for k := range c.m { // still full: drop arbitrary entries
			if len(c.m) < statCacheMax {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[name] = statEntry{meta: m, expires: now.Add(c.ttl)}
}

// drop forgets name if its entry has etag (the version found replaced).
func (c *statCache) drop(name, etag string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[name]; ok && e.meta.info.ETag == etag {
		delete(c.m, name)
	}
}
