package pop3

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"postroom/appliance/authguard"
	"postroom/internal/front"
	"postroom/storage"
)

// state is the RFC 1939 section 3 session state. UPDATE is entered only
// by QUIT in TRANSACTION and ends the session.
type state uint8

const (
	stateAuth  state = 1 << iota // AUTHORIZATION
	stateTrans                   // TRANSACTION
)

// errQuit ends a session normally, after its last reply.
var errQuit = errors.New("quit")

type session struct {
	srv    *Server
	nc     *front.Conn // the TCP connection: deadlines, busy, Close
	conn   net.Conn    // nc, or the TLS connection over it
	br     *bufio.Reader
	bw     *bufio.Writer
	remote net.Addr
	log    *slog.Logger
	isTLS  bool

	state state
	user  string // given by USER, waiting for PASS
	snap  *snapshot
	mark  *marker

	retrieved int   // RETRs, for the log
	sent      int64 // octets of message text sent
}

// newSession starts a session on nc. The connection is marked busy (Drain
// lets it finish) except while it waits for a command.
func newSession(s *Server, nc *front.Conn) *session {
	c := &session{srv: s, nc: nc, remote: nc.RemoteAddr(), state: stateAuth}
	c.log = s.log.With("remote", c.remote.String())
	nc.SetBusy(true)
	c.bind(&deadlineConn{Conn: nc, timeout: s.opts.WriteTimeout})
	return c
}

// bind makes conn the session's connection (again after STLS).
func (c *session) bind(conn net.Conn) {
	c.conn = conn
	c.br = bufio.NewReaderSize(conn, maxLine)
	c.bw = bufio.NewWriterSize(conn, 16<<10)
}

func (c *session) run() {
	defer c.finish()
	if c.nc.ImplicitTLS() {
		if !c.startTLS() {
			return
		}
	}
	// RFC 1939 section 4: the greeting.
	c.reply("+OK " + c.srv.opts.Hostname + " POP3 server ready")
	c.serve()
}

// serve reads and runs commands until QUIT, an error or shutdown.
func (c *session) serve() {
	for {
		if !hasLine(c.br) {
			if err := c.bw.Flush(); err != nil {
				c.log.Debug("pop3 write failed", "err", err)
				return
			}
		}
		c.nc.SetBusy(false)
		// Before login the front caps this (internal/front); while it
		// drains, the read fails at once.
		c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.IdleTimeout))
		line, err := readLine(c.br)
		c.nc.SetBusy(true)
		switch {
		case err == nil:
		case errors.Is(err, errLineTooLong), errors.Is(err, errNUL):
			c.log.Info("pop3 bad command line", "err", err)
			c.fail("", err.Error())
			if c.strike() {
				return
			}
			continue
		case errors.Is(err, errLineFlood):
			c.log.Warn("pop3 bad command line", "err", err)
			c.fail("", err.Error())
			c.bw.Flush()
			return
		default:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				switch {
				case c.nc.Ended():
					// Logged out everywhere (a password change, an app
					// password removed): no UPDATE state, nothing deleted.
					c.log.Info("pop3 session ended: account logged out everywhere")
					c.fail("AUTH", "logged out: the password was changed or removed, log in again")
					c.bw.Flush()
				case c.srv.front.Draining():
					c.shutdownNotice()
				default:
					// RFC 1939 section 3: the autologout timer; the session
					// does not enter UPDATE, so nothing is deleted.
					c.log.Info("pop3 autologout", "idle", c.srv.opts.IdleTimeout)
					c.fail("", "autologout: idle for too long")
					c.bw.Flush()
				}
			} else if !errors.Is(err, io.EOF) {
				c.log.Debug("pop3 read failed", "err", err)
			}
			return
		}
		if err := c.dispatch(line); err != nil {
			if !errors.Is(err, errQuit) {
				c.log.Info("pop3 session ended", "err", err)
			}
			c.bw.Flush()
			return
		}
	}
}

func (c *session) shutdownNotice() {
	c.fail("SYS/TEMP", "server shutting down, try again later")
	c.bw.Flush()
}

// finish runs on every exit path: pending download marks are written, the
// bodies unpinned and the maildrop lock released. Marks from RETR stand
// even without QUIT (the message was sent); deletions never do.
func (c *session) finish() {
	if c.mark != nil {
		c.mark.stop()
	}
	c.release()
	c.conn.Close()
	c.nc.Close()
}

