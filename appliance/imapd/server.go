// Package imapd is Postroom's IMAP server (IMAP4rev2, RFC 9051, and
// IMAP4rev1, RFC 3501) over the mail store: port 143 with STARTTLS and port
// 993 with implicit TLS (RFC 8314).
//
// github.com/emersion/go-imap/v2's imapserver does the wire protocol:
// parsing, literals, STARTTLS, SASL PLAIN, IDLE's DONE, the response
// encoding. This package is its Session: it maps every command onto
// storage, keeps each client's view of its selected mailbox, and pushes
// other sessions' changes to it.
//
// The map:
//
//	server.go     Options, New, Serve/ServeTLS, Shutdown, Close over the
//	              connection front (internal/front: limits, refusal,
//	              draining); deadlines, one imapserver.Server per connection
//	session.go    the Session: login through authguard, NAMESPACE, and the
//	              one place storage errors become IMAP responses
//	mailboxes.go  CREATE, DELETE, RENAME, (UN)SUBSCRIBE, LIST/LSUB, STATUS
//	selected.go   SELECT/EXAMINE, the client's view, change events, Poll, IDLE,
//	              sequence sets
//	view.go       uidView: the UIDs behind sequence numbers, kept as runs
//	fetch.go      FETCH: metadata, ENVELOPE/BODYSTRUCTURE, streamed sections
//	messages.go   STORE, COPY, MOVE, EXPUNGE, APPEND
//	search.go     SEARCH/ESEARCH and SEARCHRES
//
// Rendering of message content (sections, BINARY, BODYSTRUCTURE) and the
// SEARCH evaluation live in the subpackage imapmsg.
//
// Push: every selected session holds a storage.Watcher on its account.
// Events only say that something changed; the session then reads the store
// (the authority for UID order) and tells its client, expunges first and
// then the new count (RFC 9051 7.5.1, 7.4.1), at the next command or at
// once while the client IDLEs (RFC 2177).
package imapd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"postroom/appliance/authguard"
	"postroom/internal/defaults"
	"postroom/internal/front"
	"postroom/internal/lan"
	"postroom/storage"
)

// Options configures New. Zero values are documented per field; Store is
// required.
type Options struct {
	// Hostname names the server in the BYE that refuses a connection. ""
	// means "localhost".
	Hostname string

	// Store holds the mail. Required.
	Store *storage.Store

	// Logger receives one line per login, refusal and fault. nil means
	// slog.Default().
	Logger *slog.Logger

	// TLSConfig enables STARTTLS on Serve; ServeTLS requires it. nil
	// offers no TLS, and then passwords are refused unless
	// AllowPlaintextLAN lets a local client in.
	TLSConfig *tls.Config

	// Guard delays and limits failed logins and counts protocol errors
	// before login, shared with the other protocols. nil means a private
	// Guard with default settings.
	Guard *authguard.Guard

	// AllowPlaintextLAN lets clients on loopback and private addresses log
	// in without TLS (authguard.PlaintextAllowed). Off, a connection
	// without TLS advertises LOGINDISABLED (RFC 9051 6.2.3).
	AllowPlaintextLAN bool

	// AppendLimit is the largest message APPEND accepts, advertised as
	// APPENDLIMIT (RFC 7889); larger literals are refused with NO [TOOBIG]
	// before a byte is read. 0 means the store's MaxMessageSize. It must
	// fit in 32 bits.
	AppendLimit int64

	// Location is the zone INTERNALDATE is written in (the instant is the
	// same in any zone). nil means the box's local zone; tests set UTC so
	// that their transcripts read the same under every TZ.
	Location *time.Location

	// MaxConnections bounds concurrent connections on all listeners
	// together; more are greeted with BYE and closed. 0 means 200.
	MaxConnections int

	// MaxConnectionsPerIP bounds concurrent connections from one address
	// (an IPv6 /64), so one client cannot take every slot. 0 means 50.
	MaxConnectionsPerIP int

	// Limits are the connection front's other limits: per IPv4 /24, the
	// slots kept for clients that logged in before (as Guard knows), and
	// the short idle limits before login. Zero values: front's defaults.
	Limits front.Limits

	// IdleTimeout is how long a logged-in client may stay silent, between
	// commands or in IDLE, before the server hangs up. RFC 9051 5.4 asks
	// for at least 30 minutes. 0 means 35 minutes (go-imap's own). Before
	// login go-imap allows 30 seconds per command, and Limits apply.
	IdleTimeout time.Duration

	// HandshakeTimeout bounds the TLS handshake on ServeTLS listeners. 0
	// means 30 seconds.
	HandshakeTimeout time.Duration

	// Debug, when set, receives a trace of the wire protocol, passwords and
	// message content included (STYLE convention 10): never in production.
	Debug io.Writer
}

