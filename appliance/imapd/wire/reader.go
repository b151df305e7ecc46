package wire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Kind says what a Node is.
type Kind uint8

const (
	// Atom is a bare word: an atom, a number, a sequence set, a flag
	// ("\Seen"), a list-mailbox pattern ("%"), or a FETCH item with its
	// section ("BODY.PEEK[HEADER.FIELDS]<0.100>").
	Atom Kind = iota + 1
	// Quoted is a quoted string, escapes removed (RFC 9051 4.3).
	Quoted
	// Literal is a literal {n}, {n+}, ~{n} or ~{n+} (RFC 9051 4.3, RFC 7888).
	Literal
	// List is a parenthesised list (RFC 9051 4.4).
	List
	// NIL is the atom NIL, in any case (RFC 9051 4.5). Where an astring is
	// expected it reads as the name "NIL".
	NIL
)

func (k Kind) String() string {
	switch k {
	case Atom:
		return "atom"
	case Quoted:
		return "quoted string"
	case Literal:
		return "literal"
	case List:
		return "list"
	case NIL:
		return "NIL"
	}
	return "nothing"
}

// Node is one argument of a command.
type Node struct {
	Kind Kind
	// Value is the text of an Atom or NIL as sent, the unescaped content
	// of a Quoted, and the bytes of a Literal unless they were Streamed.
	// An Atom whose brackets held a header-list (BODY[HEADER.FIELDS (A B)])
	// keeps the brackets without it ("BODY[HEADER.FIELDS]") and the list's
	// items in List.
	Value string
	// List holds the items of a List, or of an Atom's header-list.
	List []Node
	// Binary marks a literal8 (~{n}, RFC 3516): it may hold NUL bytes.
	Binary bool
	// Streamed marks a Literal whose bytes went to the writer the
	// LiteralFunc returned instead of Value.
	Streamed bool
	// Size is the byte count of a Literal.
	Size int64
}

// Command is one command line with its literals.
type Command struct {
	Tag string
	// Name is the command's name in upper case; for "UID FETCH" it is
	// "FETCH" and UID is set.
	Name string
	UID  bool
	Args []Node
}

// LiteralInfo describes a literal before any of its bytes are read, so
// that the server can refuse it (NO [TOOBIG], NO [TRYCREATE]) or send it
// somewhere other than memory.
type LiteralInfo struct {
	Tag, Name string
	UID       bool
	// Args are the command's top-level arguments complete so far (for
	// APPEND, Args[0] is the mailbox), valid during the call only.
	Args   []Node
	Size   int64
	Sync   bool // {n}: the client waits for "+" before sending
	Binary bool // ~{n}
}

// LiteralFunc is called for each literal that is within the size limits
// before a byte of it is read (and, for a synchronising literal, before
// the continuation request). A non-nil error refuses the literal: the
// command is answered with it (a *CommandError as is, any other error
// as NO with its text) and skipped. A non-nil writer receives the bytes
// instead of Node.Value; if the command then fails, the server discards
// what the writer got.
type LiteralFunc func(LiteralInfo) (io.Writer, error)

// Options bound what one command may cost. Zero values mean the
// defaults named on each field.
type Options struct {
	// MaxLine bounds the bytes of a command outside its literals
	// (64 KiB). Longer commands are skipped and answered BAD.
	MaxLine int
	// MaxLiteral bounds one literal (64 MiB). A larger synchronising
	// literal is refused with NO [TOOBIG] before the client sends it.
	MaxLiteral int64
	// MaxNonSync bounds a non-synchronising literal ({n+}); 0 means
	// MaxLiteral. A LITERAL- server sets 4096 (RFC 7888 4): a larger one
	// is read, thrown away and answered BAD [TOOBIG].
	MaxNonSync int64
	// MaxDiscard bounds the bytes read and thrown away while skipping a
	// bad command (MaxLiteral + 1 MiB). Beyond it the error is fatal.
	MaxDiscard int64
	// MaxDepth bounds the nesting of parenthesised lists (32).
	MaxDepth int
	// MaxArgs bounds the nodes of one command, nested ones included (4096).
	MaxArgs int
	// Literal vets literals; nil accepts every literal within the limits.
	Literal LiteralFunc
	// Continue sends the continuation request ("+ ...") for a synchronising
	// literal and flushes it. Without it a synchronising literal is fatal.
	Continue func() error
}

