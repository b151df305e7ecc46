package admin

// Export and import of an account's mail in the two standard formats, mbox
// (mboxrd) and Maildir, for postroomctl export/import and the web page.
//
// Both directions stream: a message's bytes go from the store to the file
// (or back) through a small buffer, never a whole mailbox in memory. Over
// the control socket the request names a file on the box (postroomctl runs
// there), so no message travels through the JSON socket.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"postroom/storage"
)

// The formats.
const (
	FormatMbox    = "mbox"
	FormatMaildir = "maildir"
)

// ExportMail writes an account's mail to Path on the box: one mailbox
// (Mailbox set) or every one. mbox: with a Mailbox, Path is the mbox file;
// without, Path is a folder that gets one NAME.mbox per mailbox ("/" in
// names becomes "."). maildir: Path is the Maildir; INBOX (or the one
// Mailbox asked for) is its root and every other mailbox a Maildir++ folder
// ".Sent", ".Archive.2024". Existing files are never overwritten.
type ExportMail struct {
	Account string `json:"account"`
	Mailbox string `json:"mailbox,omitempty"`
	Format  string `json:"format"`
	Path    string `json:"path"`
}

func (ExportMail) OpName() string { return "mail.export" }
func (ExportMail) readOnly()      {}

// TransferResult says what an export or import did.
type TransferResult struct {
	Mailboxes int   `json:"mailboxes"`
	Messages  int   `json:"messages"`          // written, or added
	Skipped   int   `json:"skipped,omitempty"` // import: already in the mailbox
	Bytes     int64 `json:"bytes"`
	Created   bool  `json:"created,omitempty"` // import: the mailbox was made
}

// ImportMail adds the messages of the mbox file or Maildir at Path to one
// mailbox of an account, making the mailbox if it is missing.
type ImportMail struct {
	Account string `json:"account"`
	Mailbox string `json:"mailbox"`
	Format  string `json:"format"`
	Path    string `json:"path"`
}

func (ImportMail) OpName() string { return "mail.import" }

// mailWriter is where an export goes: the two formats implement it. Add
// writes one message of mailbox box, read from body; Close finishes.
type mailWriter interface {
	Add(box string, m storage.Message, sender string, body io.Reader) (int64, error)
	Close() error
}

func checkTransfer(format, path string) error {
	if format != FormatMbox && format != FormatMaildir {
		return errorf(CodeInvalid, "format", "the format is mbox or maildir, not %q", format)
	}
	if !filepath.IsAbs(path) {
		return errorf(CodeInvalid, "path", "give the path on the box as an absolute path, not %q", path)
	}
	return nil
}

func (a *Admin) ExportMail(ctx context.Context, by Actor, req ExportMail) (TransferResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req ExportMail) (TransferResult, string, error) {
		var res TransferResult
		if err := checkTransfer(req.Format, req.Path); err != nil {
			return res, "", err
		}
		acct, err := a.account("account", req.Account)
		if err != nil {
			return res, "", err
		}
		boxes, err := a.st.Mailboxes(acct.ID)
		if err != nil {
			return res, "", internal("reading the mailboxes", err)
		}
		if req.Mailbox != "" {
			mb, err := a.st.Mailbox(acct.ID, req.Mailbox)
			if err != nil {
				return res, "", errorf(CodeNotFound, "mailbox", "%s has no mailbox %q", acct.Name, req.Mailbox)
			}
			boxes = []storage.Mailbox{mb}
		}
		var w mailWriter
		if req.Format == FormatMbox {
			w = &mboxWriter{path: req.Path, single: req.Mailbox != ""}
		} else {
			w = &maildirWriter{root: req.Path, rootBox: cmp(req.Mailbox, "INBOX")}
		}
		err = a.exportBoxes(ctx, acct.ID, boxes, w, &res)
		if cerr := w.Close(); err == nil && cerr != nil {
			err = internal("finishing "+req.Path, cerr)
		}
		if err != nil {
			a.log.Error("admin: export failed", "by", by, "op", req.OpName(), "account", acct.Name, "path", req.Path, "err", err)
			return res, "", err
		}
		// An export takes no lock (it only reads), but who copied whose
		// mail where belongs in the audit log all the same.
		a.log.Info(fmt.Sprintf("admin: exported %d messages of %s to %s (%s)", res.Messages, acct.Name, req.Path, req.Format), "by", by, "op", req.OpName())
		return res, "", nil
	})
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (a *Admin) exportBoxes(ctx context.Context, acct storage.AccountID, boxes []storage.Mailbox, w mailWriter, res *TransferResult) error {
	for _, mb := range boxes {
		msgs, err := a.st.Messages(acct, mb.ID)
		if err != nil {
			return internal("reading "+mb.Name, err)
		}
		res.Mailboxes++
		for _, m := range msgs {
			if err := ctx.Err(); err != nil {
				return err
			}
			obj, err := a.st.Object(m.Object)
			if err != nil {
				return internal(fmt.Sprintf("reading message %d of %s", m.UID, mb.Name), err)
			}
			body := a.st.OpenObjectBody(obj)
			n, err := w.Add(mb.Name, m, envelopeSender(obj.Prefix), body.Reader())
			body.Close()
			if err != nil {
				return internal(fmt.Sprintf("writing message %d of %s", m.UID, mb.Name), err)
			}
			res.Messages++
			res.Bytes += n
		}
	}
	return nil
}

