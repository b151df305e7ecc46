package imapd

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/flate"

	"postroom/appliance/authguard"
	"postroom/appliance/imapd/wire"
	"postroom/internal/front"
	"postroom/storage"
)

// connState is the connection's state (RFC 9051 3).
type connState uint8

const (
	stateNotAuth connState = iota
	stateAuth
	stateSelected
	stateLogout
)

// Sets of states a command is valid in.
const (
	inNotAuth  = 1 << stateNotAuth
	inAuth     = 1 << stateAuth
	inSelected = 1 << stateSelected
	inAny      = inNotAuth | inAuth | inSelected
	inLoggedIn = inAuth | inSelected
)

// Limits of the connection.
const (
	// writeTimeout bounds one write to a client that does not read; the
	// session then ends, whatever it was doing.
	writeTimeout = 5 * time.Minute
	// maxLiteralNonAppend bounds literals outside APPEND (a password, a
	// SEARCH string): they are held in memory.
	maxLiteralNonAppend = 64 << 10
	// maxLiteralBeforeLogin is LITERAL-'s 4096 (RFC 7888 4) and more than
	// any user name or password.
	maxLiteralBeforeLogin = 4096
	// readBufSize and writeBufSize: the reader's buffer stays with the
	// connection; the writer's (the cork) comes from a pool per command.
	readBufSize  = 4 << 10
	writeBufSize = 32 << 10
)

// conn is one client connection and its session.
type conn struct {
	srv    *Server
	fc     *front.Conn
	remote net.Addr
	log    *slog.Logger

	// The transport: the front's connection, TLS over it, and DEFLATE
	// over either (RFC 4978).
	nc       net.Conn
	isTLS    bool
	in       io.Reader     // nc, or a flate reader over it
	out      io.Writer     // nc, or flateW over it (nil between bursts)
	flateW   *flate.Writer // under COMPRESS, from begin to end
	compress bool

	br *bufio.Reader
	r  *wire.Reader
	w  *wire.Writer // between begin and end; nil while waiting

	state connState
	acct  storage.AccountID
	user  string
	sel   *selected
	saved []uint32 // SEARCHRES result (RFC 5182) as UIDs, ascending

	// Enabled extensions (RFC 5161).
	rev2, utf8, condstore, qresync bool

	okCode string // response code for the tagged OK of this command
	job    *appendJob
	// appended are the messages of a MULTIAPPEND stored so far, removed
	// again if a later one fails.
	appended []storage.Delivered

	// notify is the NOTIFY setting (RFC 5465, notify.go); nil without.
	notify *notifyState
}

var writerPool = sync.Pool{New: func() any { return wire.NewWriter(nil, writeBufSize) }}

func newConn(s *Server, fc *front.Conn) *conn {
	c := &conn{srv: s, fc: fc, remote: fc.RemoteAddr()}
	c.log = s.log.With("remote", remoteIP(c.remote))
	c.setTransport(fc, false)
	return c
}

// setTransport puts a new transport under the reader and writer (at the
// start, after STARTTLS).
func (c *conn) setTransport(nc net.Conn, isTLS bool) {
	c.nc, c.isTLS = nc, isTLS
	c.in, c.out = nc, nc
	c.newReader()
}

func (c *conn) newReader() {
	c.br = bufio.NewReaderSize(&deadlineReader{c: c}, readBufSize)
	c.r = wire.NewReader(c.br, wire.Options{
		MaxLiteral: max(c.srv.opts.AppendLimit, maxLiteralNonAppend),
		Literal:    c.literal,
		Continue: func() error {
			c.begin()
			c.w.Continuation("Ready for literal data")
			return c.w.Flush()
		},
	})
}

// deadlineReader renews the read deadline before every read: an
// inactivity timeout, so that a large APPEND over a slow line is not cut
// off while bytes still flow. Before login the front caps it further.
type deadlineReader struct{ c *conn }

func (d *deadlineReader) Read(p []byte) (int, error) {
	c := d.c
	c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.IdleTimeout))
	n, err := c.in.Read(p)
	if n > 0 && c.srv.opts.Debug != nil {
		c.srv.opts.Debug.Write(p[:n])
	}
	return n, err
}

// deadlineWriter bounds every write: a client that stops reading loses
// its session instead of holding it forever.
type deadlineWriter struct{ c *conn }

