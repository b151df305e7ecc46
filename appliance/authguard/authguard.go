// Package authguard is the one login policy shared by every protocol that
// takes a password (submission, IMAP, POP3): whether a password may be sent
// on this connection at all, a delay after each failure, and lockouts once
// failures pile up: per (client address, account) pair, per client address
// that tries many accounts, and per account.
//
// The map:
//
//	authguard.go  Guard, Login, Strike, Known, PlaintextAllowed
//
// Why one Guard for all protocols: a password guesser switches protocol as
// easily as it switches connection, so failures on IMAP count against the
// same address on POP3 and submission.
//
// Why the pair is locked first: one address is often many people (an
// office behind one router, a shared PC) and one stale password on a phone
// fails over and over. Locking the whole address for that would lock every
// colleague out with it. So failures lock the (address, account) pair they
// were made on; the whole address is locked only when it fails on many
// different accounts, which is what a password guesser does and an office
// does not.
//
// Why accounts have an exemption: a lockout per account lets anyone lock a
// user out by guessing badly on purpose. An address from which the account
// logged in successfully within the last KnownFor keeps getting in, so the
// office's own machines are never locked out by a stranger.
package authguard

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"postroom/internal/lan"
	"postroom/storage"
)

// ErrLocked says that too many logins failed recently from this address or
// for this account; the client should try again later.
var ErrLocked = errors.New("authguard: too many failed logins, try again later")

// Authenticator checks a login and password. *storage.Store is one.
type Authenticator interface {
	Authenticate(login, password string) (storage.Account, error)
}

// Options tune a Guard. Every zero value means the default in brackets.
type Options struct {
	Logger *slog.Logger     // [slog.Default()]
	Now    func() time.Time // [time.Now]; for tests
	// FailureDelay is the wait before a failure is answered; it doubles with
	// each further failure from the same address, up to 8 times. [1s]
	FailureDelay time.Duration
	// MaxFailures within Window for one account from one address lock that
	// pair for Lockout; an account gets four times as many from all
	// addresses together. [10]
	MaxFailures int
	// MaxAccounts is how many different accounts may fail from one address
	// within Window before the whole address is locked for Lockout. [5]
	MaxAccounts int
	Window      time.Duration // [15m]
	Lockout     time.Duration // [15m]
	// MaxStrikes protocol errors before login within Window from one
	// address make Strike say "disconnect". [20]
	MaxStrikes int
	// KnownFor is how long a successful login exempts its address from
	// the account's lockout. [30 days]
	KnownFor time.Duration
	// MaxTracked bounds the addresses and accounts remembered; the oldest
	// are forgotten first. [10000]
	MaxTracked int
}

// Guard is safe for concurrent use. The zero Guard is not: use New.
type Guard struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	byAddr map[netip.Addr]*record
	byPair map[knownKey]*record
	byAcct map[string]*record
	known  map[knownKey]time.Time   // last success of an account from an address
	addrOK map[netip.Addr]time.Time // last success of any account from an address
}

type record struct {
	failures []failure // within Window, oldest first
	strikes  []failure
	locked   time.Time // locked until
	seen     time.Time
	// streak counts failures since the last success, for the delay.
	streak int
}

type failure struct {
	at   time.Time
	acct string // for an address: which account failed
}

type knownKey struct {
	acct string
	addr netip.Addr
}

// New returns a Guard with opts, defaults filled in.
func New(opts Options) *Guard {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FailureDelay <= 0 {
		opts.FailureDelay = time.Second
	}
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = 10
	}
	if opts.MaxAccounts <= 0 {
		opts.MaxAccounts = 5
	}
	if opts.Window <= 0 {
		opts.Window = 15 * time.Minute
	}
	if opts.Lockout <= 0 {
		opts.Lockout = 15 * time.Minute
	}
	if opts.MaxStrikes <= 0 {
		opts.MaxStrikes = 20
	}
	if opts.KnownFor <= 0 {
		opts.KnownFor = 30 * 24 * time.Hour
	}
	if opts.MaxTracked <= 0 {
		opts.MaxTracked = 10000
	}
	return &Guard{
		opts:   opts,
		log:    opts.Logger,
		byAddr: make(map[netip.Addr]*record),
		byPair: make(map[knownKey]*record),
		byAcct: make(map[string]*record),
		known:  make(map[knownKey]time.Time),
		addrOK: make(map[netip.Addr]time.Time),
	}
}

