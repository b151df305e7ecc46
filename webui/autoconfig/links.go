package autoconfig

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"sync"
	"time"
)

// Links are one-time links to a profile, for the QR code on the set-up
// page: the logged-in page makes one, a phone scans it and downloads its
// profile from the public handler at /p/TOKEN without logging in. A link
// works once and for LinkTTL; the token is 80 random bits. At most
// maxLinks wait at a time (expired ones are dropped first, then the
// oldest), so the map stays small whatever the pages ask for.
type Links struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]link
}

type link struct {
	address string
	proto   Protocol
	expires time.Time
}

// LinkTTL is how long a one-time link works.
const LinkTTL = 15 * time.Minute

const maxLinks = 1000

// ErrLinkGone is a link that was used, has expired, or never existed.
var ErrLinkGone = errors.New("this link was used or has expired; make a new one on the set-up page")

// NewLinks returns an empty set of links; now is the clock (nil: time.Now).
func NewLinks(now func() time.Time) *Links {
	if now == nil {
		now = time.Now
	}
	return &Links{now: now, m: make(map[string]link)}
}

// New makes a link to address's profile over proto and returns its token
// and when it expires.
func (l *Links) New(address string, proto Protocol) (token string, expires time.Time, err error) {
	var raw [10]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", time.Time{}, err
	}
	token = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw[:])
	now := l.now()
	expires = now.Add(LinkTTL)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.m) >= maxLinks {
		var oldest string
		for k, v := range l.m {
			if !now.Before(v.expires) {
				delete(l.m, k)
			} else if oldest == "" || v.expires.Before(l.m[oldest].expires) {
				oldest = k
			}
		}
		if len(l.m) >= maxLinks {
			delete(l.m, oldest)
		}
	}
	l.m[token] = link{address: address, proto: proto, expires: expires}
	return token, expires, nil
}

// Take uses up the link with token: its address and protocol, or
// ErrLinkGone.
func (l *Links) Take(token string) (address string, proto Protocol, err error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.m[token]
	delete(l.m, token)
	if !ok || !now.Before(v.expires) {
		return "", "", ErrLinkGone
	}
	return v.address, v.proto, nil
}