func (d *deadlineWriter) Write(p []byte) (int, error) {
	c := d.c
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if c.srv.opts.Debug != nil {
		c.srv.opts.Debug.Write(p)
	}
	if c.out == nil {
		return 0, errNoCompressor
	}
	n, err := c.out.Write(p)
	if err == nil && c.flateW != nil {
		err = c.flateW.Flush()
	}
	return n, err
}

var errNoCompressor = errors.New("imapd: write under COMPRESS outside begin and end")

// flateWriters hold DEFLATE compressors between bursts of responses. A
// compressor is about 1 MB, too much for every idle session of a small
// box to keep, so a session holds one only from begin to end. Each burst
// ends with a sync flush, which leaves the stream byte-aligned and not
// final, so the next burst's compressor, fresh from the pool, goes on with
// the same stream: DEFLATE blocks stand alone but for back-references
// (RFC 1951 3.2), and a fresh compressor makes none into what went before.
// The cost is the dictionary across bursts, a little of the ratio.
var flateWriters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.DefaultCompression)
	return w
}}

// begin takes a writer (the cork) for a command or a push; end flushes it
// and gives it back.
func (c *conn) begin() {
	if c.compress && c.flateW == nil {
		c.flateW = flateWriters.Get().(*flate.Writer)
		c.flateW.Reset(c.nc)
		c.out = c.flateW
	}
	if c.w == nil {
		c.w = writerPool.Get().(*wire.Writer)
		c.w.Reset(&deadlineWriter{c: c})
		c.w.UTF8 = c.utf8
	}
}

func (c *conn) end() error {
	if c.w == nil {
		return nil
	}
	err := c.w.Flush()
	c.w.Reset(nil)
	writerPool.Put(c.w)
	c.w = nil
	c.putCompressor()
	return err
}

// putCompressor gives the burst's compressor back to the pool.
func (c *conn) putCompressor() {
	if c.flateW != nil {
		c.flateW.Reset(nil)
		flateWriters.Put(c.flateW)
		c.flateW, c.out = nil, nil
	}
}

func (c *conn) close() {
	c.abortAppend()
	c.unselect()
	c.notifyOff()
	c.w = nil
	c.putCompressor()
	c.fc.Close()
}

// serve runs the session: greeting, then one command at a time until
// LOGOUT, a fatal error or the end of the connection.
func (c *conn) serve() {
	c.begin()
	c.w.Untagged().Atom("OK").BeginCode("CAPABILITY")
	c.writeCaps()
	c.w.EndCode().Text("Postroom IMAP ready").End()
	if c.end() != nil {
		return
	}
	for c.state != stateLogout {
		if !c.awaitCommand() { // pushes under NOTIFY while waiting
			return
		}
		cmd, err := c.r.ReadCommand()
		c.fc.SetBusy(true)
		c.begin()
		if err != nil {
			var ce *wire.CommandError
			if !errors.As(err, &ce) {
				c.abortAppend()
				c.readFailed(err)
				c.end()
				return
			}
			if c.job != nil {
				if jerr := c.finishAppend(false); jerr != nil && ce.Code == "SERVERBUG" {
					// The literal went to storage, which refused it.
					ce = c.cmdError(ce.Tag, jerr)
				}
			}
			c.rollbackAppend()
			if ce.Status == wire.BAD {
				c.log.Debug("imap bad command", "err", ce)
			}
			c.w.Error(ce)
		} else if !c.run(cmd) {
			c.end()
			return
		}
		err = c.end()
		c.fc.SetBusy(false)
		if err != nil {
			return
		}
	}
}

// readFailed says goodbye to a client whose read failed: BYE where the
// connection can still carry one (RFC 9051 7.1.5).
func (c *conn) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	case errors.As(err, &ne) && ne.Timeout():
		switch {
		case c.fc.Ended():
			c.bye("Logged out: the account's sessions were ended")
		case c.srv.front.Draining():
			c.bye("Server shutting down")
		default:
			c.log.Debug("imap client timed out")
			c.bye("Autologout; idle for too long")
		}
	case wire.IsFatal(err) && errors.Is(err, wire.ErrFatal):
		c.log.Info("imap protocol error", "err", err)
		c.bye("Protocol error")
	default:
		c.log.Debug("imap read", "err", err)
	}
}