// envelopeSender is the address of the Return-Path field the delivery put
// in front of the message, or MAILER-DAEMON (RFC 4155's choice when the
// sender is not known, and for bounces' empty one).
func envelopeSender(prefix []byte) string {
	for _, line := range bytes.Split(prefix, []byte("\n")) {
		name, val, ok := bytes.Cut(line, []byte(":"))
		if !ok || !strings.EqualFold(string(name), "Return-Path") {
			continue
		}
		s := strings.Trim(strings.TrimSpace(string(val)), "<>")
		if s != "" && !strings.ContainsAny(s, " \t") {
			return s
		}
	}
	return "MAILER-DAEMON"
}

// asctime is the date form of the mbox From line (RFC 4155), in UTC.
const asctime = "Mon Jan _2 15:04:05 2006"

// copyLines copies a stored message (CRLF lines) to w with LF lines, as
// files on Unix have them; quote puts a '>' before every line that reads
// ">*From " (mboxrd), so a reader can undo it exactly.
func copyLines(w *bufio.Writer, r io.Reader, quote bool) (int64, error) {
	br := bufio.NewReaderSize(r, 32<<10)
	var n int64
	atStart, cr := true, false
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			if cr && chunk[0] != '\n' { // a CR the last chunk ended with, not a line end
				w.WriteByte('\r')
				n++
			}
			cr = false
			if quote && atStart && isFromLine(chunk) {
				w.WriteByte('>')
				n++
			}
			complete := chunk[len(chunk)-1] == '\n'
			switch {
			case complete && len(chunk) >= 2 && chunk[len(chunk)-2] == '\r':
				chunk = append(chunk[:len(chunk)-2], '\n')
			case !complete && chunk[len(chunk)-1] == '\r':
				// A long line cut by the buffer between CR and LF: the
				// next chunk says which.
				chunk, cr = chunk[:len(chunk)-1], true
			}
			w.Write(chunk)
			n += int64(len(chunk))
			atStart = complete
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, err
		}
	}
	if cr {
		w.WriteByte('\r')
		n++
	}
	if !atStart { // every message ends with a line end in a file
		w.WriteByte('\n')
		n++
	}
	return n, nil
}

func isFromLine(line []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From "))
}

// mboxWriter writes mboxrd: one file, or one per mailbox in a folder.
type mboxWriter struct {
	path   string
	single bool
	box    string
	f      *os.File
	w      *bufio.Writer
}