// Login checks the lockouts for the client address, the pair and the login, verifies
// the password with a, and records the result. A failure is answered only
// after the failure delay (or when ctx ends). Errors: storage.ErrAuthFailed,
// ErrLocked, ctx's error, or a's own fault (e.g. the store is closing).
// The password is never logged.
func (g *Guard) Login(ctx context.Context, a Authenticator, remote net.Addr, login, password string) (storage.Account, error) {
	addr := addrOf(remote)
	acct := strings.ToLower(strings.TrimSpace(login))

	if err := g.checkLocked(addr, acct); err != nil {
		return storage.Account{}, err
	}
	account, err := a.Authenticate(login, password)
	if err == nil {
		g.succeeded(addr, acct)
		return account, nil
	}
	if !errors.Is(err, storage.ErrAuthFailed) {
		return storage.Account{}, err
	}
	delay := g.failed(addr, acct)
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return storage.Account{}, ctx.Err()
	}
	return storage.Account{}, storage.ErrAuthFailed
}

// Strike counts a protocol error before login (an unknown command, a
// command in the wrong state) against the client address, and reports
// whether the client has made so many that it should be disconnected.
func (g *Guard) Strike(remote net.Addr) bool {
	addr := addrOf(remote)
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.opts.Now()
	r := recordLocked(g, g.byAddr, addr, now)
	r.strikes = append(trim(r.strikes, now.Add(-g.opts.Window)), failure{at: now})
	if len(r.strikes) >= g.opts.MaxStrikes {
		if len(r.strikes) == g.opts.MaxStrikes {
			g.log.Warn("too many protocol errors before login; disconnecting", "remote", addr.String())
		}
		return true
	}
	return false
}

func (g *Guard) checkLocked(addr netip.Addr, acct string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.opts.Now()
	if r := g.byAddr[addr]; r != nil && now.Before(r.locked) {
		return ErrLocked
	}
	if r := g.byPair[knownKey{acct, addr}]; r != nil && now.Before(r.locked) {
		return ErrLocked
	}
	if r := g.byAcct[acct]; r != nil && now.Before(r.locked) {
		if last, ok := g.known[knownKey{acct, addr}]; !ok || now.Sub(last) > g.opts.KnownFor {
			return ErrLocked
		}
	}
	return nil
}

func (g *Guard) succeeded(addr netip.Addr, acct string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.opts.Now()
	// The delay starts again; the failures themselves still count towards
	// the address lock, or a guesser holding one good password could
	// clear its record between guesses.
	if r := g.byAddr[addr]; r != nil {
		r.streak = 0
	}
	if r := g.byPair[knownKey{acct, addr}]; r != nil {
		r.failures, r.streak = nil, 0
	}
	if len(g.known) >= g.opts.MaxTracked || len(g.addrOK) >= g.opts.MaxTracked {
		g.pruneLocked(now, true)
	}
	g.known[knownKey{acct, addr}] = now
	g.addrOK[addr] = now
}

// Known reports whether some account logged in successfully from addr
// within KnownFor: the connection front keeps a share of its slots for
// such clients.
func (g *Guard) Known(addr netip.Addr) bool {
	addr = addr.Unmap()
	g.mu.Lock()
	defer g.mu.Unlock()
	last, ok := g.addrOK[addr]
	return ok && g.opts.Now().Sub(last) <= g.opts.KnownFor
}