func (c *conn) bye(text string) {
	c.w.Status("*", wire.BYE, "", text)
}

// cmdHandler runs one command: it writes untagged responses and returns
// nil for OK (c.okCode may carry a code) or a *respError.
type cmdHandler struct {
	fn     func(c *conn, cmd *wire.Command) error
	states uint8
	uid    bool // has a UID form
	// expunge: EXPUNGE responses may follow the command (RFC 9051 7.5.1:
	// not after FETCH, STORE or SEARCH by sequence number).
	seqBound bool
}

var commands map[string]cmdHandler

func init() {
	commands = map[string]cmdHandler{
		"CAPABILITY":      {fn: (*conn).cmdCapability, states: inAny},
		"NOOP":            {fn: (*conn).cmdNoop, states: inAny},
		"LOGOUT":          {fn: (*conn).cmdLogout, states: inAny},
		"ID":              {fn: (*conn).cmdID, states: inAny},
		"STARTTLS":        {fn: (*conn).cmdStartTLS, states: inNotAuth},
		"LOGIN":           {fn: (*conn).cmdLogin, states: inNotAuth},
		"AUTHENTICATE":    {fn: (*conn).cmdAuthenticate, states: inNotAuth},
		"COMPRESS":        {fn: (*conn).cmdCompress, states: inLoggedIn},
		"ENABLE":          {fn: (*conn).cmdEnable, states: inLoggedIn},
		"UNAUTHENTICATE":  {fn: (*conn).cmdUnauthenticate, states: inLoggedIn},
		"NAMESPACE":       {fn: (*conn).cmdNamespace, states: inLoggedIn},
		"SELECT":          {fn: (*conn).cmdSelect, states: inLoggedIn},
		"EXAMINE":         {fn: (*conn).cmdSelect, states: inLoggedIn},
		"CREATE":          {fn: (*conn).cmdCreate, states: inLoggedIn},
		"DELETE":          {fn: (*conn).cmdDelete, states: inLoggedIn},
		"RENAME":          {fn: (*conn).cmdRename, states: inLoggedIn},
		"SUBSCRIBE":       {fn: (*conn).cmdSubscribe, states: inLoggedIn},
		"UNSUBSCRIBE":     {fn: (*conn).cmdSubscribe, states: inLoggedIn},
		"LIST":            {fn: (*conn).cmdList, states: inLoggedIn},
		"LSUB":            {fn: (*conn).cmdList, states: inLoggedIn},
		"STATUS":          {fn: (*conn).cmdStatus, states: inLoggedIn},
		"APPEND":          {fn: (*conn).cmdAppend, states: inLoggedIn},
		"IDLE":            {fn: (*conn).cmdIdle, states: inLoggedIn},
		"NOTIFY":          {fn: (*conn).cmdNotify, states: inLoggedIn},
		"GETQUOTA":        {fn: (*conn).cmdGetQuota, states: inLoggedIn},
		"GETQUOTAROOT":    {fn: (*conn).cmdGetQuotaRoot, states: inLoggedIn},
		"CLOSE":           {fn: (*conn).cmdClose, states: inSelected},
		"UNSELECT":        {fn: (*conn).cmdUnselect, states: inSelected},
		"EXPUNGE":         {fn: (*conn).cmdExpunge, states: inSelected, uid: true},
		"SEARCH":          {fn: (*conn).cmdSearch, states: inSelected, uid: true, seqBound: true},
		"SORT":            {fn: (*conn).cmdSort, states: inSelected, uid: true, seqBound: true},
		"THREAD":          {fn: (*conn).cmdThread, states: inSelected, uid: true, seqBound: true},
		"FETCH":           {fn: (*conn).cmdFetch, states: inSelected, uid: true, seqBound: true},
		"STORE":           {fn: (*conn).cmdStore, states: inSelected, uid: true, seqBound: true},
		"COPY":            {fn: (*conn).cmdCopy, states: inSelected, uid: true},
		"MOVE":            {fn: (*conn).cmdMove, states: inSelected, uid: true},
		"CHECK":           {fn: (*conn).cmdNoop, states: inSelected},
		"CANCELUPDATE":    {fn: (*conn).cmdCancelUpdate, states: inSelected},
		"X-NOT-A-COMMAND": {},
	}
	delete(commands, "X-NOT-A-COMMAND")
}

