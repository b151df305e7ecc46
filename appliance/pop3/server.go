// Package pop3 is Postroom's own POP3 server (RFC 1939) with the extensions
// mail programs expect: CAPA and response codes (RFC 2449), STLS (RFC 2595),
// implicit TLS on port 995 (RFC 8314) and AUTH PLAIN (RFC 5034, RFC 4616).
// No Go library for the server side is worth using, so the wire protocol
// and the state machine are ours.
//
// The map:
//
//	server.go     Options, New, Serve (port 110, STLS), ServeTLS (port 995),
//	              Shutdown (drain), Close over the connection front
//	              (internal/front: limits, refusal, draining); the
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
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"postroom/appliance/authguard"
	"postroom/internal/defaults"
	"postroom/internal/front"
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
	// address (an IPv6 /64), so that one client cannot take every slot.
	// 0 means 20.
	MaxConnectionsPerIP int

	// Limits are the connection front's other limits: per IPv4 /24, the
	// slots kept for clients that logged in before (as Guard knows), and
	// the short idle limits before login. Zero values: front's defaults.
	Limits front.Limits

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

	// front owns the listeners and connections: admission, refusal,
	// pre-login idle limits, draining.
	front *front.Front

	mu sync.Mutex
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
	if opts.MaxConnections < 0 || opts.MaxConnectionsPerIP < 0 || opts.IdleTimeout < 0 || opts.WriteTimeout < 0 || opts.RetentionInterval < 0 {
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
		inUse: make(map[storage.AccountID]struct{}),
	}
	if s.guard == nil {
		s.guard = authguard.New(authguard.Options{Logger: opts.Logger})
	}
	f, err := front.New(front.Options{
		Name: "pop3", Logger: s.log,
		MaxConns: opts.MaxConnections, MaxPerAddr: opts.MaxConnectionsPerIP, Limits: opts.Limits,
		Known:     s.guard.Known,
		TLSConfig: opts.TLSConfig,
		// RFC 1939 allows -ERR in place of the greeting; RFC 2449
		// section 8.1 [SYS/TEMP] says "later".
		Refusal:   func(reason string) string { return "-ERR [SYS/TEMP] " + reason + ", try again later" },
		ErrClosed: ErrServerClosed,
	})
	if err != nil {
		return nil, fmt.Errorf("pop3: %w", err)
	}
	s.front = f
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Serve accepts plain connections on l (port 110) that may upgrade with STLS,
// until Shutdown or Close; then it returns ErrServerClosed. It closes l.
func (s *Server) Serve(l net.Listener) error { return s.front.Serve(l, false, s.run) }

// ServeTLS accepts connections on l that speak TLS from the first byte
// (port 995, RFC 8314 section 3.3). Options.TLSConfig is required.
func (s *Server) ServeTLS(l net.Listener) error { return s.front.Serve(l, true, s.run) }

// run is one connection's session, from greeting to hang-up.
// EndSessions ends the sessions logged in as account ("log out
// everywhere"): each says -ERR [AUTH] and hangs up without deleting
// anything. It returns how many it ended.
func (s *Server) EndSessions(account string) int { return s.front.EndSessions(account) }

func (s *Server) run(c *front.Conn) {
	newSession(s, c).run()
	s.mu.Lock()
	hook := s.sessionEnded
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
}

// Shutdown drains the server: listeners close, sessions waiting for a
// command are told "-ERR [SYS/TEMP]" and closed (deleting nothing, as RFC
// 1939 section 6 asks for sessions not ended by QUIT), and a command that
// is running (a RETR, a QUIT's expunge) finishes first. If ctx ends first,
// every connection is closed as by Close and ctx's error returned. Either
// way no session touches the store after Shutdown returns.
func (s *Server) Shutdown(ctx context.Context) error {
	s.front.Drain()
	if err := s.front.Wait(ctx); err != nil {
		s.Close()
		return err
	}
	s.cancel()
	return nil
}

// Close closes every listener and connection at once and waits for the
// sessions to end. Nothing marked with DELE is deleted.
func (s *Server) Close() error {
	s.front.Stop()
	s.cancel()
	s.front.CloseAll()
	return s.front.Wait(context.Background())
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