// release unpins the snapshot's bodies and frees the maildrop lock, once.
func (c *session) release() {
	if c.snap != nil {
		c.snap.unpin()
		c.srv.unlockAccount(c.snap.acct.ID)
		c.snap = nil
	}
}

// strike counts a protocol error before login against the client address
// (authguard); true means hang up.
func (c *session) strike() bool {
	if c.state != stateAuth || !c.srv.guard.Strike(c.remote) {
		return false
	}
	c.fail("", "too many errors")
	c.bw.Flush()
	return true
}

// command is one POP3 command: the states it is valid in and its handler.
type command struct {
	states state
	run    func(c *session, arg string) error
}

var commands map[string]command

func init() {
	both := stateAuth | stateTrans
	commands = map[string]command{
		"CAPA": {both, (*session).cmdCapa},
		"QUIT": {both, (*session).cmdQuit},
		"USER": {stateAuth, (*session).cmdUser},
		"PASS": {stateAuth, (*session).cmdPass},
		"AUTH": {stateAuth, (*session).cmdAuth},
		"STLS": {stateAuth, (*session).cmdStls},
		"APOP": {stateAuth, (*session).cmdApop},
		"STAT": {stateTrans, (*session).cmdStat},
		"LIST": {stateTrans, (*session).cmdList},
		"UIDL": {stateTrans, (*session).cmdUidl},
		"RETR": {stateTrans, (*session).cmdRetr},
		"TOP":  {stateTrans, (*session).cmdTop},
		"DELE": {stateTrans, (*session).cmdDele},
		"RSET": {stateTrans, (*session).cmdRset},
		"NOOP": {stateTrans, (*session).cmdNoop},
	}
}

func (c *session) dispatch(line string) error {
	name, arg := parseCommand(line)
	cmd, ok := commands[name]
	var why string
	switch {
	case !ok:
		why = "unknown command"
	case cmd.states&c.state == 0 && c.state == stateAuth:
		why = "log in first"
	case cmd.states&c.state == 0:
		why = "not allowed after login"
	default:
		return cmd.run(c, arg)
	}
	// The keyword only: arguments may hold a password.
	c.log.Info("pop3 refused command", "command", name[:min(len(name), 16)], "reason", why)
	c.fail("", why)
	if c.strike() {
		return errors.New("too many errors before login")
	}
	return nil
}

// reply writes one line; write errors stick in the buffer and show at the
// next Flush.
func (c *session) reply(line string) {
	c.bw.WriteString(line)
	c.bw.WriteString("\r\n")
}

func (c *session) ok(text string) { c.reply("+OK " + text) }

// fail writes -ERR with an RFC 2449 section 8 / RFC 3206 response code.
func (c *session) fail(code, text string) {
	if code != "" {
		text = "[" + code + "] " + text
	}
	c.reply("-ERR " + text)
}

// CAPA, RFC 2449 section 5. USER and SASL are offered only where a
// password may be sent (RFC 2595 section 4), STLS only before TLS.
func (c *session) cmdCapa(string) error {
	c.ok("capability list follows")
	for _, cap := range []string{"TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"} {
		c.reply(cap)
	}
	if c.state == stateAuth {
		if c.plaintextOK() {
			c.reply("USER")
			c.reply("SASL PLAIN")
		}
		if c.srv.opts.TLSConfig != nil && !c.isTLS {
			c.reply("STLS")
		}
	}
	c.reply("EXPIRE " + c.expire())
	c.reply("IMPLEMENTATION Postroom")
	c.reply(".")
	return nil
}

// expire is the EXPIRE argument (RFC 2449 section 6.7): the account's
// retention once logged in; before, the shortest retention any account
// has, marked USER because it varies, or NEVER when no account deletes.
func (c *session) expire() string {
	days := func(n int) string {
		if n <= 0 {
			return "NEVER"
		}
		return strconv.Itoa(n)
	}
	if c.snap != nil {
		a, err := c.srv.opts.Store.AccountByID(c.snap.acct.ID)
		if err != nil {
			a = c.snap.acct
		}
		return days(a.POPRetentionDays)
	}
	accts, err := c.srv.opts.Store.Accounts()
	if err != nil {
		c.log.Warn("pop3 list accounts for EXPIRE", "err", err)
		return "NEVER"
	}
	least := 0
	for _, a := range accts {
		if d := a.POPRetentionDays; d > 0 && (least == 0 || d < least) {
			least = d
		}
	}
	if least == 0 {
		return "NEVER"
	}
	return days(least) + " USER"
}