// respError is a tagged NO or BAD.
type respError struct {
	status wire.Status
	code   string
	text   string
}

func (e *respError) Error() string { return string(e.status) + " " + e.text }

func no(code, text string) *respError  { return &respError{wire.NO, code, text} }
func bad(code, text string) *respError { return &respError{wire.BAD, code, text} }

// run runs one command and writes its tagged response; false ends the
// connection.
func (c *conn) run(cmd *wire.Command) bool {
	h, ok := commands[cmd.Name]
	if !ok || (cmd.UID && !h.uid) {
		c.w.Status(cmd.Tag, wire.BAD, "", "Unknown command")
		if c.state == stateNotAuth {
			// A command that is not IMAP before login is most likely
			// another protocol talking to us (RFC 9051 does not ask for a
			// disconnect): each counts, and too many end the connection.
			c.log.Info("imap unknown command before login")
			if c.srv.strike(c) {
				c.bye("Too many errors")
				return false
			}
		}
		return true
	}
	if h.states&(1<<c.state) == 0 {
		text := "Not allowed now"
		switch c.state {
		case stateNotAuth:
			text = "Log in first"
		case stateAuth:
			if h.states&inSelected != 0 {
				text = "No mailbox selected"
			}
		default:
			if h.states&inNotAuth != 0 {
				text = "Already logged in"
			}
		}
		c.w.Status(cmd.Tag, wire.BAD, "", text)
		return true
	}
	c.okCode = ""
	err := h.fn(c, cmd)
	if c.state == stateLogout {
		return false
	}
	if err == errNoTagged {
		return true
	}
	c.afterCommand(!h.seqBound || cmd.UID)
	var re *respError
	switch {
	case err == nil:
		c.w.Status(cmd.Tag, wire.OK, c.okCode, okText(cmd))
	case errors.As(err, &re):
		c.w.Status(cmd.Tag, re.status, re.code, re.text)
	case errors.Is(err, errHangUp):
		return false
	default:
		var ce *wire.CommandError
		if errors.As(err, &ce) {
			c.w.Status(cmd.Tag, ce.Status, ce.Code, ce.Text)
		} else {
			re := c.fail(strings.ToLower(cmd.Name), err)
			c.w.Status(cmd.Tag, re.status, re.code, re.text)
		}
	}
	return c.w.Err() == nil
}

// errHangUp ends the connection without a tagged response: the stream
// broke off where no response can follow.
var errHangUp = errors.New("imapd: connection cannot go on")

func okText(cmd *wire.Command) string {
	if cmd.UID {
		return "UID " + cmd.Name + " completed"
	}
	return cmd.Name + " completed"
}

// cmdError turns an error into a CommandError for the tag.
func (c *conn) cmdError(tag string, err error) *wire.CommandError {
	re := c.fail("append", err)
	return &wire.CommandError{Tag: tag, Status: re.status, Code: re.code, Text: re.text}
}

// Capabilities. IMAP4rev1-only extensions that rev2 includes are listed so
// that rev1 clients see them.
var capsLoggedIn = []string{"IMAP4rev2", "IMAP4rev1", "SASL-IR", "LITERAL-", "UNSELECT", "ENABLE", "IDLE", "NOTIFY",
	"UTF8=ACCEPT", "NAMESPACE", "UIDPLUS", "ESEARCH", "SEARCHRES", "LIST-EXTENDED", "LIST-STATUS", "MOVE",
	"STATUS=SIZE", "BINARY", "CHILDREN", "SPECIAL-USE", "CREATE-SPECIAL-USE", "LITERAL+", "UNAUTHENTICATE",
	"ID", "QUOTA", "QUOTA=RES-STORAGE", "CONDSTORE", "QRESYNC", "SORT", "SORT=DISPLAY", "ESORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "PARTIAL", "MULTIAPPEND", "CATENATE",
	"CONTEXT=SEARCH", "CONTEXT=SORT", "COMPRESS=DEFLATE"}

