// Package smtpd is Postroom's inbound SMTP server, the MX role: it accepts
// mail for the box's own domains from anyone on the Internet and delivers it
// into storage. It is never a relay (RFC 5321 3.6.1, RFC 2505): mail for any
// other domain is refused at RCPT.
//
// The map:
//
//	server.go    Options, New, Serve, Shutdown, Close; connection limit,
//	             per-read timeouts and draining (limitListener, trackedConn)
//	session.go   the go-smtp Backend and Session: MAIL, RCPT, DATA/BDAT,
//	             and the one place storage errors become SMTP replies
//	address.go   recipient normalisation and the relay tricks we refuse
//	received.go  the Return-Path and Received trace fields (RFC 5321 4.4)
//
// github.com/emersion/go-smtp does the wire protocol: EHLO and the
// capabilities, STARTTLS, PIPELINING, un-dot-stuffing DATA, CHUNKING/BDAT,
// SIZE and the recipient limit. This package decides who we accept mail for
// and turns every outcome into a reply that tells the client whether to
// retry: temporary faults of ours are 4xx, never a permanent 5xx.
//
// Submission (port 587/465 with AUTH) is a separate role, not built here.
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

	// Debug, when set, receives a trace of the wire protocol, message
	// content included. Off by default (STYLE convention 10); never set it
	// in production.
	Debug io.Writer
}

// DefaultOptions holds the value used for each zero field of Options.
var DefaultOptions = Options{
	MaxMessageBytes: 50 << 20,
	MaxRecipients:   100,
	ReadTimeout:     5 * time.Minute,
	WriteTimeout:    1 * time.Minute,
	MaxLineLength:   8192,
	MaxConnections:  100,
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

	// draining is set by Shutdown: idle connections are ended at once and
	// new transactions refused, running ones finish.
	draining atomic.Bool

	// deliveries counts running Data calls. For BDAT go-smtp runs Data in
	// a goroutine of its own that may outlive the connection, so go-smtp's
	// own Shutdown does not wait for it; we do, so that the caller may
	// close storage when Shutdown returns.
	deliveries sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	listeners []net.Listener
	conns     map[*trackedConn]struct{}
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
		opts.WriteTimeout < 0 || opts.MaxLineLength < 0 || opts.MaxConnections < 0 {
		return nil, errors.New("smtpd: negative limit in Options")
	}
	if opts.MaxMessageBytes > 1<<32-1 {
		// go-smtp parses SIZE= as a 32-bit number.
		return nil, errors.New("smtpd: Options.MaxMessageBytes must fit in 32 bits")
	}
	d := DefaultOptions
	setDefault(&opts.MaxMessageBytes, d.MaxMessageBytes)
	setDefault(&opts.MaxRecipients, d.MaxRecipients)
	setDefault(&opts.ReadTimeout, d.ReadTimeout)
	setDefault(&opts.WriteTimeout, d.WriteTimeout)
	setDefault(&opts.MaxLineLength, d.MaxLineLength)
	setDefault(&opts.MaxConnections, d.MaxConnections)

	s := &Server{
		opts:  opts,
		log:   opts.Logger.With("service", "smtp-mx"),
		conns: make(map[*trackedConn]struct{}),
	}
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
	srv.AllowInsecureAuth = false
	srv.Debug = opts.Debug
	srv.ErrorLog = errorLog{s.log}
	s.smtp = srv
	return s, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Serve accepts connections on l until Shutdown or Close, then returns
// ErrServerClosed. It may run on several listeners at once; they share
// MaxConnections. Serve closes l when it returns.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()

	err := s.smtp.Serve(&limitListener{Listener: l, srv: s})
	l.Close()
	if s.isClosed() {
		return ErrServerClosed
	}
	return err
}

// Addr returns the address of the first listener, for tests and logs.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.listeners) == 0 {
		return nil
	}
	return s.listeners[0].Addr()
}