// QUIT, RFC 1939 sections 4 and 6. In TRANSACTION it is the UPDATE state:
// the messages marked with DELE are expunged, except those IMAP expunged
// meanwhile, which storage skips.
func (c *session) cmdQuit(string) error {
	if c.state == stateAuth {
		c.ok(c.srv.opts.Hostname + " signing off")
		return errQuit
	}
	// Downloads are recorded first, so that IMAP sees \Seen before the
	// EXPUNGE, and the retention clock of kept messages starts.
	if c.mark != nil {
		c.mark.stop()
		c.mark = nil
	}
	uids := c.snap.deletedUIDs()
	var gone []uint32
	if len(uids) > 0 {
		var err error
		gone, err = c.srv.opts.Store.Expunge(c.snap.acct.ID, c.snap.mbox, uids)
		if err != nil {
			c.log.Error("pop3 expunge at QUIT", "account", c.snap.acct.Name, "marked", len(uids), "removed", len(gone), "err", err)
			c.fail("SYS/TEMP", "some deleted messages not removed")
			return errQuit
		}
	}
	c.log.Info("pop3 quit", "account", c.snap.acct.Name, "retrieved", c.retrieved, "octets", c.sent,
		"deleted", len(gone), "already_gone", len(uids)-len(gone))
	// The maildrop is free before the client reads +OK: a phone that
	// reconnects at once (its login is quick with the credential cache)
	// must not find it [IN-USE].
	c.release()
	c.ok(fmt.Sprintf("%s signing off (%d messages deleted)", c.srv.opts.Hostname, len(gone)))
	return errQuit
}

// STAT, RFC 1939 section 5: messages not marked deleted and their octets.
func (c *session) cmdStat(arg string) error {
	if arg != "" {
		c.fail("", "STAT takes no argument")
		return nil
	}
	c.ok(strconv.Itoa(c.snap.count) + " " + strconv.FormatInt(c.snap.size, 10))
	return nil
}

// msgArg parses a message-number argument and finds the message, replying
// -ERR itself when it cannot.
func (c *session) msgArg(s string) (int, *snapMsg) {
	n, ok := parseNumber(s)
	if !ok {
		c.fail("", "message number expected")
		return 0, nil
	}
	m, why := c.snap.msg(n)
	if m == nil {
		c.fail("", why)
	}
	return n, m
}

// scanListing is LIST and UIDL (RFC 1939 section 5 and 7): with an
// argument one line, without a multi-line listing of every message not
// marked deleted.
func (c *session) scanListing(arg string, line func(b []byte, m *snapMsg) []byte) error {
	as, ok := args(arg)
	if !ok || len(as) > 1 {
		c.fail("", "at most one message number expected")
		return nil
	}
	var b []byte
	if len(as) == 1 {
		n, m := c.msgArg(as[0])
		if m != nil {
			b = append(b, "+OK "...)
			b = strconv.AppendInt(b, int64(n), 10)
			b = append(b, ' ')
			b = append(line(b, m), "\r\n"...)
			c.bw.Write(b)
		}
		return nil
	}
	c.ok(strconv.Itoa(c.snap.count) + " messages (" + strconv.FormatInt(c.snap.size, 10) + " octets)")
	b = make([]byte, 0, 64)
	for i := range c.snap.msgs {
		m := &c.snap.msgs[i]
		if m.deleted {
			continue
		}
		b = strconv.AppendInt(b[:0], int64(i+1), 10)
		b = append(b, ' ')
		b = append(line(b, m), "\r\n"...)
		c.bw.Write(b)
	}
	c.reply(".")
	return nil
}

func (c *session) cmdList(arg string) error {
	return c.scanListing(arg, func(b []byte, m *snapMsg) []byte { return strconv.AppendInt(b, m.size, 10) })
}