func (c *conn) writeCaps() {
	w := c.w
	if c.state != stateNotAuth {
		for _, s := range capsLoggedIn {
			w.Atom(s)
		}
		w.Atom("APPENDLIMIT=" + strconv.FormatInt(c.srv.opts.AppendLimit, 10))
		return
	}
	w.Atom("IMAP4rev2").Atom("IMAP4rev1").Atom("SASL-IR").Atom("LITERAL-")
	if c.srv.opts.TLSConfig != nil && !c.isTLS {
		w.Atom("STARTTLS")
	}
	if c.plaintextOK() {
		w.Atom("AUTH=PLAIN").Atom("AUTH=LOGIN")
	} else {
		w.Atom("LOGINDISABLED")
	}
	w.Atom("ID")
}

func (c *conn) plaintextOK() bool {
	return authguard.PlaintextAllowed(c.remote, c.isTLS, c.srv.opts.AllowPlaintextLAN)
}

func (c *conn) cmdCapability(cmd *wire.Command) error {
	if len(cmd.Args) != 0 {
		return bad("", "CAPABILITY takes no arguments")
	}
	c.w.Untagged().Atom("CAPABILITY")
	c.writeCaps()
	c.w.End()
	return nil
}

func (c *conn) cmdNoop(cmd *wire.Command) error {
	if len(cmd.Args) != 0 {
		return bad("", cmd.Name+" takes no arguments")
	}
	return nil
}

// cmdLogout: BYE, then OK (RFC 9051 6.1.3).
func (c *conn) cmdLogout(cmd *wire.Command) error {
	c.bye("Logging out")
	c.w.Status(cmd.Tag, wire.OK, "", "LOGOUT completed")
	c.state = stateLogout
	return nil
}

// cmdID answers RFC 2971's ID with our name; what the client says of
// itself goes to the log.
func (c *conn) cmdID(cmd *wire.Command) error {
	fields, err := wire.ParseID(cmd.Args)
	if err != nil {
		return err
	}
	if len(fields) > 0 {
		c.log.Debug("imap client id", "name", fields["name"], "version", fields["version"])
	}
	for k, v := range fields {
		// The program's name names the device in the account's list of
		// logins (RFC 2971 3.3: field names are not case-sensitive).
		if strings.EqualFold(k, "name") && strings.TrimSpace(v) != "" {
			c.fc.SetClient(v)
		}
	}
	c.w.Untagged().Atom("ID").BeginList().Quoted("name").Quoted("Postroom").EndList().End()
	return nil
}

// cmdStartTLS (RFC 9051 6.2.1): OK in the clear, then the handshake.
// Whatever the client sent after the command before the handshake is
// thrown away, so that it cannot pass as sent under TLS.
func (c *conn) cmdStartTLS(cmd *wire.Command) error {
	if c.srv.opts.TLSConfig == nil || c.isTLS {
		return bad("", "TLS is not available here")
	}
	c.w.Status(cmd.Tag, wire.OK, "", "Begin TLS negotiation now")
	if err := c.end(); err != nil {
		return errHangUp
	}
	c.begin()
	tc := tls.Server(c.fc, c.srv.opts.TLSConfig)
	ctx, cancel := context.WithTimeout(c.srv.ctx, c.srv.opts.HandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		c.log.Debug("imap STARTTLS handshake failed", "err", err)
		return errHangUp
	}
	c.setTransport(tc, true)
	return errNoTagged
}

// errNoTagged: the command has written its tagged response itself.
var errNoTagged = &respError{}

// cmdLogin checks the password through the shared Guard (RFC 9051 6.2.3).
func (c *conn) cmdLogin(cmd *wire.Command) error {
	user, pass, err := wire.ParseLogin(cmd.Args)
	if err != nil {
		return err
	}
	return c.login(user, pass)
}