func (o Options) withDefaults() Options {
	if o.MaxLine <= 0 {
		o.MaxLine = 64 << 10
	}
	if o.MaxLiteral <= 0 {
		o.MaxLiteral = 64 << 20
	}
	if o.MaxNonSync <= 0 || o.MaxNonSync > o.MaxLiteral {
		o.MaxNonSync = o.MaxLiteral
	}
	if o.MaxDiscard <= 0 {
		o.MaxDiscard = o.MaxLiteral + 1<<20
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = 32
	}
	if o.MaxArgs <= 0 {
		o.MaxArgs = 4096
	}
	return o
}

// Status is the status of a tagged or untagged status response.
type Status string

const (
	OK      Status = "OK"
	NO      Status = "NO"
	BAD     Status = "BAD"
	PREAUTH Status = "PREAUTH"
	BYE     Status = "BYE"
)

// CommandError is a command the reader or a typed parser rejected. The
// reader has consumed it to its end, literals included, so the
// connection goes on: answer Tag (untagged "*" when empty) with Status,
// Code and Text. Err is the cause for the log, never sent.
type CommandError struct {
	Tag    string
	Status Status
	Code   string
	Text   string
	Err    error
}

func (e *CommandError) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Status))
	if e.Code != "" {
		b.WriteString(" [" + e.Code + "]")
	}
	b.WriteString(" " + e.Text)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *CommandError) Unwrap() error { return e.Err }

// Bad is the error of a command whose syntax is wrong.
func Bad(format string, args ...any) *CommandError {
	return &CommandError{Status: BAD, Text: fmt.Sprintf(format, args...)}
}

// ErrFatal marks errors after which the connection must close: a
// command too long or too big to skip, or the client broke the protocol
// so that its next command cannot be found. I/O errors are returned as
// they are; io.EOF between commands means the client left.
var ErrFatal = errors.New("imap wire: connection cannot go on")

// IsFatal reports whether err ends the connection: every error of
// ReadCommand except a *CommandError.
func IsFatal(err error) bool {
	var ce *CommandError
	return err != nil && !errors.As(err, &ce)
}

// Reader reads commands from a client. It is not safe for concurrent use.
type Reader struct {
	br  *bufio.Reader
	opt Options

	line []byte // the current segment of the command, CRLF removed
	pos  int
	used int // bytes of the command outside literals so far
	segs int // segments read for this command
	node int // nodes so far

	// The segment ends with a literal marker whose bytes the client sends
	// (or will send once told "+") and have not been read.
	pend       bool
	pendSize   int64
	pendSync   bool
	contSent   bool
	tail       []byte // last bytes of a segment too long to keep
	head       []byte // the tag of a first segment too long to keep
	tooLong    bool
	discardBud int64

	cmd  Command
	args *[]Node
}

// NewReader returns a Reader of commands from br.
func NewReader(br *bufio.Reader, opt Options) *Reader {
	return &Reader{br: br, opt: opt.withDefaults()}
}

// SetLiteralFunc replaces Options.Literal, e.g. once a session knows its
// APPENDLIMIT.
func (r *Reader) SetLiteralFunc(f LiteralFunc) { r.opt.Literal = f }

// ReadLine reads one line outside a command, for AUTHENTICATE's responses
// and IDLE's DONE (RFC 9051 6.2.2, RFC 2177). The line has its CRLF removed
// and stays valid until the next read. A longer line than MaxLine is
// skipped and answered with a *CommandError.
func (r *Reader) ReadLine() ([]byte, error) {
	r.used, r.segs = 0, 0
	r.discardBud = r.opt.MaxDiscard
	if err := r.readSegment(); err != nil {
		return nil, err
	}
	if r.tooLong {
		return nil, Bad("Line too long")
	}
	r.pend = false
	return r.line, nil
}

// maxEmptyLines is how many empty lines ReadCommand passes over silently.
const maxEmptyLines = 16

// ReadCommand reads the next command. A few empty lines are skipped. A
// *CommandError is a rejected command that has been consumed whole; any
// other error is fatal (IsFatal).
func (r *Reader) ReadCommand() (*Command, error) {
	if cap(r.line) > 16<<10 {
		r.line = nil // an idle session keeps no long line's buffer
	}
	for empty := 0; ; empty++ {
		r.used, r.segs, r.node = 0, 0, 0
		r.cmd = Command{}
		r.discardBud = r.opt.MaxDiscard
		if err := r.readSegment(); err != nil {
			return nil, err
		}
		if len(r.line) > 0 || r.tooLong || r.pend {
			break
		}
		// Clients send a stray CRLF now and then; a stream of them is
		// answered, so that each call returns within bounded input.
		if empty == maxEmptyLines {
			return nil, Bad("Empty command line")
		}
	}
	err := r.parseCommand()
	if err == nil {
		cmd := r.cmd
		return &cmd, nil
	}
	var ce *CommandError
	if !errors.As(err, &ce) {
		return nil, err
	}
	// A copy: the LiteralFunc may return a shared error value.
	out := *ce
	out.Tag = r.cmd.Tag
	if err := r.skip(); err != nil {
		return nil, err
	}
	return nil, &out
}

