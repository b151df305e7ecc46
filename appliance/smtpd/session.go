package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"postroom/storage"
)

// Store is what the MX role needs from the mail store (STYLE convention 1:
// the consumer owns the interface). *storage.Store satisfies it.
type Store interface {
	// Resolve maps an address to its account; storage.ErrUnknownAddress
	// when no account has it.
	Resolve(addr string) (storage.AccountID, error)
	// IsLocalDomain reports whether we receive mail for the domain.
	IsLocalDomain(domain string) bool
	// CheckQuota returns storage.ErrOverQuota when size more bytes would
	// not fit the account.
	CheckQuota(acct storage.AccountID, size int64) error
	// CheckDiskSpace returns storage.ErrDiskFull when size more bytes would
	// eat into the reserve.
	CheckDiskSpace(size int64) error
	// Deliver stores one message for its recipients and returns once it is
	// durable.
	Deliver(ctx context.Context, d storage.Delivery, body io.Reader) ([]storage.Delivered, error)
	// Stage reads a message body into the store once, for the checks to
	// read and for its commits to local mailboxes and the queue
	// (storage/stage.go). The caller closes it.
	Stage(ctx context.Context, body io.Reader, maxSize int64) (*storage.Staged, error)
}

var _ Store = (*storage.Store)(nil)

// Replies. Texts are generic: detail goes to the log, never to the wire
// (STYLE convention 3). Each code follows RFC 5321 4.2.2/4.2.3 and its
// enhanced code RFC 3463.
var (
	// RFC 5321 4.1.4: MAIL while a transaction is open is a bad sequence.
	errNestedMail = reply(503, 5, 5, 1, "Nested MAIL command")
	errShutdown   = reply(421, 4, 3, 2, "Service shutting down, try again later")
	errBadSender  = reply(553, 5, 1, 7, "Bad sender address syntax")
	errBadRcpt    = reply(553, 5, 1, 3, "Bad recipient address syntax")
	// RFC 6531 3.4: a non-ASCII address needs the SMTPUTF8 MAIL parameter.
	errNeedUTF8    = reply(553, 5, 6, 7, "Non-ASCII address requires SMTPUTF8")
	errRelayDenied = reply(554, 5, 7, 1, "Relay access denied")
	errNoSuchUser  = reply(550, 5, 1, 1, "No such user here")
	errMailboxFull = reply(452, 4, 2, 2, "Mailbox full, try again later")
	errDiskFull    = reply(452, 4, 3, 1, "Insufficient system storage, try again later")
	errTooLarge    = reply(552, 5, 3, 4, "Message too large")
	// A DATA line longer than MaxLineLength (RFC 5321 4.5.3.1.6). Retrying
	// would fail the same way, so it is permanent; 5.6.0 is a content
	// problem (RFC 3463).
	errLineTooLong = reply(554, 5, 6, 0, "Message has a line that is too long")
	errInternal    = reply(451, 4, 3, 0, "Internal error, try again later")
	errConnection  = reply(451, 4, 4, 2, "Connection problem, message not accepted")
	errNoRcpt      = reply(503, 5, 5, 1, "No valid recipients")
	// MaxMessagesPerConnection reached; the connection is closed after it.
	errTooManyMessages = reply(421, 4, 7, 0, "Too many messages on this connection, reconnect to send more")
	// An EHLO/HELO argument with control characters (RFC 5321 4.1.1.1
	// wants a domain or an address literal); never echoed.
	errBadHelo = reply(501, 5, 5, 2, "Invalid HELO/EHLO argument: control characters")
	// authguard.Guard.Strike said to disconnect.
	errTooManyErrors = reply(421, 4, 7, 0, "Too many errors, try again later")
)

func reply(code, a, b, c int, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{a, b, c}, Message: msg}
}