// DefaultOptions holds the value used for each zero field of Options.
var DefaultOptions = Options{
	Hostname:            "localhost",
	MaxConnections:      200,
	MaxConnectionsPerIP: 50,
	IdleTimeout:         35 * time.Minute,
	HandshakeTimeout:    30 * time.Second,
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("imapd: server closed")

// caps are the capabilities go-imap advertises for us. IMAP4rev1-only
// extensions that rev2 includes are listed so that rev1 clients see them;
// go-imap adds IDLE, ENABLE, UNSELECT, UTF8=ACCEPT, SASL-IR, LITERAL-,
// AUTH=PLAIN or LOGINDISABLED and STARTTLS by itself, and APPENDLIMIT=n
// from Session.AppendLimit.
var caps = imap.CapSet{
	imap.CapIMAP4rev1:        {},
	imap.CapIMAP4rev2:        {},
	imap.CapNamespace:        {},
	imap.CapUIDPlus:          {},
	imap.CapESearch:          {},
	imap.CapSearchRes:        {},
	imap.CapListExtended:     {},
	imap.CapListStatus:       {},
	imap.CapMove:             {},
	imap.CapStatusSize:       {},
	imap.CapBinary:           {},
	imap.CapChildren:         {},
	imap.CapSpecialUse:       {},
	imap.CapCreateSpecialUse: {},
	imap.CapLiteralPlus:      {},
	imap.CapUnauthenticate:   {},
}

// Server is the IMAP server. Create it with New, run Serve (STARTTLS) and
// ServeTLS (implicit TLS) on listeners, stop it with Shutdown or Close.
type Server struct {
	opts  Options
	st    *storage.Store
	log   *slog.Logger
	guard *authguard.Guard

	// ctx ends with Close; logins and storage calls run under it.
	ctx    context.Context
	cancel context.CancelFunc

	sessions sync.WaitGroup // sessions not yet closed

	// front owns the listeners and connections: admission, bans,
	// refusal, pre-login idle limits, draining.
	front *front.Front

	mu     sync.Mutex
	closed bool // no new sessions
}

// banTime is how long an address that struck out is greeted with BYE.
const banTime = 15 * time.Minute

// New checks opts, fills its zero fields from DefaultOptions and returns a
// server ready to Serve.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("imapd: Options.Store is required")
	}
	if opts.AppendLimit < 0 || opts.MaxConnections < 0 || opts.MaxConnectionsPerIP < 0 ||
		opts.IdleTimeout < 0 || opts.HandshakeTimeout < 0 {
		return nil, errors.New("imapd: negative limit in Options")
	}
	if opts.AppendLimit == 0 {
		opts.AppendLimit = opts.Store.MaxMessageSize()
	}
	if opts.AppendLimit > 1<<32-1 {
		// APPENDLIMIT and go-imap's SessionAppendLimit are 32-bit.
		return nil, errors.New("imapd: Options.AppendLimit must fit in 32 bits")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	d := DefaultOptions
	defaults.Set(&opts.Hostname, d.Hostname)
	defaults.Set(&opts.MaxConnections, d.MaxConnections)
	defaults.Set(&opts.MaxConnectionsPerIP, d.MaxConnectionsPerIP)
	defaults.Set(&opts.IdleTimeout, d.IdleTimeout)
	defaults.Set(&opts.HandshakeTimeout, d.HandshakeTimeout)
	s := &Server{
		opts:  opts,
		st:    opts.Store,
		log:   opts.Logger.With("service", "imap"),
		guard: opts.Guard,
	}
	if s.guard == nil {
		s.guard = authguard.New(authguard.Options{Logger: s.log})
	}
	f, err := front.New(front.Options{
		Name: "imap", Logger: s.log,
		MaxConns: opts.MaxConnections, MaxPerAddr: opts.MaxConnectionsPerIP, Limits: opts.Limits,
		Known:     s.guard.Known,
		TLSConfig: opts.TLSConfig,
		// RFC 9051 7.1.5: a BYE in place of the greeting.
		Refusal: func(reason string) string {
			return "* BYE " + opts.Hostname + ": " + strings.ToUpper(reason[:1]) + reason[1:] + ", try again later"
		},
		ErrClosed: ErrServerClosed,
	})
	if err != nil {
		return nil, fmt.Errorf("imapd: %w", err)
	}
	s.front = f
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Serve accepts IMAP connections on l, offering STARTTLS when
// Options.TLSConfig is set, until Shutdown or Close; then it returns
// ErrServerClosed. Serve closes l.
func (s *Server) Serve(l net.Listener) error { return s.front.Serve(l, false, s.handle) }

// ServeTLS is Serve for implicit TLS (port 993, RFC 8314 3.3): every
// connection starts with a TLS handshake.
func (s *Server) ServeTLS(l net.Listener) error { return s.front.Serve(l, true, s.handle) }

// handle runs one admitted connection on its own imapserver.Server, and
// returns when the connection has closed (the front holds the slot until
// then). One imapserver.Server per connection, because go-imap decides
// "may a password be sent here" (InsecureAuth) per server, and we decide it
// per client address; its DebugWriter is also the only place that sees
// what it answers before login (see sniffer).
func (s *Server) handle(fc *front.Conn) {
	c := &conn{Conn: fc, fc: fc, srv: s, remote: fc.RemoteAddr(), closed: make(chan struct{})}
	defer c.Close()
	var ic net.Conn = c
	tlsConfig := s.opts.TLSConfig
	if fc.ImplicitTLS() {
		tc := tls.Server(c, s.opts.TLSConfig)
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.HandshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			s.log.Debug("imap TLS handshake failed", "remote", remoteIP(c.remote), "err", err)
			c.Close()
			return
		}
		ic, tlsConfig = tc, nil
	}
	var debug io.Writer = &sniffer{c: c, debug: s.opts.Debug}
	isrv := imapserver.New(&imapserver.Options{
		NewSession: func(ic *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return s.newSession(c, ic)
		},
		Caps:         caps,
		Logger:       libLogger{s.log.With("remote", remoteIP(c.remote))},
		TLSConfig:    tlsConfig,
		InsecureAuth: authguard.PlaintextAllowed(c.remote, false, s.opts.AllowPlaintextLAN),
		DebugWriter:  debug,
	})
	// Serve takes the one connection, starts its goroutine and returns
	// when the connection has closed.
	if err := isrv.Serve(&oneConnListener{c: ic, closed: c.closed}); err != nil {
		s.log.Warn("imap serve", "err", err)
	}
}