func (c *conn) login(user, pass string) error {
	if !c.plaintextOK() {
		return no("PRIVACYREQUIRED", "Use TLS (STARTTLS or port 993) to log in")
	}
	a, err := c.srv.guard.Login(c.srv.ctx, c.srv.st, c.remote, user, pass)
	switch {
	case err == nil:
	case errors.Is(err, storage.ErrAuthFailed):
		c.log.Info("imap login failed", "login", user)
		return no("AUTHENTICATIONFAILED", "Invalid credentials")
	case errors.Is(err, authguard.ErrLocked):
		c.log.Info("imap login locked", "login", user)
		return no("UNAVAILABLE", "Too many failed logins, try again later")
	default:
		return c.fail("login", err)
	}
	c.acct, c.user, c.state = a.ID, a.Name, stateAuth
	c.log = c.log.With("account", a.Name)
	c.fc.LoggedIn() // the front's pre-login limits end
	// The device is recorded (front's OnLogin) by the name of the app
	// password it used; without one, by the name ID gave, if any. The
	// name goes in before the account so that one login is one record;
	// after UNAUTHENTICATE the front still holds the previous account, so
	// then the account goes first.
	first := c.fc.Account() == ""
	if a.AppPassword != "" && first {
		c.fc.SetClient(a.AppPassword)
	}
	c.fc.SetAccount(a.Name)
	if a.AppPassword != "" && !first {
		c.fc.SetClient(a.AppPassword)
	}
	c.log.Info("imap login", "tls", c.isTLS)
	var b strings.Builder
	b.WriteString("CAPABILITY")
	for _, s := range capsLoggedIn {
		b.WriteString(" " + s)
	}
	b.WriteString(" APPENDLIMIT=" + strconv.FormatInt(c.srv.opts.AppendLimit, 10))
	c.okCode = b.String()
	return nil
}

// cmdAuthenticate does SASL PLAIN (RFC 4616) and LOGIN, with an initial
// response (SASL-IR, RFC 4959) or after "+" (RFC 9051 6.2.2).
func (c *conn) cmdAuthenticate(cmd *wire.Command) error {
	a, err := wire.ParseAuthenticate(cmd.Args)
	if err != nil {
		return err
	}
	if a.Mechanism != "PLAIN" && a.Mechanism != "LOGIN" {
		return no("", "Unsupported authentication mechanism")
	}
	if !c.plaintextOK() {
		return no("PRIVACYREQUIRED", "Use TLS (STARTTLS or port 993) to log in")
	}
	first := func(prompt string) ([]byte, error) {
		if a.HasInitial {
			if a.Initial == "=" {
				return []byte{}, nil
			}
			return base64.StdEncoding.DecodeString(a.Initial)
		}
		return c.saslResponse(prompt)
	}
	if a.Mechanism == "LOGIN" {
		user, err := first("VXNlcm5hbWU6") // "Username:"
		if err != nil {
			return err
		}
		pass, err := c.saslResponse("UGFzc3dvcmQ6") // "Password:"
		if err != nil {
			return err
		}
		return c.login(string(user), string(pass))
	}
	resp, err := first("")
	if err != nil {
		return err
	}
	parts := strings.Split(string(resp), "\x00")
	if len(parts) != 3 || (parts[0] != "" && parts[0] != parts[1]) {
		return bad("", "Invalid PLAIN response")
	}
	return c.login(parts[1], parts[2])
}

var errSASLCancelled = bad("", "Authentication cancelled")

// saslResponse sends a challenge and reads the client's base64 answer.
func (c *conn) saslResponse(challenge string) ([]byte, error) {
	c.w.Continuation(challenge)
	if err := c.w.Flush(); err != nil {
		return nil, errHangUp
	}
	line, err := c.r.ReadLine()
	if err != nil {
		var ce *wire.CommandError
		if errors.As(err, &ce) {
			return nil, bad("", "Line too long")
		}
		return nil, errHangUp
	}
	if string(line) == "*" {
		return nil, errSASLCancelled
	}
	b, err := base64.StdEncoding.DecodeString(string(line))
	if err != nil {
		return nil, bad("", "Invalid base64")
	}
	return b, nil
}

