// Package pop3 is Postroom's own POP3 server (RFC 1939) with the extensions
// mail programs expect: CAPA and response codes (RFC 2449), STLS (RFC 2595),
// implicit TLS on port 995 (RFC 8314) and AUTH PLAIN (RFC 5034, RFC 4616).
// No Go library for the server side is worth using, so the wire protocol
// and the state machine are ours.
//
// The map:
//
//	server.go     Options, New, Serve (port 110, STLS), ServeTLS (port 995),
//	              Shutdown (drain), Close; the connection limit and the
//	              per-account lock behind -ERR [IN-USE]
//	maildrop.go   Maildrop, the storage this package consumes (*storage.Store
//	              is one), and the snapshot of INBOX taken at login
//	session.go    one connection: the AUTHORIZATION / TRANSACTION / UPDATE
//	              state machine and every command handler
//	wire.go       reading command lines with limits (overlong lines, NUL),
//	              parsing commands and arguments, writing replies, and
//	              streaming RETR and TOP through dotWriter (textproto's
//	              DotWriter, byte for byte, made fast)
//	auth.go       USER/PASS and AUTH PLAIN, through authguard.Guard
//	retention.go  the background job that deletes INBOX messages N days
//	              after their first POP3 download (per-account setting)
//
// The maildrop is INBOX. A session takes a snapshot of it at login, numbers
// the messages 1..n, and pins their bodies so that a message IMAP expunges
// meanwhile can still be retrieved. DELE only marks; the marked messages are
// expunged at QUIT (the UPDATE state, RFC 1939 section 6), so a dropped
// connection deletes nothing. The expunge goes through storage, which tells
// IMAP sessions (EXPUNGE) and skips messages IMAP expunged already.
//
// APOP (RFC 1939 section 7) is not offered: it needs the server to know the
// plaintext password (the digest is MD5 over the banner and the password),
// and the store keeps only password hashes. SASL PLAIN under TLS is the
// supported way to log in.
package pop3

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"postroom/appliance/authguard"
	"postroom/internal/acceptloop"
	"postroom/internal/defaults"
	"postroom/internal/lan"
	"postroom/storage"
)

// Options configures New. Every zero value is documented; Store is required.
type Options struct {
	// Hostname is named in the greeting. "" means os.Hostname().
	Hostname string

	// Store is the mail store. Required; *storage.Store satisfies it.
	Store Maildrop

	// Logger receives one line per login, QUIT and refusal. nil means
	// slog.Default(). Passwords are never logged.
	Logger *slog.Logger

	// TLSConfig enables STLS on Serve and is required by ServeTLS. nil
	// offers no TLS, and then logins work only under AllowPlaintextLAN
	// from the local network.
	TLSConfig *tls.Config

	// Guard delays and locks out failed logins; share one between every
	// protocol. nil means a private Guard with its defaults.
	Guard *authguard.Guard

	// AllowPlaintextLAN allows USER/PASS and AUTH PLAIN without TLS from
	// loopback and private addresses (authguard.PlaintextAllowed).
	AllowPlaintextLAN bool

	// MaxConnections bounds concurrent connections over every listener;
	// further ones get "-ERR [SYS/TEMP]" and are closed. 0 means 100.
	MaxConnections int

	// MaxConnectionsPerIP bounds concurrent connections from one client
	// address, so that one client cannot take every slot. 0 means 20.
	MaxConnectionsPerIP int

	// IdleTimeout is how long a session may wait for the next command.
	// RFC 1939 section 3 asks for an autologout timer of at least 10
	// minutes. 0 means 10 minutes.
	IdleTimeout time.Duration

	// WriteTimeout bounds every single write to the client. A client that
	// stops reading in the middle of a RETR is dropped after this long.
	// 0 means 1 minute.
	WriteTimeout time.Duration

	// RetentionInterval is how often RunRetention runs. 0 means 1 hour.
	RetentionInterval time.Duration

	// Now is the clock, for tests of the retention policy. nil: time.Now.
	Now func() time.Time
}

// DefaultOptions holds the value used for each zero field of Options.
var DefaultOptions = Options{
	MaxConnections:      100,
	MaxConnectionsPerIP: 20,
	IdleTimeout:         10 * time.Minute,
	WriteTimeout:        time.Minute,
	RetentionInterval:   time.Hour,
}

// minIdleTimeout is RFC 1939's least autologout timer; tests lower it.
var minIdleTimeout = 10 * time.Minute

// ErrServerClosed is returned by Serve and ServeTLS after Shutdown or Close.
var ErrServerClosed = errors.New("pop3: server closed")

// Server is the POP3 server. Create it with New, run Serve and/or ServeTLS,
// stop it with Shutdown (drain) or Close (now).
type Server struct {
	opts  Options
	log   *slog.Logger
	guard *authguard.Guard

	// ctx ends when the server closes; it bounds login delays.
	ctx    context.Context
	cancel context.CancelFunc

	draining atomic.Bool
	sessions sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	listeners []net.Listener
	conns     map[*session]struct{}
	perIP     map[netip.Addr]int
	// inUse holds the accounts with a session in TRANSACTION state (or a
	// retention run): RFC 1939 section 8 asks for an exclusive lock on the
	// maildrop, and RFC 2449 section 8.1.2 names the refusal [IN-USE].
	inUse map[storage.AccountID]struct{}

	// sessionEnded, if set (tests), is called after each session ended and
	// released its lock.
	sessionEnded func()
}