// backend creates a session at each EHLO/HELO (go-smtp calls NewSession
// lazily, and again after STARTTLS).
type backend struct{ srv *Server }

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	if hasControl(c.Hostname()) {
		// go-smtp would echo the argument in its 250; a NUL or an escape
		// sequence has no place in a domain (RFC 5321 4.1.1.1).
		b.srv.log.Info("smtp refused a HELO with control characters",
			"remote", remoteIP(c.Conn().RemoteAddr()), "helo", fmt.Sprintf("%q", c.Hostname()))
		return nil, errBadHelo
	}
	s := &session{
		srv:   b.srv,
		conn:  netConnOf(c.Conn()),
		sconn: c,
		helo:  c.Hostname(),
	}
	s.remote = remoteIP(c.Conn().RemoteAddr())
	if st, ok := c.TLSConnectionState(); ok {
		s.tls = &st
	}
	return s, nil
}

func remoteIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// session is one SMTP session between EHLO and QUIT (or STARTTLS, which
// starts a new one). go-smtp calls Mail, Rcpt and Reset from the
// connection's goroutine, but for BDAT it runs Data in a goroutine of its
// own that can race with Reset, so the transaction state is under mu.
type session struct {
	srv    *Server
	conn   *trackedConn // nil only if the listener was not ours
	sconn  *smtp.Conn
	helo   string // at the first EHLO; transaction.helo is current
	remote netip.Addr
	tls    *tls.ConnectionState

	// acct is the logged-in account (submission), nil before AUTH.
	acct *storage.Account

	mu sync.Mutex
	tx *transaction // nil outside MAIL ... end of DATA
}

// transaction is the envelope of one message.
type transaction struct {
	id       string
	start    time.Time
	helo     string
	from     string
	utf8     bool
	sizeHint int64 // SIZE= from MAIL, 0 if none
	rcpts    []storage.Recipient
	accounts map[storage.AccountID]bool
	rcptN    int      // RCPT commands accepted, duplicates included
	rcpt1    string   // the first accepted recipient as the client wrote it
	remote   []string // submission: recipients for Outbound, domain normalised
}

func (s *session) logAttrs(tx *transaction) []any {
	helo := s.helo
	if tx != nil {
		helo = tx.helo
	}
	a := []any{"remote", s.remote.String(), "helo", helo, "tls", s.tls != nil}
	if s.acct != nil {
		a = append(a, "user", s.acct.Name)
	}
	if tx != nil {
		a = append(a, "id", tx.id, "from", tx.from)
	}
	return a
}

// refuse logs a refusal with its status code and returns the reply.
func (s *session) refuse(tx *transaction, e *smtp.SMTPError, cmd string, attrs ...any) *smtp.SMTPError {
	a := append(s.logAttrs(tx), "cmd", cmd, "code", e.Code,
		"status", enhanced(e))
	a = append(a, attrs...)
	level := slog.LevelInfo
	if e == errInternal {
		level = slog.LevelWarn
	}
	s.srv.log.Log(context.Background(), level, "smtp refused", a...)
	return e
}

func enhanced(e *smtp.SMTPError) string {
	c := e.EnhancedCode
	return fmt.Sprintf("%d.%d.%d", c[0], c[1], c[2])
}

