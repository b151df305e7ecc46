// Package smtpd is Postroom's SMTP server in its two roles:
//
//   - MX (port 25): accepts mail for the box's own domains from anyone on
//     the Internet and delivers it into storage, after the inbound checks
//     (SPF, DKIM, DMARC through a Checker) when configured. It is never a
//     relay (RFC 5321 3.6.1, RFC 2505): mail for any other domain is
//     refused at RCPT.
//   - submission (port 587 with STARTTLS, 465 with implicit TLS; RFC
//     6409, RFC 8314): the box's own users log in (AUTH PLAIN/LOGIN,
//     through the shared authguard.Guard) and send as their own addresses;
//     local recipients are delivered directly, remote ones handed to the
//     Outbound queue.
//
// The map:
//
//	server.go      Options, Submission, Outbound, Checker, New, Serve,
//	               Shutdown, Close over the connection front
//	               (internal/front: limits, refusal, draining); implicit
//	               TLS, per-read timeouts
//	session.go     the go-smtp Backend and Session: MAIL, RCPT, DATA/BDAT,
//	               and the one place storage errors become SMTP replies
//	submission.go  AUTH, sender ownership (MAIL FROM, From:, Sender:),
//	               remote recipients, Date/Message-ID, local + queue fan-out
//	login.go       the LOGIN SASL mechanism (go-sasl has PLAIN only)
//	ratelimit.go   per-account sending rate (token bucket)
//	inbound.go     MX with checks: verify, strip forged results, Junk
//	address.go     recipient normalisation and the relay tricks we refuse
//	received.go    the Return-Path and Received trace fields (RFC 5321 4.4)
//
// github.com/emersion/go-smtp does the wire protocol: EHLO and the
// capabilities, STARTTLS, PIPELINING, un-dot-stuffing DATA, CHUNKING/BDAT,
// SIZE, the recipient limit and the SASL exchange. This package decides who
// we accept mail from and for, and turns every outcome into a reply that
// tells the client whether to retry: temporary faults of ours are 4xx,
// never a permanent 5xx.
//
// 8-bit content: bodies with 8-bit octets are accepted with or without
// BODY=8BITMIME (RFC 6152 asks clients to declare it; many do not), and
// header fields with raw UTF-8 or Latin-1 are accepted without SMTPUTF8 and
// stored as they came. RFC 6531 3.4 requires SMTPUTF8 for non-ASCII
// addresses in the envelope, which we enforce (553 5.6.7); for the message
// header it describes what a conforming client sends, and refusing mail
// that old clients send every day would lose it. The queue, not this
// package, decides how to relay such a message onwards.
package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"postroom/appliance/authguard"
	"postroom/appliance/mailauth"
	"postroom/internal/defaults"
	"postroom/internal/front"
)

