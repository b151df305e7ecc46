package storage

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"sync"
	"time"
)

// The credential cache keeps recent successful mail logins in memory, so
// that a phone reconnecting every few minutes (or ten IMAP connections of
// one desktop program) costs one argon2id run, not one per connection.
// Dovecot and other mail servers keep such an authentication cache too.
//
// What it keeps, and why it is safe:
//   - The key is HMAC-SHA256, under a random key made at start and never
//     stored, of the login and the password: neither is kept, and a dump of
//     the process's memory cannot test guesses against the keys without
//     the HMAC key (which it would hold too, but then it holds the
//     passwords being typed as well).
//   - The value is the account's ID and the stored hash that was verified.
//     A hit counts only while the account still has that very hash (its
//     password, or the app password, unchanged) and, for the account's
//     password, while it is not kept for the web: a change made anywhere
//     (another process, postroomctl on a stopped box) is seen at once.
//     Password changes, app-password removal and account removal also
//     forget the account's entries (forget).
//   - Lockouts: authguard checks them before it calls Authenticate, so a
//     locked-out client never reaches the cache.
//   - Failures are never cached: every wrong password costs argon2id and
//     the guard's delay.
//   - Bounded: CredentialCacheSize entries, each for CredentialCacheTTL.

const (
	defaultCredTTL  = 10 * time.Minute
	defaultCredSize = 1024
)

type credKey [32]byte

type credEntry struct {
	acct  AccountID
	app   string // the app password's ID; "" for the account's password
	hash  string // the stored hash that was verified
	until time.Time
}

type credCache struct {
	ttl time.Duration // <= 0: off
	max int
	mac []byte

	mu sync.Mutex
	m  map[credKey]credEntry
}

func newCredCache(ttl time.Duration, size int) *credCache {
	if ttl == 0 {
		ttl = defaultCredTTL
	}
	if size <= 0 {
		size = defaultCredSize
	}
	k := make([]byte, 32)
	rand.Read(k) // never fails (crypto/rand)
	return &credCache{ttl: ttl, max: size, mac: k, m: make(map[credKey]credEntry)}
}

// key is the cache key of a login and password: the login compared
// without case or surrounding space, as lookupAccount does.
func (c *credCache) key(login, password string) credKey {
	h := hmac.New(sha256.New, c.mac)
	h.Write([]byte(strings.ToLower(strings.TrimSpace(login))))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var k credKey
	h.Sum(k[:0])
	return k
}

func (c *credCache) get(k credKey, now time.Time) (credEntry, bool) {
	if c.ttl <= 0 {
		return credEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return credEntry{}, false
	}
	if !now.Before(e.until) {
		delete(c.m, k)
		return credEntry{}, false
	}
	return e, true
}

// put keeps e under k for the TTL. When full, expired entries go first,
// then the one that expires soonest (the oldest): one scan of a bounded
// map, and only on a miss that verified.
func (c *credCache) put(k credKey, e credEntry, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	e.until = now.Add(c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		var oldest credKey
		var first time.Time
		for x, v := range c.m {
			if !now.Before(v.until) {
				delete(c.m, x)
				continue
			}
			if first.IsZero() || v.until.Before(first) {
				oldest, first = x, v.until
			}
		}
		if len(c.m) >= c.max {
			delete(c.m, oldest)
		}
	}
	c.m[k] = e
}

// forget drops every entry of the account.
func (c *credCache) forget(acct AccountID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.acct == acct {
			delete(c.m, k)
		}
	}
}

// len is the number of entries, for tests.
func (c *credCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
