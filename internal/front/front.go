// Package front is the connection front of the protocol servers (smtpd,
// imapd, pop3): the listeners a server serves on, the accept loop, who gets
// a connection slot, the refusal of those who do not, the short leash of
// connections that have not logged in, and draining at shutdown. Each
// server keeps only its own words: the line it refuses with (SMTP 421, IMAP
// BYE, POP3 -ERR) and what it says when a drained or idle client goes.
//
// The map:
//
//	front.go   Front, Options, Limits, Serve/Listen, admission, refusal,
//	           Drain, Wait, CloseAll, Ban
//	conn.go    Conn: the slot a connection holds, its pre-login deadline,
//	           busy/logged-in marks
//	accept.go  the accept loop: a requested shutdown versus a failure,
//	           riding out temporary errors
//
// Admission: one policy for every server. Connections are counted per
// client address, where an IPv6 address counts as its /64 (what one line
// or one host gets), and IPv4 addresses also per /24 with a larger bound,
// so that a client with a handful of addresses cannot take every slot.
// KnownReserve slots are kept for clients whose address has logged in
// before (Options.Known, authguard's record); such clients are not held to
// the /24 bound either, so an office LAN whose machines already use the box
// is never refused as "one network".
//
// Idle limits before login (the Postfix stress model): a connection that
// has not logged in (or, on port 25, not begun a transaction) gets
// PreLoginIdle between bytes and PreLoginTotal in all. When StressAt
// connections are open, the idle limit drops to StressIdle, for new reads
// and for connections already waiting, so that idle connections cannot
// hold the slots cheaply; once a connection has logged in, its server's
// own timeouts apply.
package front

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"postroom/internal/lan"
)

// The reasons a connection is refused, handed to Options.Refusal.
const (
	ReasonBusy     = "too many connections"
	ReasonAddr     = "too many connections from your address"
	ReasonNet      = "too many connections from your network"
	ReasonBanned   = "too many errors from your address"
	ReasonShutdown = "server shutting down"
)

// Limits are the admission and pre-login knobs every server shares. Every
// zero value means the default in brackets; a server's Options carries one.
type Limits struct {
	// MaxPerNet bounds connections from one IPv4 /24 by clients that
	// have not logged in from their address before. [2 x the per-address
	// bound]
	MaxPerNet int
	// KnownReserve is how many of the slots only clients whose address
	// has logged in before may take; negative means none. Servers without
	// logins (the MX) have no reserve. [1/5 of the slots]
	KnownReserve int
	// PreLoginIdle is the longest silence of a connection that has not
	// logged in. [60s]
	PreLoginIdle time.Duration
	// PreLoginTotal is the longest a connection may stay without logging
	// in, however many bytes it sends. [3m]
	PreLoginTotal time.Duration
	// StressAt is the number of open connections from which PreLoginIdle
	// drops to StressIdle. [3/4 of the slots]
	StressAt int
	// StressIdle is PreLoginIdle under stress. [5s]
	StressIdle time.Duration
	// OnLogin, when set, is called by Conn.SetAccount and, after login,
	// Conn.SetClient, on the session's goroutine: the appliance records
	// the account's last login and devices, and learns the fronts whose
	// sessions "log out everywhere" must end. It rides in Limits because
	// every server passes its Limits through to its Front. It must not
	// block for long. [none]
	OnLogin func(*Conn)
}

// Options configure New. Name, MaxConns, MaxPerAddr and Refusal are
// required.
type Options struct {
	// Name names the server in log lines and errors ("imap", "pop3").
	Name string
	// Logger: nil means slog.Default().
	Logger *slog.Logger
	// MaxConns bounds the open connections over every listener.
	MaxConns int
	// MaxPerAddr bounds the open connections from one IPv4 address or
	// one IPv6 /64.
	MaxPerAddr int
	Limits
	// Known reports whether a client address has logged in successfully
	// before (authguard.Guard.Known). nil: nobody is known and there is
	// no reserve.
	Known func(netip.Addr) bool
	// TLSConfig is needed to serve implicit-TLS listeners: a refusal
	// there is written after a TLS handshake.
	TLSConfig *tls.Config
	// Refusal returns the line (without CRLF) that refuses a connection
	// for reason, in the server's protocol.
	Refusal func(reason string) string
	// RefuseTimeout bounds writing a refusal (and its TLS handshake).
	// [10s]
	RefuseTimeout time.Duration
	// ErrClosed is what Serve returns after Stop: the server's
	// ErrServerClosed. [net.ErrClosed]
	ErrClosed error
}

// maxRefusing bounds the goroutines answering refused connections, so that
// a flood cannot make us hold thousands of sockets open to say no: beyond
// it a connection is closed without a word.
const maxRefusing = 256

// maxBanned bounds the remembered bans.
const maxBanned = 10000