// Shutdown drains the server: it stops accepting connections, ends idle
// ones with "421 4.4.2", refuses new transactions, and waits for running
// transactions to finish. If ctx ends first, the remaining connections are
// closed as by Close and ctx.Err() is returned. Either way, when Shutdown
// returns no Deliver call is running, so the caller may close storage.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop(true)
	err := s.smtp.Shutdown(ctx)
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil // Close or Shutdown ran before: carry on waiting
	}
	if ctx.Err() != nil {
		s.forceClose()
		err = ctx.Err()
	} else {
		// go-smtp's handlers are done; connections it never saw (refused
		// at accept) and BDAT deliveries may still run.
		if werr := s.waitConns(ctx); werr != nil {
			s.forceClose()
			err = werr
		}
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
	s.stop(false)
	s.smtp.Close()
	s.forceClose()
	s.deliveries.Wait()
	return nil
}

// stop marks the server closed, closes the listeners and, when draining,
// wakes every idle connection so its pending read fails at once.
func (s *Server) stop(drain bool) {
	if drain {
		s.draining.Store(true)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, l := range s.listeners {
		l.Close()
	}
	if drain {
		for c := range s.conns {
			if !c.busy.Load() {
				// A deadline in the past makes the pending Read return a
				// timeout; go-smtp answers "421 4.4.2" and hangs up.
				c.Conn.SetReadDeadline(time.Unix(1, 0))
			}
		}
	}
}

func (s *Server) forceClose() {
	s.cancel()
	s.mu.Lock()
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// waitConns waits until every tracked connection has closed.
func (s *Server) waitConns(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// admit registers a new connection, or reports false when MaxConnections
// are open already.
func (s *Server) admit(nc net.Conn) (*trackedConn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) >= s.opts.MaxConnections {
		return nil, false
	}
	c := &trackedConn{Conn: nc, srv: s}
	s.conns[c] = struct{}{}
	return c, true
}

func (s *Server) forget(c *trackedConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// refuse answers a connection over the limit and closes it, without letting
// a slow peer hold the accept loop.
func (s *Server) refuse(nc net.Conn) {
	s.log.Info("smtp refused", "remote", remoteIP(nc.RemoteAddr()), "code", 421,
		"reason", "too many connections", "max", s.opts.MaxConnections)
	nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, "421 4.7.0 "+s.opts.Hostname+" too many connections, try again later\r\n")
	nc.Close()
}

// limitListener enforces MaxConnections and wraps each connection so the
// server can track it.
type limitListener struct {
	net.Listener
	srv *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c, ok := l.srv.admit(nc); ok {
			return c, nil
		}
		go l.srv.refuse(nc)
	}
}

// trackedConn is one client connection. It renews the read deadline on
// every read (see Options.ReadTimeout), fails reads of an idle connection
// while the server drains, and counts itself out of MaxConnections when
// closed. STARTTLS wraps it in a *tls.Conn, which reads through it.
type trackedConn struct {
	net.Conn
	srv *Server
	// busy is true between MAIL and the end of the transaction; Shutdown
	// lets busy connections finish.
	busy      atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

func (c *trackedConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.srv.opts.ReadTimeout))
	// Checked after setting the deadline: either stop's past deadline is
	// set after ours and wakes the Read below, or we see draining here.
	if c.srv.draining.Load() && !c.busy.Load() {
		return 0, errDraining{}
	}
	return c.Conn.Read(p)
}

// SetReadDeadline is a no-op: Read owns the read deadline. go-smtp sets one
// only for implicit TLS, which the MX role does not use.
func (c *trackedConn) SetReadDeadline(time.Time) error { return nil }

func (c *trackedConn) SetDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(t) }

func (c *trackedConn) Close() error {
	c.closeOnce.Do(func() {
		// Free the slot first: once the peer sees the close, a new
		// connection must be admitted.
		c.srv.forget(c)
		c.closeErr = c.Conn.Close()
	})
	return c.closeErr
}

// errDraining is a timeout, so that go-smtp answers "421 4.4.2" and closes
// the connection quietly.
type errDraining struct{}

func (errDraining) Error() string   { return "smtpd: server shutting down" }
func (errDraining) Timeout() bool   { return true }
func (errDraining) Temporary() bool { return true }

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