// New checks opts and fills its zero fields from DefaultOptions.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("pop3: Options.Store is required")
	}
	if opts.MaxConnections < 0 || opts.IdleTimeout < 0 || opts.WriteTimeout < 0 || opts.RetentionInterval < 0 {
		return nil, errors.New("pop3: negative limit in Options")
	}
	if opts.IdleTimeout != 0 && opts.IdleTimeout < minIdleTimeout {
		// RFC 1939 section 3: "MUST be at least 10 minutes".
		return nil, fmt.Errorf("pop3: Options.IdleTimeout %v is below the 10 minutes RFC 1939 requires", opts.IdleTimeout)
	}
	if opts.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			h = "localhost"
		}
		opts.Hostname = h
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	d := DefaultOptions
	defaults.Set(&opts.MaxConnections, d.MaxConnections)
	defaults.Set(&opts.MaxConnectionsPerIP, d.MaxConnectionsPerIP)
	defaults.Set(&opts.IdleTimeout, d.IdleTimeout)
	defaults.Set(&opts.WriteTimeout, d.WriteTimeout)
	defaults.Set(&opts.RetentionInterval, d.RetentionInterval)
	s := &Server{
		opts:  opts,
		log:   opts.Logger.With("service", "pop3"),
		guard: opts.Guard,
		conns: make(map[*session]struct{}),
		perIP: make(map[netip.Addr]int),
		inUse: make(map[storage.AccountID]struct{}),
	}
	if s.guard == nil {
		s.guard = authguard.New(authguard.Options{Logger: opts.Logger})
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Serve accepts plain connections on l (port 110) that may upgrade with STLS,
// until Shutdown or Close; then it returns ErrServerClosed. It closes l.
func (s *Server) Serve(l net.Listener) error { return s.serve(l, false) }

// ServeTLS accepts connections on l that speak TLS from the first byte
// (port 995, RFC 8314 section 3.3). Options.TLSConfig is required.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.opts.TLSConfig == nil {
		l.Close()
		return errors.New("pop3: ServeTLS needs Options.TLSConfig")
	}
	return s.serve(l, true)
}

func (s *Server) serve(l net.Listener, implicitTLS bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	defer l.Close()

	return acceptloop.Run(l, "pop3", s.log, s.isClosed, ErrServerClosed, func(nc net.Conn) {
		sess, reason := s.admit(nc)
		if sess == nil {
			go s.refuse(nc, reason)
			return
		}
		go sess.run(implicitTLS)
	})
}

// admit registers a connection, or says why not: the server is full,
// this client address has too many connections, or it is closing.
func (s *Server) admit(nc net.Conn) (*session, string) {
	ip := lan.Addr(nc.RemoteAddr())
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, "the server is shutting down"
	case len(s.conns) >= s.opts.MaxConnections:
		return nil, "too many connections"
	case s.perIP[ip] >= s.opts.MaxConnectionsPerIP:
		return nil, "too many connections from your address"
	}
	sess := newSession(s, nc)
	s.conns[sess] = struct{}{}
	s.perIP[ip]++
	s.sessions.Add(1)
	return sess, ""
}

// forget is called once by every session when it ends.
func (s *Server) forget(sess *session) {
	ip := lan.Addr(sess.remote)
	s.mu.Lock()
	delete(s.conns, sess)
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
	hook := s.sessionEnded
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	s.sessions.Done()
}

// refuse answers a connection that admit turned away. RFC 1939 allows
// -ERR in place of the greeting; RFC 2449 section 8.1 [SYS/TEMP] says
// "later".
func (s *Server) refuse(nc net.Conn, reason string) {
	s.log.Warn("pop3 refused", "remote", nc.RemoteAddr().String(), "reason", reason)
	nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, "-ERR [SYS/TEMP] "+reason+", try again later\r\n")
	nc.Close()
}

// Shutdown drains the server: listeners close, sessions waiting for a
// command are told "-ERR [SYS/TEMP]" and closed (deleting nothing, as RFC
// 1939 section 6 asks for sessions not ended by QUIT), and a command that
// is running (a RETR, a QUIT's expunge) finishes first. If ctx ends first,
// every connection is closed as by Close and ctx's error returned. Either
// way no session touches the store after Shutdown returns.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.stop()
	s.mu.Lock()
	for sess := range s.conns {
		sess.wake()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.sessions.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

// Close closes every listener and connection at once and waits for the
// sessions to end. Nothing marked with DELE is deleted.
func (s *Server) Close() error {
	s.stop()
	s.cancel()
	s.mu.Lock()
	for sess := range s.conns {
		sess.nc.Close()
	}
	s.mu.Unlock()
	s.sessions.Wait()
	return nil
}

func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, l := range s.listeners {
		l.Close()
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// lockAccount takes the account's maildrop lock; false means another POP3
// session (or a retention run) holds it.
func (s *Server) lockAccount(id storage.AccountID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, busy := s.inUse[id]; busy {
		return false
	}
	s.inUse[id] = struct{}{}
	return true
}

func (s *Server) unlockAccount(id storage.AccountID) {
	s.mu.Lock()
	delete(s.inUse, id)
	s.mu.Unlock()
}