func (m *mboxWriter) open(box string) error {
	if err := m.closeFile(); err != nil {
		return err
	}
	p := m.path
	if !m.single {
		if err := os.MkdirAll(m.path, 0o700); err != nil {
			return err
		}
		p = filepath.Join(m.path, strings.ReplaceAll(box, "/", ".")+".mbox")
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	m.f, m.w, m.box = f, bufio.NewWriterSize(f, 64<<10), box
	return nil
}

func (m *mboxWriter) Add(box string, msg storage.Message, sender string, body io.Reader) (int64, error) {
	if m.f == nil || box != m.box {
		if err := m.open(box); err != nil {
			return 0, err
		}
	}
	from := fmt.Sprintf("From %s %s\n%s", sender, msg.InternalDate.UTC().Format(asctime), mboxStatus(msg.Flags, msg.Keywords))
	m.w.WriteString(from)
	n, err := copyLines(m.w, body, true)
	if err != nil {
		return n, err
	}
	return n + int64(len(from)) + 1, m.w.WriteByte('\n') // the blank line that ends a message
}

// mboxStatus is the flags as mbox readers keep them (mutt, Thunderbird,
// Dovecot): Status "R" (seen) and "O" (not new), X-Status "A" (answered),
// "F" (flagged), "T" (draft), "D" (deleted). They go first in the header,
// and an import takes them out again, as Dovecot does, so a message's
// bytes come back as they were (one that had such fields of its own loses
// them: they are mbox state, not mail). Keywords go in X-Keywords, as
// Dovecot and Thunderbird write them.
func mboxStatus(f storage.Flags, keywords []string) string {
	st, x := "O", ""
	if f&storage.FlagSeen != 0 {
		st = "RO"
	}
	for _, c := range xStatus {
		if f&c.f != 0 {
			x += string(c.c)
		}
	}
	out := "Status: " + st + "\nX-Status: " + x + "\n"
	if len(keywords) > 0 {
		out += "X-Keywords: " + strings.Join(keywords, " ") + "\n"
	}
	return out
}

var xStatus = []struct {
	c byte
	f storage.Flags
}{{'A', storage.FlagAnswered}, {'F', storage.FlagFlagged}, {'T', storage.FlagDraft}, {'D', storage.FlagDeleted}}

func (m *mboxWriter) closeFile() error {
	if m.f == nil {
		return nil
	}
	err := m.w.Flush()
	if serr := m.f.Sync(); err == nil {
		err = serr
	}
	if cerr := m.f.Close(); err == nil {
		err = cerr
	}
	m.f = nil
	return err
}

// Close also makes the file of a single mailbox that has no message, so
// an export of an empty mailbox gives an empty mbox, not nothing.
func (m *mboxWriter) Close() error {
	if m.f == nil && m.single {
		if err := m.open(""); err != nil {
			return err
		}
	}
	return m.closeFile()
}

// maildirWriter writes a Maildir++: rootBox at the root, other mailboxes in
// ".Name" folders; each message a file in cur/ named with its flags.
// Keywords are letters a-z after the flags, each folder's dovecot-keywords
// file naming them (Dovecot's way; the first 26 keywords of a folder).
type maildirWriter struct {
	root     string
	rootBox  string
	made     map[string]bool
	keywords map[string][]string // folder: its keywords by letter
}

func (m *maildirWriter) dir(box string) (string, error) {
	d := m.root
	if box != m.rootBox {
		d = filepath.Join(m.root, "."+strings.ReplaceAll(box, "/", "."))
	}
	if m.made[d] {
		return d, nil
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o700); err != nil {
			return "", err
		}
	}
	if m.made == nil {
		m.made = map[string]bool{}
	}
	m.made[d] = true
	return d, nil
}

// maildirFlags are the info letters of Maildir names, in ASCII order as
// the format asks.
var maildirFlags = []struct {
	c byte
	f storage.Flags
}{{'D', storage.FlagDraft}, {'F', storage.FlagFlagged}, {'R', storage.FlagAnswered}, {'S', storage.FlagSeen}, {'T', storage.FlagDeleted}}

// maildirName is a message's file name in a Maildir's cur/ (its info
// part carries the flags, then the keywords' letters, which kws, the
// folder's keyword list, gains as needed), and the name without the info
// part for tmp/.
func maildirName(msg storage.Message, kws *[]string) (name, info string) {
	b := []byte(":2,")
	for _, mf := range maildirFlags {
		if msg.Flags&mf.f != 0 {
			b = append(b, mf.c)
		}
	}
	var letters []byte
	for _, k := range msg.Keywords {
		i := slices.Index(*kws, k)
		if i < 0 && len(*kws) < 26 {
			*kws = append(*kws, k)
			i = len(*kws) - 1
		}
		if i >= 0 {
			letters = append(letters, 'a'+byte(i))
		}
	}
	slices.Sort(letters)
	b = append(b, letters...)
	// A random part keeps names unique across exports into one Maildir
	// from one long-running process.
	var rnd [8]byte
	rand.Read(rnd[:])
	return fmt.Sprintf("%d.R%x.postroom", msg.InternalDate.Unix(), rnd), string(b)
}