// Mail opens a transaction (RFC 5321 4.1.1.2). go-smtp has already parsed
// the path, checked SIZE= against MaxMessageBytes (552 5.3.4) and refused
// MAIL before EHLO.
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tx != nil {
		// go-smtp passes a second MAIL through without complaint.
		return s.refuse(s.tx, errNestedMail, "MAIL")
	}
	if s.srv.draining.Load() {
		return s.refuse(nil, errShutdown, "MAIL")
	}
	if s.srv.opts.Submission != nil && s.acct == nil {
		// A protocol error before login counts against the address
		// (authguard): a client that keeps trying without logging in is
		// probing, and is sent away.
		if s.srv.guard.Strike(s.sconn.Conn().RemoteAddr()) && s.conn != nil {
			s.conn.hangup.Store(true)
			return s.refuse(nil, errTooManyErrors, "MAIL", "from", from)
		}
		return s.refuse(nil, errAuthRequired, "MAIL", "from", from)
	}
	if s.conn != nil {
		if s.conn.messages >= s.srv.opts.MaxMessagesPerConnection {
			s.conn.hangup.Store(true)
			return s.refuse(nil, errTooManyMessages, "MAIL", "max", s.srv.opts.MaxMessagesPerConnection)
		}
	}
	// go-smtp keeps the session across a repeated EHLO (RFC 5321 4.1.4
	// treats it as RSET), so take the name the client gave last.
	tx := &transaction{id: newTransactionID(), start: time.Now(), helo: s.sconn.Hostname(), from: from}
	if opts != nil {
		tx.utf8 = opts.UTF8
		tx.sizeHint = opts.Size
	}
	needUTF8, err := checkReversePath(from)
	if err != nil {
		return s.refuse(tx, errBadSender, "MAIL")
	}
	if needUTF8 && !tx.utf8 {
		return s.refuse(tx, errNeedUTF8, "MAIL")
	}
	if s.acct != nil && from != "" {
		// RFC 6409 6.1: the MSA may refuse a sender the login is not
		// entitled to.
		ok, err := s.owns(from)
		if err != nil {
			return s.refuse(tx, errInternal, "MAIL", "error", err)
		}
		if !ok {
			return s.refuse(tx, errNotYourSender, "MAIL")
		}
	}
	if max := s.srv.opts.MaxMessageBytes; tx.sizeHint > max {
		return s.refuse(tx, errTooLarge, "MAIL", "size", tx.sizeHint)
	}
	// Refuse early when the disk is nearly full, so that the client does
	// not send megabytes only to be told 452 after DATA.
	if err := s.srv.opts.Store.CheckDiskSpace(tx.sizeHint); err != nil {
		return s.refuse(tx, s.storeError(err), "MAIL", "error", err)
	}
	s.tx = tx
	if s.conn != nil {
		s.conn.messages++
		s.conn.fc.SetBusy(true)
		// A transaction has begun (or, for submission, the client has
		// logged in): the front's pre-login limits end.
		s.conn.fc.LoggedIn()
	}
	return nil
}

// Rcpt adds a recipient (RFC 5321 4.1.1.3). go-smtp has already dropped any
// source route, unquoted the local part and enforced MaxRecipients (452
// 4.5.3). The order of checks makes the relay refusal independent of
// whether the address exists.
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := s.tx
	if tx == nil {
		return s.refuse(nil, errNoRcpt, "RCPT")
	}
	addr, err := parseAddress(to)
	switch {
	case errors.Is(err, errAddrRelay):
		return s.refuse(tx, errRelayDenied, "RCPT", "rcpt", to)
	case err != nil:
		return s.refuse(tx, errBadRcpt, "RCPT", "rcpt", to)
	case addr.utf8 && !tx.utf8:
		return s.refuse(tx, errNeedUTF8, "RCPT", "rcpt", to)
	}
	st := s.srv.opts.Store
	if !addr.ours(st) {
		if s.acct == nil {
			// We are never an open relay (RFC 5321 3.6.1, RFC 2505):
			// only a logged-in client may send elsewhere.
			return s.refuse(tx, errRelayDenied, "RCPT", "rcpt", to)
		}
		return s.rcptRemote(tx, to, addr)
	}
	if !s.srv.opts.Submission.allow(s.acct) {
		return s.refuse(tx, errRateLimited, "RCPT", "rcpt", to)
	}
	acct, err := st.Resolve(addr.String())
	if err != nil {
		if errors.Is(err, storage.ErrUnknownAddress) {
			return s.refuse(tx, errNoSuchUser, "RCPT", "rcpt", to)
		}
		return s.refuse(tx, errInternal, "RCPT", "rcpt", to, "error", err)
	}
	if !tx.accounts[acct] {
		// The SIZE= hint, or 0 to catch an account that is full already.
		if err := st.CheckQuota(acct, tx.sizeHint); err != nil {
			return s.refuse(tx, s.storeError(err), "RCPT", "rcpt", to, "error", err)
		}
		if tx.accounts == nil {
			tx.accounts = make(map[storage.AccountID]bool)
		}
		tx.accounts[acct] = true
		// Two addresses of one account (an alias, a second spelling)
		// deliver one copy.
		tx.rcpts = append(tx.rcpts, storage.Recipient{Account: acct})
	}
	tx.accept(to)
	return nil
}