// cmdCompress turns on DEFLATE (RFC 4978): the OK goes out uncompressed,
// everything after it compressed; each burst of responses ends with a
// sync flush (deadlineWriter), so the client can decode all of it.
//
// Clients end each command's bytes in one of two ways: a sync flush (an
// empty stored block: zlib's Z_SYNC_FLUSH, Python, Go) or a partial flush
// (an empty fixed-Huffman block: zlib's Z_PARTIAL_FLUSH, which mbsync
// uses). Go's compress/flate hands out a block's bytes only once it has
// read the next block's header or a stored block, so after a partial
// flush the command sat decoded but unread while mbsync waited for its
// answer (the stall that kept COMPRESS=DEFLATE unadvertised).
// klauspost/compress's reader with WithPartialBlock hands out every block
// as soon as it ends.
func (c *conn) cmdCompress(cmd *wire.Command) error {
	if len(cmd.Args) != 1 || !cmd.Args[0].IsAtom("DEFLATE") {
		return bad("", "Only COMPRESS DEFLATE is supported")
	}
	if c.compress {
		return no("COMPRESSIONACTIVE", "Compression is already on")
	}
	if c.br.Buffered() > 0 {
		return bad("", "Commands sent after COMPRESS before its answer")
	}
	c.w.Status(cmd.Tag, wire.OK, "", "DEFLATE active")
	if err := c.end(); err != nil {
		return errHangUp
	}
	c.compress = true
	c.in = flate.NewReaderOpts(c.nc, flate.WithPartialBlock())
	c.newReader()
	c.begin() // with a compressor from now on
	c.log.Info("imap COMPRESS on")
	return errNoTagged
}

// cmdEnable (RFC 5161, RFC 9051 6.3.1): IMAP4rev2, UTF8=ACCEPT (RFC 6855),
// CONDSTORE and QRESYNC (RFC 7162).
func (c *conn) cmdEnable(cmd *wire.Command) error {
	caps, err := wire.ParseEnable(cmd.Args)
	if err != nil {
		return err
	}
	var on []string
	for _, cp := range caps {
		switch string(cp) {
		case "IMAP4REV2":
			if !c.rev2 {
				c.rev2 = true
				on = append(on, "IMAP4rev2")
			}
		case "CONDSTORE":
			if !c.condstore {
				c.enableCondStore()
				on = append(on, "CONDSTORE")
			}
		case "QRESYNC":
			if !c.qresync {
				if !c.condstore {
					on = append(on, "CONDSTORE")
				}
				c.enableQResync()
				on = append(on, "QRESYNC")
			}
		case "UTF8=ACCEPT":
			if !c.utf8 {
				c.utf8 = true
				c.w.UTF8 = true
				on = append(on, "UTF8=ACCEPT")
			}
		}
	}
	c.w.Untagged().Atom("ENABLED")
	for _, s := range on {
		c.w.Atom(s)
	}
	c.w.End()
	return nil
}

// cmdUnauthenticate returns to the not-authenticated state (RFC 8437).
func (c *conn) cmdUnauthenticate(cmd *wire.Command) error {
	c.unselect()
	c.log.Info("imap unauthenticate")
	c.acct, c.user, c.state = 0, "", stateNotAuth
	c.rev2, c.utf8, c.condstore, c.qresync = false, false, false, false
	c.log = c.srv.log.With("remote", remoteIP(c.remote))
	return nil
}

// cmdNamespace: one personal namespace, no others (RFC 2342, RFC 9051
// 6.3.10).
func (c *conn) cmdNamespace(cmd *wire.Command) error {
	c.w.Untagged().Atom("NAMESPACE").BeginList().BeginList().Quoted("").Quoted(delim).EndList().EndList().NIL().NIL().End()
	return nil
}

// cmdIdle waits for changes and pushes them (RFC 2177, RFC 9051 6.3.13)
// until DONE. The connection's goroutine writes; a second one reads the
// DONE line, so that a push never waits for the client.
func (c *conn) cmdIdle(cmd *wire.Command) error {
	if c.sel != nil {
		c.poll(true)
	}
	c.w.Continuation("idling")
	if err := c.end(); err != nil {
		return errHangUp
	}
	var line string
	var rerr error
	ready := make(chan struct{})
	c.fc.SetBusy(false) // waiting: Shutdown may say BYE at once
	go func() {
		l, err := c.r.ReadLine()
		line, rerr = string(l), err
		close(ready)
	}()
	if !c.pushWhile(ready, true) {
		c.nc.Close() // the reader goroutine ends too
		<-ready
		return errHangUp
	}
	c.fc.SetBusy(true)
	c.begin()
	if rerr != nil {
		var ce *wire.CommandError
		if errors.As(rerr, &ce) {
			return bad("", "Expected DONE")
		}
		c.readFailed(rerr)
		return errHangUp
	}
	if !strings.EqualFold(line, "DONE") {
		return bad("", "Expected DONE")
	}
	return nil
}