// strike counts an unknown command before login against the client's
// address (authguard.Guard.Strike); an address with too many is refused
// for banTime.
func (s *Server) strike(c *conn) {
	if s.guard.Strike(c.remote) {
		s.front.Ban(c.fc.IP(), banTime)
	}
}

// Shutdown drains the server: it stops accepting, says BYE to every client
// not in the middle of a command and to the others as soon as their command
// ends, and waits for them to go. If ctx ends first, the remaining
// connections are closed and ctx's error returned. Either way no session
// touches the store once Shutdown returns.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop()
	s.front.Drain() // idle reads time out: conn.Read says BYE
	err := s.front.Wait(ctx)
	if err != nil {
		s.front.CloseAll()
	}
	s.cancel()
	s.sessions.Wait()
	return err
}

// Close closes every listener and connection at once and waits for the
// sessions to end.
func (s *Server) Close() error {
	s.stop()
	s.front.Stop()
	s.cancel()
	s.front.CloseAll()
	s.sessions.Wait()
	return nil
}

// stop refuses new sessions: a connection admitted just before gets BYE.
func (s *Server) stop() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// Addr is the address of one listener, for tests and logs; nil before
// Serve.
func (s *Server) Addr() net.Addr { return s.front.Addr() }

// conn is one client connection under go-imap (below TLS when there is
// TLS). It frees its slot when closed and applies IdleTimeout.
type conn struct {
	net.Conn             // fc
	fc       *front.Conn // the slot, pre-login limits, busy mark
	srv      *Server
	remote   net.Addr

	closeOnce sync.Once
	closed    chan struct{} // closed by Close

	// Set once by newSession.
	ic   atomic.Pointer[imapserver.Conn]
	sess atomic.Pointer[session]

	authed   atomic.Bool // logged in: the sniffer stands down
	timedOut atomic.Bool
	renew    atomic.Int64 // read inactivity timeout to renew per read, ns

	wmu     sync.Mutex
	wbuf    *bufio.Writer // while corked
	struck  atomic.Bool
	sniffMu sync.Mutex
	tail    []byte // the sniffer's last bytes, across writes
}

// Read hangs up on a client whose read deadline passed (IdleTimeout, or
// go-imap's own limits on a command line or literal), with BYE first (RFC
// 9051 7.1.5). Without this go-imap answers the timed-out command and then
// waits a further 30 seconds for the next one.
func (c *conn) Read(p []byte) (int, error) {
	if d := time.Duration(c.renew.Load()); d > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(d))
	}
	n, err := c.Conn.Read(p)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() && c.timedOut.CompareAndSwap(false, true) {
		if c.srv.front.Draining() {
			c.bye("Server shutting down")
		} else {
			c.srv.log.Debug("imap client timed out", "remote", remoteIP(c.remote))
			c.bye("Autologout; idle for too long")
		}
	}
	return n, err
}