// dovecotKeywords is the dovecot-keywords file of a folder's keywords.
func dovecotKeywords(kws []string) []byte {
	var b strings.Builder
	for i, k := range kws {
		fmt.Fprintf(&b, "%d %s\n", i, k)
	}
	return []byte(b.String())
}

func (m *maildirWriter) Add(box string, msg storage.Message, _ string, body io.Reader) (int64, error) {
	d, err := m.dir(box)
	if err != nil {
		return 0, err
	}
	if m.keywords == nil {
		m.keywords = map[string][]string{}
	}
	kws := m.keywords[d]
	name, info := maildirName(msg, &kws)
	m.keywords[d] = kws
	tmp := filepath.Join(d, "tmp", name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(f, 32<<10)
	n, err := copyLines(bw, body, false)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(tmp, msg.InternalDate, msg.InternalDate)
	}
	if err == nil {
		// A link, not a rename: it never replaces a file already there.
		err = os.Link(tmp, filepath.Join(d, "cur", name+info))
	}
	os.Remove(tmp)
	return n, err
}

// Close writes each folder's dovecot-keywords.
func (m *maildirWriter) Close() error {
	for d, kws := range m.keywords {
		if len(kws) == 0 {
			continue
		}
		if err := os.WriteFile(filepath.Join(d, "dovecot-keywords"), dovecotKeywords(kws), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// readDovecotKeywords reads a Maildir's keyword letters; none when the
// file is missing.
func readDovecotKeywords(root string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(root, "dovecot-keywords"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	kws := make([]string, 26)
	for _, line := range strings.Split(string(data), "\n") {
		num, k, ok := strings.Cut(strings.TrimSpace(line), " ")
		i, err := strconv.Atoi(num)
		if ok && err == nil && i >= 0 && i < 26 && k != "" {
			kws[i] = k
		}
	}
	return kws, nil
}

// importMsg is one message found in an mbox file or a Maildir: where its
// bytes are, and what the store keeps beside them.
type importMsg struct {
	path       string // the file (Maildir) or the mbox
	start, end int64  // mbox: the bytes after the From line, before the blank line
	date       time.Time
	flags      storage.Flags
	keywords   []string // mbox: X-Keywords
	size       int64    // CRLF octets, as the store counts them
	sum        [32]byte
}

func (a *Admin) ImportMail(ctx context.Context, by Actor, req ImportMail) (TransferResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req ImportMail) (TransferResult, string, error) {
		var res TransferResult
		if err := checkTransfer(req.Format, req.Path); err != nil {
			return res, "", err
		}
		acct, err := a.account("account", req.Account)
		if err != nil {
			return res, "", err
		}
		if req.Mailbox == "" {
			return res, "", errorf(CodeInvalid, "mailbox", "give the mailbox to import into")
		}
		// Read the whole source first, so a malformed one imports nothing.
		var msgs []importMsg
		if req.Format == FormatMbox {
			msgs, err = scanMbox(req.Path)
		} else {
			msgs, err = scanMaildir(req.Path)
		}
		if err != nil {
			return res, "", errorf(CodeInvalid, "path", "%v", err)
		}
		mb, err := a.st.Mailbox(acct.ID, req.Mailbox)
		if errors.Is(err, storage.ErrNoMailbox) {
			mb, err = a.createMailbox(acct.ID, req.Mailbox)
			res.Created = err == nil
		}
		if err != nil {
			return res, "", errorf(CodeInvalid, "mailbox", "mailbox %q: %v", req.Mailbox, err)
		}
		have, err := a.digests(acct.ID, mb.ID, msgs)
		if err != nil {
			return res, "", err
		}
		res.Mailboxes = 1
		for _, m := range msgs {
			if err := ctx.Err(); err != nil {
				return res, "", err
			}
			if have[m.sum] {
				res.Skipped++
				continue
			}
			f, err := os.Open(m.path)
			if err != nil {
				return res, "", internal("reading "+m.path, err)
			}
			var r io.Reader = f
			if req.Format == FormatMbox {
				r = newUnquoter(io.NewSectionReader(f, m.start, m.end-m.start))
			}
			_, err = a.st.Append(ctx, acct.ID, mb.Name, m.flags, m.keywords, m.date, r)
			f.Close()
			if err != nil {
				// A failure here (quota, full disk) leaves the messages
				// added so far; importing again adds only the rest.
				return res, "", internal(fmt.Sprintf("adding message %d of %d", res.Messages+res.Skipped+1, len(msgs)), err)
			}
			have[m.sum] = true
			res.Messages++
			res.Bytes += m.size
		}
		what := fmt.Sprintf("imported %d messages into %s of %s (%d already there)", res.Messages, mb.Name, acct.Name, res.Skipped)
		return res, what, nil
	})
}

// createMailbox makes a mailbox and the parents it lacks ("Old/2024"
// needs "Old"), as IMAP CREATE does.
func (a *Admin) createMailbox(acct storage.AccountID, name string) (storage.Mailbox, error) {
	parts := strings.Split(name, "/")
	for i := 1; i < len(parts); i++ {
		parent := strings.Join(parts[:i], "/")
		if _, err := a.st.Mailbox(acct, parent); errors.Is(err, storage.ErrNoMailbox) {
			if _, err := a.st.CreateMailbox(acct, parent, ""); err != nil {
				return storage.Mailbox{}, err
			}
		}
	}
	return a.st.CreateMailbox(acct, name, "")
}

// digests returns the SHA-256 of the mailbox's messages whose size is one
// of the imported ones' (storage.Digests says why the bytes decide).
func (a *Admin) digests(acct storage.AccountID, mbox storage.MailboxID, in []importMsg) (map[[32]byte]bool, error) {
	sizes := map[int64]bool{}
	for _, m := range in {
		sizes[m.size] = true
	}
	have, err := a.st.Digests(acct, mbox, sizes)
	if err != nil {
		return nil, internal("reading the mailbox", err)
	}
	return have, nil
}

// scanMbox finds the messages of an mboxrd file and checks it is whole:
// it starts with a From line, every From line has a date, and it ends with
// a line end. Returns no message at all when anything is wrong.
func scanMbox(path string) ([]importMsg, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var out []importMsg
	var off int64
	lineNo := 0
	atStart := true
	prevBlank := false
	var cur *importMsg
	finish := func(end int64) error {
		if cur == nil {
			return nil
		}
		if prevBlank {
			end-- // the blank line that ends a message is the format's
		}
		cur.end = end
		sf, err := os.Open(path)
		if err != nil {
			return err
		}
		u := newUnquoter(io.NewSectionReader(sf, cur.start, cur.end-cur.start))
		cur.sum, cur.size, err = storage.CRLFSum(u)
		cur.flags, cur.keywords = u.flags, u.keywords
		sf.Close()
		if err != nil {
			return err
		}
		out = append(out, *cur)
		return nil
	}
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			if atStart {
				lineNo++
			}
			if atStart && bytes.HasPrefix(chunk, []byte("From ")) {
				if err := finish(off); err != nil {
					return nil, err
				}
				d, derr := fromLineDate(chunk)
				if derr != nil {
					return nil, fmt.Errorf("%s line %d: %v", path, lineNo, derr)
				}
				cur = &importMsg{path: path, start: off + int64(len(chunk)), date: d}
				prevBlank = false
			} else {
				if cur == nil {
					return nil, fmt.Errorf("%s is not an mbox file: it does not start with a \"From \" line", path)
				}
				if atStart {
					prevBlank = string(chunk) == "\n" || string(chunk) == "\r\n"
				} else {
					prevBlank = false
				}
			}
			atStart = chunk[len(chunk)-1] == '\n'
			off += int64(len(chunk))
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if cur == nil {
		return nil, fmt.Errorf("%s is not an mbox file: it has no \"From \" line", path)
	}
	if !atStart {
		return nil, fmt.Errorf("%s is truncated: its last line has no end", path)
	}
	if err := finish(off); err != nil {
		return nil, err
	}
	return out, nil
}

// fromLineDate reads the asctime date at the end of an mbox From line;
// some writers add a time zone or "remote from", which is ignored.
func fromLineDate(line []byte) (time.Time, error) {
	fields := strings.Fields(string(line))
	for len(fields) >= 6 {
		s := strings.Join(fields[len(fields)-5:], " ")
		if t, err := time.Parse("Mon Jan _2 15:04:05 2006", s); err == nil {
			return t, nil
		}
		fields = fields[:len(fields)-1]
	}
	return time.Time{}, fmt.Errorf("the From line %q has no date", strings.TrimSpace(string(line)))
}

// unquoter undoes mboxrd's quoting: a line ">+From " loses one '>'. It
// also takes the Status and X-Status fields out of the header, keeping
// their flags (see mboxStatus).
type unquoter struct {
	br       *bufio.Reader
	atStart  bool
	inHeader bool
	pending  []byte
	flags    storage.Flags
	keywords []string
}

func newUnquoter(r io.Reader) *unquoter {
	return &unquoter{br: bufio.NewReaderSize(r, 32<<10), atStart: true, inHeader: true}
}

func (u *unquoter) Read(p []byte) (int, error) {
	for len(u.pending) == 0 {
		chunk, err := u.br.ReadSlice('\n')
		if len(chunk) > 0 {
			start := u.atStart
			u.atStart = chunk[len(chunk)-1] == '\n'
			if start && u.inHeader {
				if len(bytes.TrimRight(chunk, "\r\n")) == 0 {
					u.inHeader = false
				} else if u.status(chunk) {
					continue
				}
			}
			if start && chunk[0] == '>' && isFromLine(chunk) {
				chunk = chunk[1:]
			}
			u.pending = chunk
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return 0, err
		}
	}
	n := copy(p, u.pending)
	u.pending = u.pending[n:]
	return n, nil
}

// status reads a Status, X-Status or X-Keywords header line into u.flags
// and u.keywords and says whether it was one.
func (u *unquoter) status(line []byte) bool {
	name, val, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return false
	}
	switch strings.ToLower(string(name)) {
	case "status":
		if bytes.IndexByte(val, 'R') >= 0 {
			u.flags |= storage.FlagSeen
		}
	case "x-status":
		for _, c := range xStatus {
			if bytes.IndexByte(val, c.c) >= 0 {
				u.flags |= c.f
			}
		}
	case "x-keywords":
		for _, k := range strings.Fields(string(val)) {
			if !slices.Contains(u.keywords, k) {
				u.keywords = append(u.keywords, k)
			}
		}
	default:
		return false
	}
	return true
}

// scanMaildir lists the messages of a Maildir's cur/ and new/, in name
// order (the names start with the delivery time), with the flags of their
// names and their file time as the date.
func scanMaildir(root string) ([]importMsg, error) {
	var out []importMsg
	found := false
	kws, err := readDovecotKeywords(root)
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(root, sub))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = true
		sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
		for _, e := range ents {
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			p := filepath.Join(root, sub, e.Name())
			fi, err := e.Info()
			if err != nil {
				return nil, err
			}
			m := importMsg{path: p, date: fi.ModTime()}
			m.flags, m.keywords = maildirNameFlags(e.Name(), kws)
			f, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			m.sum, m.size, err = storage.CRLFSum(f)
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", p, err)
			}
			out = append(out, m)
		}
	}
	if !found {
		return nil, fmt.Errorf("%s is not a Maildir: it has no cur/ or new/ folder", root)
	}
	return out, nil
}

// maildirNameFlags reads the flags after ":2," of a Maildir file name,
// and keywords from the letters a-z that kws (dovecot-keywords) names;
// other letters (P, passed) are left out.
func maildirNameFlags(name string, kws []string) (storage.Flags, []string) {
	_, info, ok := strings.Cut(name, ":2,")
	if !ok {
		return 0, nil
	}
	var f storage.Flags
	var keywords []string
	for i := 0; i < len(info); i++ {
		c := info[i]
		for _, mf := range maildirFlags {
			if c == mf.c {
				f |= mf.f
			}
		}
		if c >= 'a' && c <= 'z' && int(c-'a') < len(kws) && kws[c-'a'] != "" && !slices.Contains(keywords, kws[c-'a']) {
			keywords = append(keywords, kws[c-'a'])
		}
	}
	return f, keywords
}