// Options configures New. Every zero value is documented and replaced by the
// matching field of DefaultOptions, except Store, which is required.
type Options struct {
	// Hostname is our name in the 220 greeting and in Received fields. It
	// should be the name the domain's MX record points at. "" means
	// os.Hostname(), or "localhost" if that fails.
	Hostname string

	// Store receives the mail. Required. *storage.Store satisfies it.
	Store Store

	// Logger receives one line per delivery and per refusal. nil means
	// slog.Default().
	Logger *slog.Logger

	// TLSConfig enables STARTTLS (RFC 3207) when set. nil offers no TLS.
	TLSConfig *tls.Config

	// MaxMessageBytes is the largest message accepted, advertised as SIZE
	// (RFC 1870). 0 means 50 MiB.
	MaxMessageBytes int64

	// MaxRecipients bounds RCPT commands per transaction; the next one is
	// answered 452 4.5.3, which RFC 5321 4.5.3.1.10 says the client must
	// treat as "send the rest in another transaction". RFC 5321 4.5.3.1.8
	// requires at least 100. 0 means 100.
	MaxRecipients int

	// ReadTimeout is how long the server waits for the next bytes from the
	// client, applied afresh to every read: while awaiting a command and
	// during DATA/BDAT alike. RFC 5321 4.5.3.2.7 asks for at least 5 minutes
	// while awaiting a command. Because it is renewed on every read, a slow
	// but live client can send a 50 MiB message without a total deadline.
	// 0 means 5 minutes.
	ReadTimeout time.Duration

	// WriteTimeout bounds writing one reply. Replies are a few hundred
	// bytes; a client whose TCP window stays shut for this long is gone.
	// 0 means 1 minute.
	WriteTimeout time.Duration

	// MaxLineLength bounds a command line, and a line of message text in
	// DATA (go-smtp applies one limit to both). RFC 5321 4.5.3.1.4 and
	// 4.5.3.1.6 set 512 and 1000 octets as the least a server must take;
	// real mail exceeds 1000 often enough that an MX should be liberal.
	// 0 means 8192, and values under 4608 break CHUNKING: go-smtp counts
	// the chunk bytes its 4 KiB read buffer takes in with a BDAT command as
	// part of a line, and carries that count over to the next command, so
	// a lower limit refuses valid BDAT transfers with "500 5.4.0".
	MaxLineLength int

	// MaxConnections bounds concurrent connections. Further connections
	// are answered "421 4.7.0" at once and closed (RFC 5321 3.1 allows a
	// 421 greeting). 0 means 100.
	MaxConnections int

	// MaxConnectionsPerIP bounds concurrent connections from one client
	// address (one /64 for IPv6, which a single host may fill), so that
	// one client cannot take every slot of MaxConnections. Further
	// connections get the same 421 4.7.0. 0 means 20.
	MaxConnectionsPerIP int

	// Limits are the connection front's other limits: per IPv4 /24, the
	// slots kept for clients that logged in before (submission only: the
	// MX has no logins), and the short idle limits for connections that
	// have not logged in or, on the MX, not yet sent MAIL. Zero values:
	// front's defaults.
	Limits front.Limits

	// MaxMessagesPerConnection bounds the transactions (MAIL commands
	// accepted) on one connection; the next MAIL is answered "421 4.7.0"
	// and the connection closed, so a spammer must reconnect and meet the
	// connection limits again. 0 means 100.
	MaxMessagesPerConnection int

	// Debug, when set, receives a trace of the wire protocol, message
	// content included. Off by default (STYLE convention 10); never set it
	// in production.
	Debug io.Writer

	// ImplicitTLS makes every connection TLS from the first byte (port
	// 465, RFC 8314 3.3). Requires TLSConfig.
	ImplicitTLS bool

	// Checker verifies inbound mail (SPF, DKIM, DMARC) before it is
	// stored; nil stores it unchecked, streaming. Role MX only.
	Checker Checker

	// Submission, when set, makes this the submission role (port 587/465):
	// clients must log in, may send only as their own addresses, and may
	// send to remote recipients. nil is the MX role.
	Submission *Submission
}

// Submission configures the submission role (RFC 6409).
type Submission struct {
	// Accounts checks logins. Required. *storage.Store is one.
	Accounts authguard.Authenticator

	// Guard delays and locks out failed logins; one Guard should be
	// shared by every protocol. nil means a Guard of this server only.
	Guard *authguard.Guard

	// AllowPlaintextLAN lets clients on loopback and private addresses
	// log in without TLS (authguard.PlaintextAllowed). Off: AUTH is
	// offered only under TLS (RFC 8314 3, RFC 4954 4).
	AllowPlaintextLAN bool

	// Outbound takes mail for remote recipients. nil: remote recipients
	// are refused with 451 4.3.0 (see errNoOutbound).
	Outbound Outbound

	// SentCopy files a copy of every submitted message into the sender's
	// Sent mailbox, marked \Seen. Off by default: mail programs save
	// their own copy over IMAP, and a second one would be a duplicate.
	SentCopy bool

	// Limiter bounds each account's sending rate; nil is no limit.
	Limiter *RateLimiter
}

// Checker verifies an inbound message. *mailauth.Verifier is one.
type Checker interface {
	Verify(ctx context.Context, in mailauth.Input, msg io.Reader) (mailauth.Verdict, error)
}