// Write goes through the cork buffer while a command runs. go-imap flushes
// after every response line, which for "FETCH 1:*" of 100,000 messages is
// 100,000 system calls; corked, it is a few hundred.
func (c *conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wbuf != nil {
		return c.wbuf.Write(p)
	}
	return c.Conn.Write(p)
}

var corkPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32<<10) }}

// cork holds writes back until uncork, like TCP_CORK. Sessions cork for
// the span of a command; go-imap writes the tagged completion after the
// session method returns, uncorked.
func (c *conn) cork() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wbuf == nil {
		c.wbuf = corkPool.Get().(*bufio.Writer)
		c.wbuf.Reset(c.Conn)
	}
}

func (c *conn) uncork() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wbuf == nil {
		return nil
	}
	err := c.wbuf.Flush()
	c.wbuf.Reset(nil)
	corkPool.Put(c.wbuf)
	c.wbuf = nil
	return err
}

func (c *conn) Close() error {
	c.uncork()
	err := c.Conn.Close() // frees the slot
	c.closeOnce.Do(func() { close(c.closed) })
	return err
}

// SetReadDeadline replaces go-imap's fixed 35-minute idle deadline (the
// only one it sets beyond 10 minutes) with Options.IdleTimeout. Deadlines
// of a minute or more (idle, and go-imap's 5 minutes for a whole literal)
// become inactivity timeouts, renewed by every read, so that a 50 MB
// APPEND over a slow line is not cut off while bytes still flow.
func (c *conn) SetReadDeadline(t time.Time) error {
	d := time.Until(t)
	if !t.IsZero() && d > 10*time.Minute {
		d = c.srv.opts.IdleTimeout
		t = time.Now().Add(d)
	}
	if t.IsZero() || d < time.Minute {
		d = 0
	}
	c.renew.Store(int64(d))
	return c.Conn.SetReadDeadline(t)
}

func (c *conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *conn) bye(text string) {
	if ic := c.ic.Load(); ic != nil {
		ic.Bye(text)
	}
	c.Close()
}

// sniffer is the connection's go-imap DebugWriter: it sees the plain text
// in both directions, even under TLS. Before login it watches for go-imap's
// answer to an unknown command (which go-imap follows with BYE, against
// cross-protocol attacks) so the Guard can count it; Options.Debug, if
// set, gets everything.
type sniffer struct {
	c     *conn
	debug io.Writer
}

// unknownReply is what go-imap answers to an unknown command
// (imapserver/conn.go readCommand).
const unknownReply = "BAD Unknown command"

func (w *sniffer) Write(p []byte) (int, error) {
	if w.debug != nil {
		w.debug.Write(p)
	}
	c := w.c
	if c.authed.Load() || c.struck.Load() {
		return len(p), nil
	}
	c.sniffMu.Lock()
	buf := append(c.tail, p...)
	hit := strings.Contains(string(buf), unknownReply)
	if len(buf) > len(unknownReply) {
		buf = buf[len(buf)-len(unknownReply):]
	}
	c.tail = append(c.tail[:0], buf...)
	c.sniffMu.Unlock()
	if hit && c.struck.CompareAndSwap(false, true) {
		c.srv.log.Info("imap unknown command before login", "remote", remoteIP(c.remote))
		c.srv.strike(c)
	}
	return len(p), nil
}

// oneConnListener hands one connection to imapserver.Server.Serve, then
// holds Serve until the connection closes.
type oneConnListener struct {
	c      net.Conn
	closed <-chan struct{}
	done   bool
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if l.done {
		<-l.closed
		return nil, net.ErrClosed
	}
	l.done = true
	return l.c, nil
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return l.c.LocalAddr() }

// libLogger takes go-imap's log lines: a client that vanished is routine,
// a recovered panic or an internal error is not.
type libLogger struct{ l *slog.Logger }

func (g libLogger) Printf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	switch {
	case strings.Contains(msg, "panic"):
		g.l.Error("imap internal error", "detail", msg)
	case strings.HasPrefix(msg, "handling ") && !connGone(msg):
		// go-imap answers these NO [SERVERBUG]; most are malformed
		// arguments it does not call syntax errors (a bad date, "FETCH 0").
		g.l.Warn("imap command failed", "detail", msg)
	default:
		g.l.Debug("imap connection", "detail", msg)
	}
}

// connGone recognises the errors of a connection that ended or timed out.
func connGone(msg string) bool {
	for _, s := range []string{"i/o timeout", "use of closed network connection", "connection reset", "broken pipe", "EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func remoteIP(a net.Addr) string { return lan.Addr(a).String() }