// Front is one server's connection front. Safe for concurrent use.
type Front struct {
	opts Options
	log  *slog.Logger

	draining atomic.Bool
	open     atomic.Int32 // len(conns), read on every pre-login Read
	// wg counts admitted connections until their handler returns
	// (Serve) or they close (Listen). Added to under mu while not closed,
	// so that Wait after Stop sees every Add.
	wg sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	stressed  bool
	stressLog time.Time // last stress line logged: at most one a minute
	listeners []net.Listener
	conns     map[*Conn]struct{}
	perAddr   map[netip.Prefix]int
	perNet    map[netip.Prefix]int
	banned    map[netip.Prefix]time.Time
	refusing  int
	// Refusals logged in the current second, and those not logged.
	logSecond        time.Time
	logged, unlogged int
}

// maxRefusalLogs bounds the refusal lines a second: a flood of thousands
// of connections must not become thousands of lines on the SD card.
const maxRefusalLogs = 10

// New fills the zero Limits and returns a Front.
func New(opts Options) (*Front, error) {
	if opts.Name == "" || opts.MaxConns <= 0 || opts.MaxPerAddr <= 0 || opts.Refusal == nil {
		return nil, errors.New("front: Options need Name, MaxConns, MaxPerAddr and Refusal")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	l := &opts.Limits
	if l.MaxPerNet <= 0 {
		l.MaxPerNet = 2 * opts.MaxPerAddr
	}
	switch {
	case opts.Known == nil || l.KnownReserve < 0:
		l.KnownReserve = 0
	case l.KnownReserve == 0:
		l.KnownReserve = opts.MaxConns / 5
	}
	l.KnownReserve = min(l.KnownReserve, opts.MaxConns-1)
	if l.PreLoginIdle <= 0 {
		l.PreLoginIdle = time.Minute
	}
	if l.PreLoginTotal <= 0 {
		l.PreLoginTotal = 3 * time.Minute
	}
	if l.StressAt <= 0 {
		l.StressAt = max(1, opts.MaxConns*3/4)
	}
	if l.StressIdle <= 0 {
		l.StressIdle = 5 * time.Second
	}
	if opts.RefuseTimeout <= 0 {
		opts.RefuseTimeout = 10 * time.Second
	}
	if opts.ErrClosed == nil {
		opts.ErrClosed = net.ErrClosed
	}
	return &Front{
		opts:    opts,
		log:     opts.Logger,
		conns:   make(map[*Conn]struct{}),
		perAddr: make(map[netip.Prefix]int),
		perNet:  make(map[netip.Prefix]int),
		banned:  make(map[netip.Prefix]time.Time),
	}, nil
}

// Name is the server's name (Options.Name): "imap", "pop3",
// "smtp-submission".
func (f *Front) Name() string { return f.opts.Name }

// Limits returns the limits in force, defaults filled in.
func (f *Front) Limits() Limits { return f.opts.Limits }

// Serve accepts connections on l until Stop, admitting or refusing each,
// and runs handle in a goroutine of its own for every admitted one; then
// it returns Options.ErrClosed. implicitTLS marks a port that speaks TLS
// from the first byte (RFC 8314 3.3): handle does the handshake (see
// Conn.ImplicitTLS), a refusal is written after one. Serve closes l.
func (f *Front) Serve(l net.Listener, implicitTLS bool, handle func(*Conn)) error {
	fl, err := f.Listen(l, implicitTLS)
	if err != nil {
		return err
	}
	defer fl.Close()
	fl.serve = true
	return acceptLoop(fl, f.opts.Name, f.log, f.Closed, f.opts.ErrClosed, func(nc net.Conn) {
		go func() {
			c := nc.(*Conn)
			defer f.wg.Done()
			defer c.Close()
			handle(c)
		}()
	})
}

// Listen registers l and returns a listener whose Accept admits
// connections (refusing the others itself) and returns them as *Conn, for
// a library that runs its own accept loop (go-smtp). After Stop it fails
// with Options.ErrClosed. Wait waits for these connections to close.
func (f *Front) Listen(l net.Listener, implicitTLS bool) (*Listener, error) {
	if implicitTLS && f.opts.TLSConfig == nil {
		l.Close()
		return nil, errors.New(f.opts.Name + ": implicit TLS (ServeTLS) needs Options.TLSConfig")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		l.Close()
		return nil, f.opts.ErrClosed
	}
	f.listeners = append(f.listeners, l)
	return &Listener{Listener: l, f: f, implicitTLS: implicitTLS}, nil
}

// Listener is a registered listener; see Listen.
type Listener struct {
	net.Listener
	f           *Front
	implicitTLS bool
	serve       bool // Serve's: Wait waits for the handler, not the close
}

// Accept returns the next admitted connection, a *Conn.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		c, reason := l.f.admit(nc, l.implicitTLS, l.serve)
		if c != nil {
			return c, nil
		}
		l.f.refuse(nc, l.implicitTLS, reason)
	}
}