// DefaultOptions holds the value used for each zero field of Options.
var DefaultOptions = Options{
	MaxMessageBytes: 50 << 20,
	MaxRecipients:   100,
	ReadTimeout:     5 * time.Minute,
	WriteTimeout:    1 * time.Minute,
	MaxLineLength:   8192,
	MaxConnections:  100,

	MaxConnectionsPerIP:      20,
	MaxMessagesPerConnection: 100,
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("smtpd: server closed")

// Server is the inbound SMTP server. Create it with New, run Serve on one or
// more listeners, and stop it with Shutdown (drain) or Close (now).
type Server struct {
	opts Options
	log  *slog.Logger
	smtp *smtp.Server

	// ctx is handed to storage.Deliver; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	// draining is set by Shutdown: new transactions are refused, running
	// ones finish; the front ends idle connections.
	draining atomic.Bool

	// deliveries counts running Data calls. For BDAT go-smtp runs Data in
	// a goroutine of its own that may outlive the connection, so go-smtp's
	// own Shutdown does not wait for it; we do, so that the caller may
	// close storage when Shutdown returns.
	deliveries sync.WaitGroup

	// guard limits logins (submission only).
	guard *authguard.Guard

	// front owns the listeners and connections: admission, refusal,
	// pre-login idle limits, draining.
	front *front.Front
}

// New checks opts, fills its zero fields from DefaultOptions and returns a
// server ready to Serve.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("smtpd: Options.Store is required")
	}
	if opts.Hostname == "" {
		h, err := os.Hostname()
		if err != nil || !isHeloDomain(h) {
			h = "localhost"
		}
		opts.Hostname = h
	}
	if !isHeloDomain(opts.Hostname) || strings.HasPrefix(opts.Hostname, "[") {
		return nil, fmt.Errorf("smtpd: Options.Hostname %q is not a domain name", opts.Hostname)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxMessageBytes < 0 || opts.MaxRecipients < 0 || opts.ReadTimeout < 0 ||
		opts.WriteTimeout < 0 || opts.MaxLineLength < 0 || opts.MaxConnections < 0 ||
		opts.MaxConnectionsPerIP < 0 || opts.MaxMessagesPerConnection < 0 {
		return nil, errors.New("smtpd: negative limit in Options")
	}
	if opts.MaxMessageBytes > 1<<32-1 {
		// go-smtp parses SIZE= as a 32-bit number.
		return nil, errors.New("smtpd: Options.MaxMessageBytes must fit in 32 bits")
	}
	d := DefaultOptions
	defaults.Set(&opts.MaxMessageBytes, d.MaxMessageBytes)
	defaults.Set(&opts.MaxRecipients, d.MaxRecipients)
	defaults.Set(&opts.ReadTimeout, d.ReadTimeout)
	defaults.Set(&opts.WriteTimeout, d.WriteTimeout)
	defaults.Set(&opts.MaxLineLength, d.MaxLineLength)
	defaults.Set(&opts.MaxConnections, d.MaxConnections)
	defaults.Set(&opts.MaxConnectionsPerIP, d.MaxConnectionsPerIP)
	defaults.Set(&opts.MaxMessagesPerConnection, d.MaxMessagesPerConnection)
	if opts.ImplicitTLS && opts.TLSConfig == nil {
		return nil, errors.New("smtpd: Options.ImplicitTLS needs a TLSConfig")
	}
	role := "smtp-mx"
	if sub := opts.Submission; sub != nil {
		if sub.Accounts == nil {
			return nil, errors.New("smtpd: Options.Submission.Accounts is required")
		}
		if opts.Checker != nil {
			return nil, errors.New("smtpd: Options.Checker is for the MX role")
		}
		role = "smtp-submission"
	}

	s := &Server{
		opts: opts,
		log:  opts.Logger.With("service", role),
	}
	s.guard = authguard.New(authguard.Options{Logger: opts.Logger})
	fo := front.Options{
		Name: role, Logger: s.log,
		MaxConns: opts.MaxConnections, MaxPerAddr: opts.MaxConnectionsPerIP, Limits: opts.Limits,
		TLSConfig: opts.TLSConfig,
		// RFC 5321 3.1 allows a 421 greeting.
		Refusal: func(reason string) string {
			return "421 4.7.0 " + opts.Hostname + " " + reason + ", try again later"
		},
		ErrClosed: ErrServerClosed,
	}
	if sub := opts.Submission; sub != nil {
		if sub.Guard != nil {
			s.guard = sub.Guard
		}
		fo.Known = s.guard.Known
	}
	f, err := front.New(fo)
	if err != nil {
		return nil, fmt.Errorf("smtpd: %w", err)
	}
	s.front = f
	s.ctx, s.cancel = context.WithCancel(context.Background())

	srv := smtp.NewServer(&backend{srv: s})
	srv.Domain = opts.Hostname
	srv.TLSConfig = opts.TLSConfig
	srv.MaxMessageBytes = opts.MaxMessageBytes
	srv.MaxRecipients = opts.MaxRecipients
	srv.MaxLineLength = opts.MaxLineLength
	srv.WriteTimeout = opts.WriteTimeout
	// ReadTimeout stays 0 in go-smtp: it would set one deadline per command
	// and none per read of DATA, so a large message on a slow line would
	// time out mid-transfer. trackedConn renews the deadline on every read.
	srv.ReadTimeout = 0
	srv.EnableSMTPUTF8 = true
	// The session decides per connection whether AUTH is offered
	// (authguard.PlaintextAllowed); go-smtp's switch is all or nothing.
	srv.AllowInsecureAuth = true
	srv.Debug = opts.Debug
	srv.ErrorLog = errorLog{s.log}
	s.smtp = srv
	return s, nil
}