func (c *session) cmdUidl(arg string) error {
	return c.scanListing(arg, func(b []byte, m *snapMsg) []byte { return appendUIDL(b, c.snap.uidValidity, m.uid) })
}

// RETR, RFC 1939 section 5. The size in the reply is exact: stored bodies
// have CRLF line endings already.
func (c *session) cmdRetr(arg string) error {
	as, ok := args(arg)
	if !ok || len(as) != 1 {
		c.fail("", "RETR needs one message number")
		return nil
	}
	_, m := c.msgArg(as[0])
	if m == nil {
		return nil
	}
	return c.send(m, -1)
}

// TOP, RFC 1939 section 7: the header, the blank line and the first n
// lines of the body.
func (c *session) cmdTop(arg string) error {
	as, ok := args(arg)
	if !ok || len(as) != 2 {
		c.fail("", "TOP needs a message number and a line count")
		return nil
	}
	lines, ok := parseNumber(as[1])
	if !ok {
		c.fail("", "line count must be a non-negative number")
		return nil
	}
	_, m := c.msgArg(as[0])
	if m == nil {
		return nil
	}
	return c.send(m, lines)
}

// send streams a message (lines < 0) or its top from the stored chunks
// through dotWriter (RFC 1939 section 3 byte-stuffing, textproto's
// DotWriter made fast), never holding it whole. Once "+OK" is out, a
// failure can only end the session: the multi-line reply has no way to say
// "error" halfway.
func (c *session) send(m *snapMsg, lines int) error {
	st := c.srv.opts.Store
	var headerEnd, bodyLines int64 = m.size, 0
	if lines >= 0 {
		obj, err := st.Object(m.obj)
		if err != nil {
			c.log.Error("pop3 read message structure", "account", c.snap.acct.Name, "uid", m.uid, "err", err)
			c.fail("SYS/TEMP", "cannot read the message now")
			return nil
		}
		if p := obj.Structure; p != nil {
			headerEnd, bodyLines = min(p.BodyStart, m.size), p.Lines
		}
	}
	// Pinned since login, so the body is there even if IMAP expunged it.
	body := st.OpenObjectBody(storage.Object{ID: m.obj, Size: m.size})
	defer body.Close()
	var r io.Reader = body.Reader()
	if lines < 0 {
		c.ok(strconv.FormatInt(m.size, 10) + " octets")
	} else {
		c.ok("top of message follows")
		r = io.MultiReader(io.NewSectionReader(body, 0, headerEnd),
			&lineLimiter{r: io.NewSectionReader(body, headerEnd, m.size-headerEnd), n: int64(lines)})
	}
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	dw := &dotWriter{w: c.bw}
	n, err := io.CopyBuffer(dw, struct{ io.Reader }{r}, *buf)
	c.sent += n
	if err != nil {
		return fmt.Errorf("send message uid %d: %w", m.uid, err)
	}
	if err := dw.Close(); err != nil {
		return fmt.Errorf("send message uid %d: %w", m.uid, err)
	}
	// A whole message sent counts as downloaded: \Seen for IMAP, and the
	// retention clock starts.
	if lines < 0 || int64(lines) >= bodyLines {
		c.retrieved++
		if !m.downloaded {
			m.downloaded = true
			c.marker().add(m.uid)
		}
	}
	return nil
}

// DELE, RFC 1939 section 5: only marks; QUIT deletes.
func (c *session) cmdDele(arg string) error {
	as, ok := args(arg)
	if !ok || len(as) != 1 {
		c.fail("", "DELE needs one message number")
		return nil
	}
	n, m := c.msgArg(as[0])
	if m != nil {
		c.snap.dele(m)
		c.ok("message " + strconv.Itoa(n) + " deleted")
	}
	return nil
}

// RSET, RFC 1939 section 5: unmark every message.
func (c *session) cmdRset(arg string) error {
	if arg != "" {
		c.fail("", "RSET takes no argument")
		return nil
	}
	c.snap.reset()
	c.ok("maildrop has " + strconv.Itoa(c.snap.count) + " messages (" + strconv.FormatInt(c.snap.size, 10) + " octets)")
	return nil
}

func (c *session) cmdNoop(arg string) error {
	if arg != "" {
		c.fail("", "NOOP takes no argument")
		return nil
	}
	c.ok("")
	return nil
}