// Close closes the listener and forgets it.
func (l *Listener) Close() error {
	f := l.f
	f.mu.Lock()
	for i, x := range f.listeners {
		if x == l.Listener {
			f.listeners = append(f.listeners[:i], f.listeners[i+1:]...)
			break
		}
	}
	f.mu.Unlock()
	return l.Listener.Close()
}

// Addr is the address of the first listener still open, for tests and
// logs; nil when there is none.
func (f *Front) Addr() net.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.listeners) == 0 {
		return nil
	}
	return f.listeners[0].Addr()
}

// AddrKey is the unit the per-address bound counts: an IPv4 address, or
// the /64 of an IPv6 one (one host or one customer line gets a whole /64).
func AddrKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits) // the zero Prefix for the zero Addr
	return p
}

// netKey is the unit of MaxPerNet: the /24 of an IPv4 address. IPv6 has
// none beyond its /64.
func netKey(a netip.Addr) (netip.Prefix, bool) {
	a = a.Unmap()
	if !a.Is4() {
		return netip.Prefix{}, false
	}
	p, _ := a.Prefix(24)
	return p, true
}

// admit registers a connection, or says why not.
func (f *Front) admit(nc net.Conn, implicitTLS, serve bool) (*Conn, string) {
	ip := lan.Addr(nc.RemoteAddr())
	ak := AddrKey(ip)
	nk, hasNet := netKey(ip)
	// Asked before taking f.mu: Known takes the Guard's lock.
	known := f.opts.Known != nil && f.opts.Known(ip)
	now := time.Now()
	lim := f.opts.Limits

	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.conns)
	switch {
	case f.closed:
		return nil, ReasonShutdown
	case f.bannedLocked(ak, now):
		return nil, ReasonBanned
	case n >= f.opts.MaxConns, !known && n >= f.opts.MaxConns-lim.KnownReserve:
		return nil, ReasonBusy
	case f.perAddr[ak] >= f.opts.MaxPerAddr:
		return nil, ReasonAddr
	case hasNet && !known && f.perNet[nk] >= lim.MaxPerNet:
		return nil, ReasonNet
	}
	c := &Conn{Conn: nc, f: f, ip: ip, ak: ak, start: now, implicitTLS: implicitTLS, doneAtClose: !serve}
	f.perAddr[ak]++
	if hasNet && !known {
		c.nk, c.countedNet = nk, true
		f.perNet[nk]++
	}
	f.conns[c] = struct{}{}
	f.open.Store(int32(len(f.conns)))
	f.wg.Add(1)
	if !f.stressed && len(f.conns) >= lim.StressAt {
		f.stressed = true
		if now.Sub(f.stressLog) >= time.Minute {
			// A flood can take the front in and out of stress every few
			// seconds; one line a minute says enough.
			f.stressLog = now
			f.log.Warn(f.opts.Name+" connection slots running short: idle limit before login tightened",
				"open", len(f.conns), "max", f.opts.MaxConns, "idle", lim.StressIdle)
		}
		// Connections already waiting get the short limit too.
		for o := range f.conns {
			o.tighten(now.Add(lim.StressIdle))
		}
	}
	return c, ""
}

// Admit admits a connection accepted elsewhere (a test's scripted
// connection), as Listen's Accept would: nil and the reason when it is
// refused, which Admit does not answer. Wait waits for it to close.
func (f *Front) Admit(nc net.Conn, implicitTLS bool) (*Conn, string) {
	return f.admit(nc, implicitTLS, false)
}

func (f *Front) bannedLocked(ak netip.Prefix, now time.Time) bool {
	until, ok := f.banned[ak]
	if ok && !now.Before(until) {
		delete(f.banned, ak)
		return false
	}
	return ok
}

// forget frees c's slot.
func (f *Front) forget(c *Conn) {
	f.mu.Lock()
	if _, ok := f.conns[c]; !ok {
		f.mu.Unlock()
		return
	}
	delete(f.conns, c)
	if f.perAddr[c.ak]--; f.perAddr[c.ak] <= 0 {
		delete(f.perAddr, c.ak)
	}
	if c.countedNet {
		if f.perNet[c.nk]--; f.perNet[c.nk] <= 0 {
			delete(f.perNet, c.nk)
		}
	}
	f.open.Store(int32(len(f.conns)))
	if f.stressed && len(f.conns) < f.opts.StressAt {
		f.stressed = false
		f.log.Debug(f.opts.Name+" connection slots available again", "open", len(f.conns))
	}
	f.mu.Unlock()
	if c.doneAtClose {
		f.wg.Done()
	}
}

