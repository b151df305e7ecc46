// Package imapd is Postroom's IMAP server (IMAP4rev2, RFC 9051, and
// IMAP4rev1, RFC 3501) over the mail store: port 143 with STARTTLS and port
// 993 with implicit TLS (RFC 8314). It is our own protocol engine (issue
// #11), written from the RFCs; github.com/emersion/go-imap/v2 lends its
// imap data types and, in the tests, imapclient.
//
// The map:
//
//	imapd.go      Options, New, Serve/ServeTLS, Shutdown, Close over the
//	              connection front (internal/front: limits, refusal,
//	              draining)
//	wire/         commands in (literals, limits, typed parsers), responses
//	              out; no state
//	conn.go       one connection: greeting, the read loop, the state machine
//	              (RFC 9051 3), dispatch, STARTTLS, COMPRESS, AUTHENTICATE,
//	              LOGIN through authguard, IDLE, deadlines, the write cork
//	errors.go     the one place storage errors become IMAP responses
//	respond.go    FETCH data: ENVELOPE, BODYSTRUCTURE, flags, dates
//	state.go      the selected mailbox: the client's view, change events,
//	              pending EXPUNGE/EXISTS/FETCH, sequence sets
//	view.go       uidView: the UIDs behind sequence numbers, kept as runs
//	cmd_mailbox.go CREATE, DELETE, RENAME, (UN)SUBSCRIBE, LIST/LSUB, STATUS,
//	              NAMESPACE
//	cmd_select.go SELECT/EXAMINE, CLOSE, UNSELECT
//	cmd_fetch.go  FETCH: metadata, ENVELOPE/BODYSTRUCTURE, streamed sections
//	cmd_message.go STORE, COPY, MOVE, EXPUNGE, APPEND
//	cmd_search.go SEARCH/ESEARCH, SEARCHRES, PARTIAL
//	cmd_sort.go   SORT, SORT=DISPLAY, THREAD=ORDEREDSUBJECT
//	cmd_context.go CONTEXT=SEARCH/SORT: RETURN (UPDATE) results kept live
//	              (ADDTO/REMOVEFROM), CANCELUPDATE, PARTIAL's answer
//	cmd_thread.go THREAD=REFERENCES
//	cmd_qresync.go QRESYNC: VANISHED, SELECT (QRESYNC ...)
//	cmd_quota.go  GETQUOTA, GETQUOTAROOT
//	cmd_notify.go NOTIFY (RFC 5465): the command
//	notify.go     NOTIFY's pushes: other mailboxes' STATUS and LIST
//	              responses, what wakes a waiting session, overflow
//	utf7.go       modified UTF-7 mailbox names (RFC 3501 5.1.3)
//
// Rendering of message content (sections, BINARY, BODYSTRUCTURE) and the
// SEARCH evaluation live in the subpackage imapmsg.
//
// Concurrency: each connection has one goroutine that reads commands,
// runs them and writes every response, so a session's state needs no lock
// and no lock is held across network I/O. IDLE adds a goroutine that only
// reads the client's DONE; the pushes are written by the connection's own
// goroutine. A client that stops reading blocks only its own writes, which
// a write deadline and Shutdown's close end.
//
// Push: every selected session holds a storage.Watcher on its account.
// Events only say that something changed; the session then reads the store
// (the authority for UID order) and tells its client, expunges first and
// then the new count (RFC 9051 7.5.1, 7.4.1), at the next command or at
// once while the client IDLEs (RFC 2177).
package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

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
	// for at least 30 minutes. 0 means 35 minutes. Before login the
	// front's Limits apply.
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

	recent recentTable // \Recent for IMAP4rev1 clients
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
		// APPENDLIMIT is a 32-bit number (RFC 7889 4).
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
	s.recent.init()
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

// handle runs one admitted connection and returns when it has closed (the
// front holds the slot until then).
func (s *Server) handle(fc *front.Conn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		io.WriteString(fc, "* BYE Server shutting down\r\n")
		fc.Close()
		return
	}
	s.sessions.Add(1)
	s.mu.Unlock()
	defer s.sessions.Done()
	c := newConn(s, fc)
	defer c.close()
	if fc.ImplicitTLS() {
		tc := tls.Server(fc, s.opts.TLSConfig)
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.HandshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			c.log.Debug("imap TLS handshake failed", "err", err)
			return
		}
		c.setTransport(tc, true)
	}
	c.serve()
}

// strike counts a command that is not IMAP, before login, against the
// client's address (authguard.Guard.Strike); it reports whether the
// address struck out and is now refused for banTime.
func (s *Server) strike(c *conn) bool {
	if s.guard.Strike(c.remote) {
		s.front.Ban(c.fc.IP(), banTime)
		return true
	}
	return false
}

// Shutdown drains the server: it stops accepting, says BYE to every client
// not in the middle of a command and to the others as soon as their command
// ends, and waits for them to go. If ctx ends first, the remaining
// connections are closed and ctx's error returned. Either way no session
// touches the store once Shutdown returns.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop()
	s.front.Drain() // idle reads time out: the session says BYE
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

func remoteIP(a net.Addr) string { return lan.Addr(a).String() }