// APOP is not offered: see the package documentation.
func (c *session) cmdApop(string) error {
	c.fail("", "APOP is not supported; use AUTH PLAIN or USER/PASS over TLS")
	return nil
}

// STLS, RFC 2595 section 4.
func (c *session) cmdStls(arg string) error {
	switch {
	case c.srv.opts.TLSConfig == nil:
		c.fail("", "TLS is not available")
		return nil
	case c.isTLS:
		c.fail("", "TLS is on already")
		return nil
	case arg != "":
		c.fail("", "STLS takes no argument")
		return nil
	}
	c.ok("begin TLS negotiation")
	if err := c.bw.Flush(); err != nil {
		return err
	}
	// Whatever the client pipelined after STLS was sent in the clear and
	// could have been injected by a man in the middle: it is dropped, as
	// is the USER given before.
	if n := c.br.Buffered(); n > 0 {
		c.log.Warn("pop3 discarded plaintext sent after STLS", "octets", n)
	}
	c.user = ""
	if !c.startTLS() {
		return errors.New("TLS handshake failed")
	}
	return nil
}

// startTLS runs the TLS handshake over the TCP connection, bounded by the
// idle timeout, and rebinds the session to the TLS connection.
func (c *session) startTLS() bool {
	tc := tls.Server(&deadlineConn{Conn: c.nc, timeout: c.srv.opts.WriteTimeout}, c.srv.opts.TLSConfig)
	c.nc.SetReadDeadline(time.Now().Add(min(c.srv.opts.IdleTimeout, time.Minute)))
	if err := tc.HandshakeContext(c.srv.ctx); err != nil {
		c.log.Info("pop3 TLS handshake failed", "err", err)
		return false
	}
	c.isTLS = true
	c.bind(tc)
	return true
}

// marker returns the session's download marker, started on first use.
func (c *session) marker() *marker {
	if c.mark == nil {
		c.mark = newMarker(c.srv, c.snap, c.log)
	}
	return c.mark
}

// marker records POP3 downloads (\Seen and the retention clock) in the
// background. Each mark is a synced write; a client fetching thousands of
// messages would wait for one per RETR, and in BenchmarkRETR10k50KB even
// one write per RETR in the background halved the throughput. The marker
// writes at most every markEvery, everything that accumulated, so IMAP
// sees \Seen within a fraction of a second and RETR runs at streaming
// speed. The last marks are written when the session ends.
type marker struct {
	st   Maildrop
	now  func() time.Time
	log  *slog.Logger
	acct storage.Account
	mbox storage.MailboxID

	mu      sync.Mutex
	pending []uint32
	kick    chan struct{}
	quit    chan struct{}
	done    chan struct{}
}

func newMarker(s *Server, sn *snapshot, log *slog.Logger) *marker {
	m := &marker{st: s.opts.Store, now: s.opts.Now, log: log, acct: sn.acct, mbox: sn.mbox,
		kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go m.loop()
	return m
}

func (m *marker) add(uid uint32) {
	m.mu.Lock()
	m.pending = append(m.pending, uid)
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// markEvery spaces the marker's writes: RETRs in between share one.
const markEvery = 250 * time.Millisecond

func (m *marker) loop() {
	defer close(m.done)
	for {
		select {
		case <-m.kick:
		case <-m.quit:
			m.flush()
			return
		}
		m.flush()
		select {
		case <-time.After(markEvery):
		case <-m.quit:
			m.flush()
			return
		}
	}
}

func (m *marker) flush() {
	m.mu.Lock()
	uids := m.pending
	m.pending = nil
	m.mu.Unlock()
	if len(uids) == 0 {
		return
	}
	if err := m.st.MarkPOPDownloaded(m.acct.ID, m.mbox, uids, m.now()); err != nil {
		m.log.Error("pop3 mark downloaded", "account", m.acct.Name, "messages", len(uids), "err", err)
	}
}

// stop writes what is pending and waits for it.
func (m *marker) stop() {
	close(m.quit)
	<-m.done
}

// plaintextOK says whether a password may be sent now.
func (c *session) plaintextOK() bool {
	return authguard.PlaintextAllowed(c.remote, c.isTLS, c.srv.opts.AllowPlaintextLAN)
}