// accept counts an accepted RCPT.
func (tx *transaction) accept(to string) {
	if tx.rcptN == 0 {
		tx.rcpt1 = to
	}
	tx.rcptN++
}

// Data takes the message (RFC 5321 4.1.1.4; RFC 3030 for BDAT). go-smtp
// has un-dot-stuffed DATA and cuts it off at MaxMessageBytes by failing the
// read with smtp.ErrDataTooLarge; for BDAT it checks each chunk's size
// itself. The message is never held whole in memory and is written once:
// it streams into storage (MX without checks), or is staged there
// (storage.Stage: up to 1 MiB in memory, beyond that in the store) for the
// checks to read and for its commits (MX with checks, submission).
//
// Every error returned is a *smtp.SMTPError: go-smtp turns any other error
// into a permanent 554 with the error's text on the wire.
func (s *session) Data(r io.Reader) error {
	s.mu.Lock()
	tx := s.tx
	s.mu.Unlock()
	if tx == nil || (len(tx.rcpts) == 0 && len(tx.remote) == 0) {
		return s.refuse(tx, errNoRcpt, "DATA")
	}
	s.srv.deliveries.Add(1)
	defer s.srv.deliveries.Done()
	start := time.Now()
	body := &countingReader{r: &hopReader{r: r, max: MaxHops}}

	var attrs []any
	var err error
	switch {
	case s.srv.opts.Submission != nil:
		attrs, err = s.submit(tx, body, start)
	case s.srv.opts.Checker != nil:
		attrs, err = s.checkAndDeliver(tx, body, start)
	default:
		err = s.deliver(tx, tx.rcpts, traceHeaders(s.trace(tx, start)), body)
	}

	stats := append([]any{"rcpts", len(tx.rcpts) + len(tx.remote), "size", body.n,
		"duration", time.Since(start).Round(time.Microsecond)}, attrs...)
	if err == nil {
		s.srv.log.Info("smtp delivered", append(append(s.logAttrs(tx), stats...), "code", 250)...)
		return accepted(tx)
	}
	var e *smtp.SMTPError
	switch {
	case body.err != nil:
		// The client side failed first; storage only saw the read error.
		e = readError(body.err)
	case errors.As(err, &e):
	default:
		e = s.storeError(err)
	}
	return s.refuse(tx, e, "DATA", append(stats, "error", err)...)
}

// trace describes the transaction for the trace header fields.
func (s *session) trace(tx *transaction, date time.Time) traceInfo {
	forRcpt := ""
	if tx.rcptN == 1 {
		forRcpt = tx.rcpt1
	}
	return traceInfo{
		helo:     tx.helo,
		remote:   s.remote,
		hostname: s.srv.opts.Hostname,
		tls:      s.tls,
		utf8:     tx.utf8,
		auth:     s.acct != nil,
		id:       tx.id,
		from:     tx.from,
		forRcpt:  forRcpt,
		date:     date,
	}
}

// deliver stores the message, hdr (our header fields) then body, for local
// recipients.
func (s *session) deliver(tx *transaction, rcpts []storage.Recipient, hdr string, body io.Reader) error {
	d := storage.Delivery{
		Recipients: rcpts,
		// The limit is on what the client sends; our header fields come
		// on top and must not push a message at the limit over it.
		MaxSize: s.srv.opts.MaxMessageBytes + int64(len(hdr)),
		// Without a SIZE= hint at RCPT, the size is known only now.
		Quota:  true,
		Origin: s.origin(),
	}
	_, err := s.srv.opts.Store.Deliver(s.srv.ctx, d, io.MultiReader(strings.NewReader(hdr), body))
	return err
}

// stage reads the whole message into the store once (storage.Stage); the
// checks and every commit read it from there. The caller closes it.
func (s *session) stage(body io.Reader) (*storage.Staged, error) {
	return s.srv.opts.Store.Stage(s.srv.ctx, body, s.srv.opts.MaxMessageBytes)
}