// readSegment reads up to the next LF into r.line and notes a literal
// marker at its end. A segment that would pass MaxLine is read to its end
// and thrown away (keeping a tail to find a marker); tooLong says so.
func (r *Reader) readSegment() error {
	r.line, r.pos, r.tooLong, r.pend, r.contSent = r.line[:0], 0, false, false, false
	r.tail = r.tail[:0]
	r.segs++
	first := true
	for {
		chunk, err := r.br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) && first && len(chunk) == 0 && r.segs == 1 {
				return io.EOF
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("reading command: %w", err)
		}
		first = false
		if !r.tooLong && r.used+len(r.line)+len(chunk) > r.opt.MaxLine+2 {
			r.tooLong = true
			if r.segs == 1 {
				// Keep the tag, to answer the command by it.
				r.head = append(append(r.head[:0], r.line...), chunk...)
				if i := bytes.IndexByte(r.head, ' '); i >= 0 {
					r.head = r.head[:i]
				}
				if len(r.head) > 64 {
					r.head = r.head[:0]
				}
			}
			r.tail = append(r.tail, r.line...)
			r.line = r.line[:0]
		}
		if r.tooLong {
			r.discardBud -= int64(len(chunk))
			if r.discardBud < 0 {
				return fmt.Errorf("%w: command line longer than %d bytes", ErrFatal, r.opt.MaxDiscard)
			}
			r.tail = append(r.tail, chunk...)
			if len(r.tail) > 64 {
				r.tail = append(r.tail[:0], r.tail[len(r.tail)-64:]...)
			}
		} else {
			r.line = append(r.line, chunk...)
		}
		if err == nil {
			break
		}
	}
	seg := r.line
	if r.tooLong {
		seg = r.tail
	}
	seg = seg[:len(seg)-1]
	if n := len(seg); n > 0 && seg[n-1] == '\r' {
		seg = seg[:n-1]
	}
	if r.tooLong {
		r.tail = seg
	} else {
		r.line = seg
		r.used += len(seg)
	}
	r.pendSize, r.pendSync, r.pend = literalMarker(seg)
	return nil
}

// literalMarker finds "{n}", "{n+}" or their "~" forms at the end of seg.
func literalMarker(seg []byte) (size int64, sync, ok bool) {
	n := len(seg)
	if n < 3 || seg[n-1] != '}' {
		return 0, false, false
	}
	i := n - 2
	sync = true
	if seg[i] == '+' {
		sync = false
		i--
	}
	end := i + 1
	for i >= 0 && seg[i] >= '0' && seg[i] <= '9' {
		i--
	}
	if i < 0 || seg[i] != '{' || end-i-1 == 0 || end-i-1 > 19 {
		return 0, false, false
	}
	for _, c := range seg[i+1 : end] {
		size = size*10 + int64(c-'0')
	}
	if size < 0 {
		return 0, false, false
	}
	return size, sync, true
}