// Serve accepts connections on l until Shutdown or Close, then returns
// ErrServerClosed. It may run on several listeners at once; they share
// MaxConnections. Serve closes l when it returns.
func (s *Server) Serve(l net.Listener) error {
	fl, err := s.front.Listen(l, s.opts.ImplicitTLS)
	if err != nil {
		return err
	}
	err = s.smtp.Serve(&listener{Listener: fl, srv: s})
	fl.Close()
	if s.front.Closed() {
		return ErrServerClosed
	}
	return err
}

// Addr returns the address of the first listener, for tests and logs.
func (s *Server) Addr() net.Addr { return s.front.Addr() }

// Shutdown drains the server: it stops accepting connections, ends idle
// ones with "421 4.4.2", refuses new transactions, and waits for running
// transactions to finish. If ctx ends first, the remaining connections are
// closed as by Close and ctx.Err() is returned. Either way, when Shutdown
// returns no Deliver call is running, so the caller may close storage.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.front.Drain()
	err := s.smtp.Shutdown(ctx)
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil // Close or Shutdown ran before: carry on waiting
	}
	if ctx.Err() != nil {
		s.forceClose()
		err = ctx.Err()
	} else if werr := s.front.Wait(ctx); werr != nil {
		// go-smtp's handlers are done; connections it never saw and BDAT
		// deliveries may still run.
		s.forceClose()
		err = werr
	}
	s.deliveries.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// Close closes every listener and connection at once, cancels running
// deliveries (the client gets no 250, so it will retry) and waits for them
// to return.
func (s *Server) Close() error {
	s.front.Stop()
	s.smtp.Close()
	s.forceClose()
	s.deliveries.Wait()
	return nil
}

func (s *Server) forceClose() {
	s.cancel()
	s.front.CloseAll()
}

// EndSessions ends the submission sessions logged in as account ("log out
// everywhere"): an idle one at once, one inside a transaction after it; go-smtp
// says 421 4.4.2 and hangs up. It returns how many it ended.
func (s *Server) EndSessions(account string) int { return s.front.EndSessions(account) }

// open returns the number of connections open now.
func (s *Server) open() int { return s.front.Open() }

// listener wraps each admitted connection so the server can renew its
// read deadline and hang up after a 421 of its own.
type listener struct {
	*front.Listener
	srv *Server
}

func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	fc := nc.(*front.Conn)
	c := &trackedConn{Conn: fc, fc: fc, srv: l.srv}
	if l.srv.opts.ImplicitTLS {
		// go-smtp sees a *tls.Conn and handshakes before the greeting;
		// reads go through c and its renewed deadline.
		return tls.Server(c, l.srv.opts.TLSConfig), nil
	}
	return c, nil
}

// trackedConn is one client connection over its front.Conn, which holds
// the slot, caps deadlines before login (or before MAIL on the MX) and
// fails the reads of an idle connection while the server drains. It
// renews the read deadline on every read (see Options.ReadTimeout).
// STARTTLS wraps it in a *tls.Conn, which reads through it.
type trackedConn struct {
	net.Conn             // fc
	fc       *front.Conn // busy between MAIL and the end of the transaction
	srv      *Server
	// messages counts transactions for MaxMessagesPerConnection; only the
	// connection's goroutine touches it.
	messages int
	// hangup makes the next read end the connection, after a 421 reply.
	hangup atomic.Bool
}

func (c *trackedConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.srv.opts.ReadTimeout))
	if c.hangup.Load() {
		// go-smtp closes quietly on EOF; the 421 is already written.
		return 0, io.EOF
	}
	return c.Conn.Read(p)
}

// SetReadDeadline is a no-op: Read owns the read deadline. go-smtp sets one
// only for implicit TLS, before the handshake, whose reads Read bounds too.
func (c *trackedConn) SetReadDeadline(time.Time) error { return nil }

func (c *trackedConn) SetDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(t) }

// netConnOf finds our trackedConn below a go-smtp connection, which after
// STARTTLS is a *tls.Conn around it.
func netConnOf(nc net.Conn) *trackedConn {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, _ := nc.(*trackedConn)
	return c
}

// errorLog adapts go-smtp's Logger. go-smtp reports connection failures
// (resets, TLS handshake errors) and recovered panics through it.
type errorLog struct{ l *slog.Logger }

func (e errorLog) Printf(format string, v ...any) { e.log(fmt.Sprintf(format, v...)) }
func (e errorLog) Println(v ...any)               { e.log(strings.TrimSuffix(fmt.Sprintln(v...), "\n")) }

func (e errorLog) log(msg string) {
	if strings.Contains(msg, "panic") {
		e.l.Error("smtp internal error", "detail", msg)
		return
	}
	e.l.Info("smtp connection error", "detail", msg)
}