// preLoginIdle is the idle limit for a read before login now.
func (f *Front) preLoginIdle() time.Duration {
	if int(f.open.Load()) >= f.opts.StressAt {
		return f.opts.StressIdle
	}
	return f.opts.PreLoginIdle
}

// Ban refuses new connections from addr's AddrKey for d (a client that
// authguard said to disconnect). Bans are bounded in number; when full of
// current ones, the ban is skipped (the Guard still counts).
func (f *Front) Ban(addr netip.Addr, d time.Duration) {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.banned) >= maxBanned {
		for k, until := range f.banned {
			if !now.Before(until) {
				delete(f.banned, k)
			}
		}
		if len(f.banned) >= maxBanned {
			return
		}
	}
	f.banned[AddrKey(addr)] = now.Add(d)
}

// refuse answers a connection over a limit with Options.Refusal and closes
// it, without holding up the accept loop.
func (f *Front) refuse(nc net.Conn, implicitTLS bool, reason string) {
	now := time.Now().Truncate(time.Second)
	f.mu.Lock()
	busy := f.refusing >= maxRefusing
	if !busy {
		f.refusing++
	}
	var skipped int
	if !now.Equal(f.logSecond) {
		skipped, f.unlogged, f.logged, f.logSecond = f.unlogged, 0, 0, now
	}
	log := f.logged < maxRefusalLogs
	if log {
		f.logged++
	} else {
		f.unlogged++
	}
	f.mu.Unlock()
	if skipped > 0 {
		f.log.Info(f.opts.Name+" connection refusals not logged", "count", skipped)
	}
	if log {
		f.log.Info(f.opts.Name+" connection refused", "remote", lan.Addr(nc.RemoteAddr()).String(),
			"reason", reason, "max", f.opts.MaxConns, "max_per_ip", f.opts.MaxPerAddr)
	}
	if busy {
		nc.Close()
		return
	}
	go func() {
		defer func() {
			f.mu.Lock()
			f.refusing--
			f.mu.Unlock()
		}()
		nc.SetDeadline(time.Now().Add(f.opts.RefuseTimeout))
		w := nc
		if implicitTLS {
			w = tls.Server(nc, f.opts.TLSConfig)
		}
		io.WriteString(w, f.opts.Refusal(reason)+"\r\n")
		w.Close()
	}()
}

// Stop stops accepting: it closes every listener; Serve then returns
// Options.ErrClosed and new connections are refused.
func (f *Front) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for _, l := range f.listeners {
		l.Close()
	}
}

// Closed reports whether Stop has run.
func (f *Front) Closed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// Drain stops accepting and ends the wait of every connection not marked
// busy: its pending Read fails at once with a timeout, as does every later
// Read while it is not busy, so the server says its goodbye (421 4.4.2,
// BYE, -ERR) and hangs up. A busy connection finishes its command first.
func (f *Front) Drain() {
	f.draining.Store(true)
	f.Stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		if !c.busy.Load() {
			// Checked after the draining mark: either this past deadline
			// wakes a Read already waiting, or Read sees the mark.
			c.Conn.SetReadDeadline(time.Unix(1, 0))
		}
	}
}

// Draining reports whether Drain has run: a server's read that timed out
// tells a shutdown from an idle client by it.
func (f *Front) Draining() bool { return f.draining.Load() }

// Wait waits until every connection has closed and every handler Serve
// started has returned, or until ctx ends.
func (f *Front) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CloseAll closes every connection now.
func (f *Front) CloseAll() {
	for _, c := range f.Conns() {
		c.Close()
	}
}

// Conns returns the open connections.
func (f *Front) Conns() []*Conn {
	f.mu.Lock()
	defer f.mu.Unlock()
	cs := make([]*Conn, 0, len(f.conns))
	for c := range f.conns {
		cs = append(cs, c)
	}
	return cs
}

// EndSessions ends every session logged in as account (Conn.SetAccount;
// compared without case), for "log out everywhere" after a password change,
// an app password's removal or the account's removal. A session waiting
// for a command is woken at once, a busy one after its command: its read
// fails with a timeout and Conn.Ended tells the server to say goodbye
// (POP3 -ERR, IMAP BYE, SMTP 421) and hang up. It returns how many
// sessions it ended.
func (f *Front) EndSessions(account string) int {
	account = strings.ToLower(strings.TrimSpace(account))
	if account == "" {
		return 0
	}
	n := 0
	for _, c := range f.Conns() {
		if c.Account() == account {
			c.end()
			n++
		}
	}
	if n > 0 {
		f.log.Info(f.opts.Name+" sessions ended: account logged out everywhere", "account", account, "sessions", n)
	}
	return n
}

// Open is the number of open connections.
func (f *Front) Open() int { return int(f.open.Load()) }