// failed records a failure and returns how long to wait before answering.
func (g *Guard) failed(addr netip.Addr, acct string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.opts.Now()
	since := now.Add(-g.opts.Window)

	f := failure{at: now, acct: acct}

	rp := recordLocked(g, g.byPair, knownKey{acct, addr}, now)
	rp.failures = append(trim(rp.failures, since), failure{at: now})
	if len(rp.failures) >= g.opts.MaxFailures && !now.Before(rp.locked) {
		rp.locked = now.Add(g.opts.Lockout)
		g.log.Warn("login locked for an account from one client address after repeated failures (other accounts from there still get in)",
			"remote", addr.String(), "login", acct, "failures", len(rp.failures), "for", g.opts.Lockout)
	}
	ra := recordLocked(g, g.byAddr, addr, now)
	ra.failures = append(trim(ra.failures, since), f)
	ra.streak++
	if n := distinctAccounts(ra.failures); n >= g.opts.MaxAccounts && !now.Before(ra.locked) {
		ra.locked = now.Add(g.opts.Lockout)
		g.log.Warn("login locked for a client address that failed on many accounts",
			"remote", addr.String(), "accounts", n, "for", g.opts.Lockout)
	}
	rc := recordLocked(g, g.byAcct, acct, now)
	rc.failures = append(trim(rc.failures, since), failure{at: now})
	if len(rc.failures) >= 4*g.opts.MaxFailures && !now.Before(rc.locked) {
		rc.locked = now.Add(g.opts.Lockout)
		g.log.Warn("login locked for an account after repeated failures (addresses it used before still get in)",
			"login", acct, "failures", len(rc.failures), "for", g.opts.Lockout)
	}

	n := min(ra.streak, 4) // 1, 2, 4, 8 times the delay
	return g.opts.FailureDelay << (n - 1)
}

// distinctAccounts counts the different accounts among fs. fs is short:
// an address is locked once it reaches MaxAccounts, and each pair once it
// reaches MaxFailures.
func distinctAccounts(fs []failure) int {
	seen := make(map[string]struct{}, len(fs))
	for _, f := range fs {
		seen[f.acct] = struct{}{}
	}
	return len(seen)
}

// recordLocked returns m[k], creating it; it forgets stale entries when the
// map is full so that a flood of addresses cannot grow memory without bound.
func recordLocked[K comparable](g *Guard, m map[K]*record, k K, now time.Time) *record {
	r := m[k]
	if r == nil {
		if len(m) >= g.opts.MaxTracked {
			g.pruneLocked(now, true)
		}
		r = &record{}
		m[k] = r
	}
	r.seen = now
	return r
}

// pruneLocked forgets entries with nothing current; when force is set and
// that freed too little, it also forgets the least recently seen half.
func (g *Guard) pruneLocked(now time.Time, force bool) {
	stale := now.Add(-g.opts.Window)
	pruneRecords(g.byAddr, now, stale, force, g.opts.MaxTracked)
	pruneRecords(g.byPair, now, stale, force, g.opts.MaxTracked)
	pruneRecords(g.byAcct, now, stale, force, g.opts.MaxTracked)
	pruneKnown(g.known, now, stale, g.opts.KnownFor, force, g.opts.MaxTracked)
	pruneKnown(g.addrOK, now, stale, g.opts.KnownFor, force, g.opts.MaxTracked)
}

func pruneKnown[K comparable](m map[K]time.Time, now, stale time.Time, knownFor time.Duration, force bool, max int) {
	for k, t := range m {
		if now.Sub(t) > knownFor || (force && len(m) >= max && t.Before(stale)) {
			delete(m, k)
		}
	}
	if force && len(m) >= max {
		clear(m) // a flood of successful logins is not a threat; start over
	}
}

func pruneRecords[K comparable](m map[K]*record, now, stale time.Time, force bool, max int) {
	for k, r := range m {
		if now.After(r.locked) && r.seen.Before(stale) {
			delete(m, k)
		}
	}
	if !force || len(m) < max {
		return
	}
	// Still full of current entries: drop every one not locked. That bounds
	// memory and keeps every lockout in force.
	for k, r := range m {
		if now.After(r.locked) {
			delete(m, k)
		}
	}
}

// trim drops the entries before since from fs (oldest first).
func trim(fs []failure, since time.Time) []failure {
	i := 0
	for i < len(fs) && fs[i].at.Before(since) {
		i++
	}
	return fs[i:]
}

// addrOf is the client's IP address (lan.Addr: IPv4-mapped IPv6 unmapped,
// so one client has one key).
func addrOf(remote net.Addr) netip.Addr { return lan.Addr(remote) }

// PlaintextAllowed says whether a password may be sent on this connection:
// always under TLS; without TLS only when allowLAN is set and the client is
// on the local network (loopback, RFC 1918 private IPv4, IPv6
// unique local, link-local). RFC 8314 asks for TLS for every login; the
// LAN exception exists for old office clients and is off by default.
func PlaintextAllowed(remote net.Addr, isTLS, allowLAN bool) bool {
	if isTLS {
		return true
	}
	if !allowLAN {
		return false
	}
	return lan.Contains(lan.Addr(remote))
}
