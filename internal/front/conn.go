package front

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is one admitted connection: it holds a slot until closed, caps its
// read deadline while it has not logged in, and fails reads once the front
// drains and it is not busy. Servers wrap it (TLS, their own deadline
// logic) and set deadlines through it, never on the socket below.
type Conn struct {
	net.Conn
	f           *Front
	ip          netip.Addr
	ak, nk      netip.Prefix
	countedNet  bool // counted against its /24
	start       time.Time
	implicitTLS bool
	doneAtClose bool // Listen's: Front.Wait ends with the close

	loggedIn atomic.Bool
	busy     atomic.Bool
	// account is the account the client logged in as (SetAccount), for
	// EndSessions; ended is set by EndSessions.
	account atomic.Pointer[string]
	client  atomic.Pointer[string]
	ended   atomic.Bool

	mu   sync.Mutex
	want time.Time // the read deadline the server asked for
	eff  time.Time // the one set on the socket before login

	closeOnce sync.Once
	closeErr  error
}

// IP is the client's address (IPv4-mapped IPv6 unmapped).
func (c *Conn) IP() netip.Addr { return c.ip }

// ImplicitTLS reports whether the connection came in on a port that speaks
// TLS from the first byte; the server does the handshake.
func (c *Conn) ImplicitTLS() bool { return c.implicitTLS }

// Front is the front the connection belongs to.
func (c *Conn) Front() *Front { return c.f }

// LoggedIn marks the client as logged in (or, on port 25, as having begun
// a transaction): from now on only the server's own deadlines apply.
func (c *Conn) LoggedIn() {
	if c.loggedIn.Swap(true) {
		return
	}
	c.mu.Lock()
	c.Conn.SetReadDeadline(c.want)
	c.mu.Unlock()
}

// SetAccount records the account the client logged in as (its name,
// compared without case), so that Front.EndSessions can end the session
// when the account's password changes or it is removed. A server calls it
// once login succeeded, after LoggedIn.
func (c *Conn) SetAccount(name string) {
	n := strings.ToLower(strings.TrimSpace(name))
	c.account.Store(&n)
	if c.ended.Load() {
		return
	}
	if h := c.f.opts.OnLogin; h != nil {
		h(c)
	}
}

// SetClient records what the client said it is: the name of the app
// password it logged in with, or the program's name from IMAP ID. After
// login it calls OnLogin again, so the device is recorded by its name.
func (c *Conn) SetClient(name string) {
	c.client.Store(&name)
	if c.Account() == "" || c.ended.Load() {
		return
	}
	if h := c.f.opts.OnLogin; h != nil {
		h(c)
	}
}

// Client is the name set by SetClient, "" when none was.
func (c *Conn) Client() string {
	if p := c.client.Load(); p != nil {
		return *p
	}
	return ""
}

// Account is the account set by SetAccount, "" before login.
func (c *Conn) Account() string {
	if p := c.account.Load(); p != nil {
		return *p
	}
	return ""
}

// Ended reports whether Front.EndSessions ended the session: a read that
// failed with a timeout then means "logged out by the administrator or a
// password change", and the server says its goodbye for that.
func (c *Conn) Ended() bool { return c.ended.Load() }

// end marks the connection ended and wakes a Read waiting while not busy;
// a busy connection finishes its command and its next Read fails.
func (c *Conn) end() {
	c.ended.Store(true)
	if !c.busy.Load() {
		// Set after the mark: either this past deadline wakes a Read
		// already waiting, or Read sees the mark (as in Drain).
		c.Conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// SetBusy marks the connection as inside a command that Drain lets finish.
func (c *Conn) SetBusy(b bool) { c.busy.Store(b) }

// Busy reports the mark set by SetBusy.
func (c *Conn) Busy() bool { return c.busy.Load() }

// Read reads from the client. Before login, each read may wait
// PreLoginIdle (StressIdle when slots run short), and none past
// PreLoginTotal after the connection came in, or the server's own
// deadline if that is sooner. While draining, a connection not busy gets
// a timeout at once.
func (c *Conn) Read(p []byte) (int, error) {
	if !c.loggedIn.Load() {
		c.mu.Lock()
		c.applyLocked(time.Now())
		c.mu.Unlock()
	}
	if !c.busy.Load() {
		if c.ended.Load() {
			return 0, errEnded{}
		}
		if c.f.draining.Load() {
			return 0, errDraining{}
		}
	}
	return c.Conn.Read(p)
}

// applyLocked sets the socket's read deadline before login: the server's,
// capped by the pre-login limits.
func (c *Conn) applyLocked(now time.Time) {
	d := now.Add(c.f.preLoginIdle())
	if end := c.start.Add(c.f.opts.PreLoginTotal); end.Before(d) {
		d = end
	}
	if !c.want.IsZero() && c.want.Before(d) {
		d = c.want
	}
	c.eff = d
	c.Conn.SetReadDeadline(d)
}

// tighten brings the deadline of a connection that has not logged in
// forward to t, if it is later (stress began).
func (c *Conn) tighten(t time.Time) {
	if c.loggedIn.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loggedIn.Load() || (!c.eff.IsZero() && !c.eff.After(t)) {
		return
	}
	c.eff = t
	c.Conn.SetReadDeadline(t)
}

// SetReadDeadline records the server's deadline; before login the socket
// gets it capped by the pre-login limits. A deadline in the past takes
// effect at once (it wakes a pending Read).
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want = t
	if c.loggedIn.Load() {
		return c.Conn.SetReadDeadline(t)
	}
	c.applyLocked(time.Now())
	return nil
}

// SetDeadline sets both deadlines, the read one as SetReadDeadline does.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

// Close frees the slot, then closes the socket: once the client sees the
// close, a new connection from it must be admitted.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.f.forget(c)
		c.closeErr = c.Conn.Close()
	})
	return c.closeErr
}

// errDraining is a timeout, so that servers treat it as the end of an
// idle wait (go-smtp answers "421 4.4.2").
type errDraining struct{}

func (errDraining) Error() string   { return "server shutting down" }
func (errDraining) Timeout() bool   { return true }
func (errDraining) Temporary() bool { return true }

// errEnded is what Read returns once EndSessions ended the session: a
// timeout too, so that a server that does not ask Ended still hangs up
// (go-smtp answers "421 4.4.2").
type errEnded struct{}

func (errEnded) Error() string   { return "session ended: the account was logged out everywhere" }
func (errEnded) Timeout() bool   { return true }
func (errEnded) Temporary() bool { return false }

var (
	_ net.Error = errDraining{}
	_ net.Error = errEnded{}
)
