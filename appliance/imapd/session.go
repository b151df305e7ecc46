package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"postroom/appliance/authguard"
	"postroom/storage"
)

// session is one client's imapserver.Session. go-imap calls it from the
// connection's goroutine one command at a time (IDLE from a goroutine of
// its own while the command loop waits for DONE), so its fields need no
// lock; busy is read by Shutdown.
type session struct {
	srv *Server
	c   *conn
	ic  *imapserver.Conn
	log *slog.Logger

	acct storage.AccountID // 0 before login
	user string

	sel   *selected // nil unless a mailbox is selected
	saved []uint32  // SEARCHRES result (RFC 5182) as UIDs, ascending

	busy atomic.Int32
	// idleMu is held by Idle while it runs and by Close: go-imap may end
	// the connection and call Close while its IDLE goroutine is still
	// starting or running (imapserver/idle.go returns on a read error
	// without waiting for it).
	idleMu sync.Mutex
	closed bool
}

var (
	_ imapserver.SessionIMAP4rev2      = (*session)(nil)
	_ imapserver.SessionUnauthenticate = (*session)(nil)
	_ imapserver.SessionAppendLimit    = (*session)(nil)
)

func (s *Server) newSession(c *conn, ic *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Server shutting down"}
	}
	s.sessions.Add(1)
	s.mu.Unlock()
	sess := &session{srv: s, c: c, ic: ic, log: s.log.With("remote", remoteIP(c.remote))}
	c.ic.Store(ic)
	c.sess.Store(sess)
	return sess, nil, nil
}

// enter marks the session busy for Shutdown and corks the connection's
// writes; call the result when the command's work is done.
func (s *session) enter() func() {
	if s.busy.Add(1) == 1 {
		s.c.fc.SetBusy(true)
	}
	s.c.cork()
	return func() {
		s.c.uncork()
		if s.busy.Add(-1) == 0 {
			s.c.fc.SetBusy(false)
		}
	}
}

// Close ends the session when the connection ends.
func (s *session) Close() error {
	s.idleMu.Lock()
	s.closed = true
	s.unselect()
	s.idleMu.Unlock()
	s.srv.sessions.Done()
	return nil
}

// Login checks the password through the shared Guard (RFC 9051 6.2.3).
// go-imap has already refused it with NO [PRIVACYREQUIRED] where
// authguard.PlaintextAllowed says no; AUTHENTICATE PLAIN (RFC 4616, with
// SASL-IR) arrives here too.
func (s *session) Login(username, password string) error {
	isTLS := false
	if ic := s.ic; ic != nil {
		_, isTLS = ic.NetConn().(*tls.Conn)
	}
	a, err := s.srv.guard.Login(s.srv.ctx, s.srv.st, s.c.remote, username, password)
	switch {
	case err == nil:
	case errors.Is(err, storage.ErrAuthFailed):
		s.log.Info("imap login failed", "login", username)
		return imapserver.ErrAuthFailed
	case errors.Is(err, authguard.ErrLocked):
		s.log.Info("imap login locked", "login", username)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
			Text: "Too many failed logins, try again later"}
	case errors.Is(err, context.Canceled):
		return errShuttingDown
	default:
		return s.fail("login", err)
	}
	s.acct, s.user = a.ID, a.Name
	s.log = s.log.With("account", a.Name)
	s.c.authed.Store(true)
	s.c.fc.LoggedIn() // the front's pre-login limits end
	s.log.Info("imap login", "tls", isTLS)
	return nil
}

// Unauthenticate returns to the not-authenticated state (RFC 8437).
func (s *session) Unauthenticate() error {
	s.unselect()
	s.log.Info("imap unauthenticate")
	s.acct, s.user, s.saved = 0, "", nil
	s.log = s.srv.log.With("remote", remoteIP(s.c.remote))
	s.c.authed.Store(false)
	return nil
}

// Namespace: one personal namespace, no others (RFC 2342, RFC 9051 6.3.10).
func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: storage.Delimiter}},
	}, nil
}

// AppendLimit is advertised as APPENDLIMIT=n (RFC 7889).
func (s *session) AppendLimit() uint32 { return uint32(s.srv.opts.AppendLimit) }

var errShuttingDown = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
	Text: "Server shutting down, try again later"}

// fail is the one place storage errors become IMAP responses: a response
// code the client can act on (RFC 5530), generic text on the wire, the
// detail in the log.
func (s *session) fail(op string, err error) error {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return err
	}
	no := func(code imap.ResponseCode, text string) error {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
	}
	switch {
	case errors.Is(err, storage.ErrNoMailbox):
		return no(imap.ResponseCodeNonExistent, "No such mailbox")
	case errors.Is(err, storage.ErrMailboxExists):
		return no(imap.ResponseCodeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, storage.ErrInvalidName):
		return no(imap.ResponseCodeCannot, "Invalid mailbox name")
	case errors.Is(err, storage.ErrMailboxSpecial):
		return no(imap.ResponseCodeCannot, "Not allowed on this mailbox")
	case errors.Is(err, storage.ErrOverQuota):
		return no(imap.ResponseCodeOverQuota, "Mailbox is full (over quota)")
	case errors.Is(err, storage.ErrTooLarge):
		return no(imap.ResponseCodeTooBig, "Message too large")
	case errors.Is(err, storage.ErrDiskFull):
		s.log.Warn("imap: disk full", "op", op, "err", err)
		return no(imap.ResponseCodeLimit, "The server's disk is full")
	case errors.Is(err, storage.ErrClosed), errors.Is(err, context.Canceled):
		return errShuttingDown
	}
	s.log.Error("imap command failed", "op", op, "err", err)
	return no(imap.ResponseCodeServerBug, "Internal error, try again later")
}