// skip consumes the rest of a rejected command: the literals the client
// sends without waiting, and the segments after them. A synchronising
// literal the client was not told to send ends the command.
func (r *Reader) skip() error {
	for r.pend {
		if r.pendSync && !r.contSent {
			r.pend = false
			return nil
		}
		if r.pendSize > r.discardBud {
			return fmt.Errorf("%w: literal of %d bytes in a rejected command", ErrFatal, r.pendSize)
		}
		r.discardBud -= r.pendSize
		if _, err := io.CopyN(io.Discard, r.br, r.pendSize); err != nil {
			return fmt.Errorf("skipping literal: %w", unexpected(err))
		}
		if err := r.readSegment(); err != nil {
			return err
		}
	}
	return nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (r *Reader) eol() bool { return r.pos >= len(r.line) }

func (r *Reader) peek() byte {
	if r.pos < len(r.line) {
		return r.line[r.pos]
	}
	return 0
}

func (r *Reader) parseCommand() error {
	if r.tooLong {
		if r.validTag(r.head) {
			r.cmd.Tag = string(r.head)
		}
		return Bad("Command line too long")
	}
	// tag = 1*<any ASTRING-CHAR except "+">
	start := r.pos
	for !r.eol() && r.line[r.pos] != ' ' {
		if !isTagChar(r.line[r.pos]) {
			return Bad("Invalid tag")
		}
		r.pos++
	}
	if r.pos == start {
		return Bad("Invalid tag")
	}
	r.cmd.Tag = string(r.line[start:r.pos])
	name, err := r.commandName()
	if err != nil {
		return err
	}
	if name == "UID" {
		r.cmd.UID = true
		if name, err = r.commandName(); err != nil {
			return err
		}
	}
	r.cmd.Name = name
	r.args = &r.cmd.Args
	defer func() { r.args = nil }()
	for !r.eol() {
		if r.line[r.pos] != ' ' {
			return Bad("Expected space")
		}
		r.pos++
		if r.eol() && !r.pend {
			break // a trailing space, which some clients send
		}
		n, err := r.parseNode(0)
		if err != nil {
			return err
		}
		r.cmd.Args = append(r.cmd.Args, n)
	}
	return nil
}

func (r *Reader) validTag(b []byte) bool {
	for _, c := range b {
		if !isTagChar(c) {
			return false
		}
	}
	return len(b) > 0
}

func (r *Reader) commandName() (string, error) {
	if r.eol() || r.line[r.pos] != ' ' {
		return "", Bad("Missing command")
	}
	r.pos++
	start := r.pos
	for !r.eol() && r.line[r.pos] != ' ' {
		c := r.line[r.pos]
		if !isAtomChar(c) || c == '[' || c == ']' {
			return "", Bad("Invalid command name")
		}
		r.pos++
	}
	if r.pos == start {
		return "", Bad("Missing command")
	}
	return upper(r.line[start:r.pos]), nil
}

// upper returns b in upper case, sparing an allocation for common names.
func upper(b []byte) string {
	for _, name := range commonNames {
		if len(name) == len(b) && equalFold(b, name) {
			return name
		}
	}
	return strings.ToUpper(string(b))
}

var commonNames = []string{"FETCH", "UID", "SEARCH", "STORE", "SELECT", "EXAMINE",
	"NOOP", "IDLE", "LIST", "STATUS", "APPEND", "LOGIN", "LOGOUT", "CAPABILITY",
	"EXPUNGE", "COPY", "MOVE", "ENABLE", "CLOSE", "UNSELECT", "CHECK", "LSUB", "ID"}

func equalFold(b []byte, s string) bool {
	for i := range len(b) {
		c := b[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func (r *Reader) count() error {
	r.node++
	if r.node > r.opt.MaxArgs {
		return Bad("Too many arguments")
	}
	return nil
}

func (r *Reader) parseNode(depth int) (Node, error) {
	if err := r.count(); err != nil {
		return Node{}, err
	}
	if r.eol() {
		return Node{}, Bad("Missing argument")
	}
	switch c := r.line[r.pos]; {
	case c == '(':
		if depth+1 > r.opt.MaxDepth {
			return Node{}, Bad("Too deeply nested")
		}
		r.pos++
		items, err := r.parseItems(depth + 1)
		return Node{Kind: List, List: items}, err
	case c == '"':
		return r.parseQuoted()
	case c == '{':
		return r.parseLiteral(false)
	case c == '~' && r.pos+1 < len(r.line) && r.line[r.pos+1] == '{':
		r.pos++
		return r.parseLiteral(true)
	case c == ')':
		return Node{}, Bad("Unexpected )")
	case c == ' ':
		return Node{}, Bad("Unexpected space")
	case c < ' ' || c == 0x7f:
		return Node{}, Bad("Invalid character")
	}
	return r.parseWord(depth)
}

// parseItems reads list items up to the closing parenthesis.
func (r *Reader) parseItems(depth int) ([]Node, error) {
	var items []Node
	if r.eol() {
		return nil, Bad("Missing )")
	}
	if r.peek() == ')' {
		r.pos++
		return items, nil
	}
	for {
		n, err := r.parseNode(depth)
		if err != nil {
			return nil, err
		}
		items = append(items, n)
		switch {
		case r.eol():
			return nil, Bad("Missing )")
		case r.line[r.pos] == ')':
			r.pos++
			return items, nil
		case r.line[r.pos] == ' ':
			r.pos++
		default:
			return nil, Bad("Expected space or )")
		}
	}
}

func (r *Reader) parseQuoted() (Node, error) {
	r.pos++
	start := r.pos
	// Fast path: no escapes.
	for i := r.pos; i < len(r.line); i++ {
		switch c := r.line[i]; c {
		case '"':
			r.pos = i + 1
			return Node{Kind: Quoted, Value: string(r.line[start:i])}, nil
		case '\\':
			return r.parseEscaped(start)
		case 0:
			return Node{}, Bad("NUL in quoted string")
		case '\r':
			return Node{}, Bad("CR in quoted string")
		}
	}
	return Node{}, Bad("Unterminated quoted string")
}

func (r *Reader) parseEscaped(start int) (Node, error) {
	var b strings.Builder
	for i := start; i < len(r.line); i++ {
		switch c := r.line[i]; c {
		case '"':
			r.pos = i + 1
			return Node{Kind: Quoted, Value: b.String()}, nil
		case '\\':
			i++
			if i >= len(r.line) || (r.line[i] != '"' && r.line[i] != '\\') {
				return Node{}, Bad("Invalid escape in quoted string")
			}
			b.WriteByte(r.line[i])
		case 0:
			return Node{}, Bad("NUL in quoted string")
		case '\r':
			return Node{}, Bad("CR in quoted string")
		default:
			b.WriteByte(c)
		}
	}
	return Node{}, Bad("Unterminated quoted string")
}

func (r *Reader) parseLiteral(binary bool) (Node, error) {
	// The marker must end the segment: readSegment has parsed it already.
	size, sync, ok := literalMarker(r.line[r.pos:])
	if !ok || !r.pend {
		return Node{}, Bad("Invalid literal")
	}
	r.pos = len(r.line)
	limit := r.opt.MaxLiteral
	if !sync {
		limit = r.opt.MaxNonSync
	}
	if size > limit {
		if sync {
			r.pend = false // the client waits for "+" that never comes
			return Node{}, &CommandError{Status: NO, Code: "TOOBIG", Text: "Literal too big"}
		}
		return Node{}, &CommandError{Status: BAD, Code: "TOOBIG", Text: "Literal too big"}
	}
	var dst io.Writer
	if r.opt.Literal != nil {
		info := LiteralInfo{Tag: r.cmd.Tag, Name: r.cmd.Name, UID: r.cmd.UID,
			Size: size, Sync: sync, Binary: binary}
		if r.args != nil {
			info.Args = *r.args
		}
		var err error
		dst, err = r.opt.Literal(info)
		if err != nil {
			if sync {
				r.pend = false
			}
			var ce *CommandError
			if errors.As(err, &ce) {
				return Node{}, ce
			}
			return Node{}, &CommandError{Status: NO, Text: err.Error(), Err: err}
		}
	}
	if sync {
		if r.opt.Continue == nil {
			return Node{}, fmt.Errorf("%w: synchronising literal without a continuation writer", ErrFatal)
		}
		if err := r.opt.Continue(); err != nil {
			return Node{}, fmt.Errorf("sending continuation: %w", err)
		}
		r.contSent = true
	}
	n := Node{Kind: Literal, Binary: binary, Size: size}
	if dst != nil {
		n.Streamed = true
		sw := &sinkWriter{w: dst}
		if _, err := io.CopyN(sw, r.br, size); err != nil {
			return Node{}, fmt.Errorf("reading literal: %w", unexpected(err))
		}
		if sw.err != nil {
			r.pend = false
			if err := r.readSegment(); err != nil {
				return Node{}, err
			}
			return Node{}, &CommandError{Status: NO, Code: "SERVERBUG", Text: "Literal not stored", Err: sw.err}
		}
	} else {
		var b strings.Builder
		b.Grow(int(min(size, 1<<20)))
		if _, err := io.CopyN(&b, r.br, size); err != nil {
			return Node{}, fmt.Errorf("reading literal: %w", unexpected(err))
		}
		n.Value = b.String()
	}
	r.pend = false
	if err := r.readSegment(); err != nil {
		return Node{}, err
	}
	if r.tooLong {
		return Node{}, Bad("Command line too long")
	}
	return n, nil
}

// sinkWriter keeps reading the literal after its destination failed, so
// that the command can still be consumed to its end.
type sinkWriter struct {
	w   io.Writer
	err error
}

func (s *sinkWriter) Write(p []byte) (int, error) {
	if s.err == nil {
		_, s.err = s.w.Write(p)
	}
	return len(p), nil
}

// sectionAtoms are the FETCH items whose "[" opens a section that may
// hold spaces and a header-list (RFC 9051 6.4.5).
var sectionAtoms = []string{"BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE"}

func (r *Reader) parseWord(depth int) (Node, error) {
	start := r.pos
	for !r.eol() {
		c := r.line[r.pos]
		if c == '[' && isSectionAtom(r.line[start:r.pos]) {
			prefix, list, err := r.parseSection(depth, start)
			if err != nil {
				return Node{}, err
			}
			if prefix != "" {
				// The header-list may have held literals: r.line is
				// another segment now, so the word is put together.
				p0 := r.pos
				for !r.eol() && isWordChar(r.line[r.pos]) {
					r.pos++
				}
				return Node{Kind: Atom, Value: prefix + "]" + string(r.line[p0:r.pos]), List: list}, nil
			}
			continue
		}
		if !isWordChar(c) {
			break
		}
		r.pos++
	}
	w := r.line[start:r.pos]
	if len(w) == 3 && equalFold(w, "NIL") {
		return Node{Kind: NIL, Value: string(w)}, nil
	}
	if s, ok := interned[string(w)]; ok { // the lookup does not allocate
		return Node{Kind: Atom, Value: s}, nil
	}
	return Node{Kind: Atom, Value: string(w)}, nil
}

// interned are atoms clients send in nearly every command; reading them
// costs no allocation.
var interned = func() map[string]string {
	m := map[string]string{}
	for _, s := range strings.Fields(`FLAGS UID RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE
		BODY MODSEQ ALL FAST FULL CHANGEDSINCE VANISHED UNCHANGEDSINCE RETURN CHARSET UTF-8 MIN MAX COUNT
		SAVE DELETED UNDELETED SEEN UNSEEN FLAGGED UNFLAGGED ANSWERED UNANSWERED DRAFT NOT OR SINCE
		BEFORE ON FROM TO CC BCC SUBJECT HEADER TEXT 1 1:* INBOX \Seen \Deleted \Flagged \Answered
		\Draft $Junk $NotJunk $Forwarded +FLAGS -FLAGS FLAGS.SILENT +FLAGS.SILENT -FLAGS.SILENT
		BODY.PEEK[] BODY[] BODY.PEEK[HEADER] BODY.PEEK[TEXT] BODY[HEADER] BODY[TEXT] MESSAGES UIDNEXT
		UIDVALIDITY UNSEEN HIGHESTMODSEQ RECENT SIZE CONDSTORE QRESYNC SUBSCRIBED CHILDREN SPECIAL-USE
		STATUS From To Cc Bcc Subject Date Message-ID References In-Reply-To Content-Type Reply-To
		Priority X-Priority Newsgroups Sender List-Post X-Mailer DATE MESSAGE-ID REFERENCES IN-REPLY-TO
		CONTENT-TYPE REPLY-TO SENDER PRIORITY X-PRIORITY NEWSGROUPS`) {
		m[s] = s
	}
	return m
}()

func isSectionAtom(b []byte) bool {
	for _, s := range sectionAtoms {
		if len(s) == len(b) && equalFold(b, s) {
			return true
		}
	}
	return false
}

// parseSection reads "[...]" after a section atom. Without a header-list
// r.pos ends after "]" and prefix is empty. With one, prefix is the word
// up to the space before the list, list its items, and r.pos is after "]".
func (r *Reader) parseSection(depth, start int) (prefix string, list []Node, err error) {
	r.pos++ // "["
	for !r.eol() {
		switch c := r.line[r.pos]; {
		case c == ']':
			r.pos++
			return "", nil, nil
		case c == ' ':
			prefix = string(r.line[start:r.pos])
			r.pos++
			if r.eol() || r.peek() != '(' {
				return "", nil, Bad("Expected header list in section")
			}
			if depth+1 > r.opt.MaxDepth {
				return "", nil, Bad("Too deeply nested")
			}
			r.pos++
			if list, err = r.parseItems(depth + 1); err != nil {
				return "", nil, err
			}
			if r.eol() || r.peek() != ']' {
				return "", nil, Bad("Missing ] after header list")
			}
			r.pos++
			if len(list) == 0 {
				return "", nil, Bad("Empty header list")
			}
			return prefix, list, nil
		case !isAtomChar(c):
			return "", nil, Bad("Invalid character in section")
		}
		r.pos++
	}
	return "", nil, Bad("Missing ]")
}