// commitLocal delivers a staged message to local recipients with hdr (our
// header fields) in front, kept beside the body rather than copied into it.
func (s *session) commitLocal(sg *storage.Staged, rcpts []storage.Recipient, hdr string) error {
	_, err := sg.Deliver(storage.Delivery{Recipients: rcpts, Quota: true, Origin: s.origin()}, []byte(hdr))
	return err
}

// origin is where the status counts this session's mail from: another
// server, or a colleague's submission (storage.Origin).
func (s *session) origin() storage.Origin {
	if s.acct != nil {
		return storage.OriginSubmission
	}
	return storage.OriginInbound
}

// readError maps a failed read of the message from the client.
func readError(err error) *smtp.SMTPError {
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &se):
		// smtp.ErrDataTooLarge: 552 5.3.4, RFC 5321 4.5.3.1.10 and RFC 1870.
		return se
	case errors.Is(err, smtp.ErrTooLongLine):
		return errLineTooLong
	default:
		// RSET or QUIT during BDAT, a timeout, a dropped connection: the
		// client is rarely there to read this.
		return errConnection
	}
}

// storeError is the one place storage errors become SMTP replies.
func (s *session) storeError(err error) *smtp.SMTPError {
	switch {
	case errors.Is(err, storage.ErrDiskFull):
		return errDiskFull
	case errors.Is(err, storage.ErrTooLarge):
		return errTooLarge
	case errors.Is(err, storage.ErrOverQuota):
		return errMailboxFull
	default:
		// Anything else is our fault and may be transient (RFC 5321
		// 4.2.1: 4yz), so the sender keeps the message and retries.
		return errInternal
	}
}

// Reset ends the transaction: RSET, a new EHLO, or the end of DATA/BDAT.
func (s *session) Reset() {
	if hasControl(s.sconn.Hostname()) {
		// A repeated EHLO/HELO: go-smtp has taken the new argument and
		// calls Reset before echoing it. NewSession refused the first
		// greeting with such bytes, so this is the only way one gets here.
		s.refuseHelo()
	}
	s.mu.Lock()
	s.tx = nil
	s.mu.Unlock()
	if s.conn != nil {
		s.conn.fc.SetBusy(false)
	}
}

// refuseHelo answers a repeated greeting with control characters itself
// and hangs up: go-smtp offers no way to refuse it, and would echo it in
// the 250 it writes after Reset returns. The connection (the TLS one after
// STARTTLS) is idle between commands, so the reply cannot interleave.
func (s *session) refuseHelo() {
	s.srv.log.Info("smtp refused a HELO with control characters",
		"remote", s.remote.String(), "helo", fmt.Sprintf("%q", s.sconn.Hostname()))
	nc := s.sconn.Conn()
	nc.SetWriteDeadline(time.Now().Add(s.srv.opts.WriteTimeout))
	io.WriteString(nc, fmt.Sprintf("%d %d.%d.%d %s\r\n", errBadHelo.Code,
		errBadHelo.EnhancedCode[0], errBadHelo.EnhancedCode[1], errBadHelo.EnhancedCode[2], errBadHelo.Message))
	nc.Close()
}

// hasControl reports a C0 control character or DEL in s.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// Logout is called when the connection closes or STARTTLS begins.
func (s *session) Logout() error {
	s.Reset()
	return nil
}

// countingReader counts the message bytes and remembers the first read
// error that is not io.EOF, so that Data can tell a client failure from a
// storage failure.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// accepted is the 250 reply to DATA. go-smtp's own says "OK: queued" for
// every message, but mail for this box is not queued: it is on disk when
// we answer, and the reply should say so. go-smtp writes an *SMTPError's
// code and text as they are, which is how a 250 gets our words.
func accepted(tx *transaction) error {
	msg := "OK: stored"
	if len(tx.remote) > 0 {
		msg = "OK: stored and queued for the other servers"
		if len(tx.rcpts) == 0 {
			msg = "OK: queued for delivery"
		}
	}
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: msg}
}
