package imapstress

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
)

// errStop ends a client's loop: the run's time or command budget is spent.
var errStop = errors.New("stop")

// client is one simulated mail program: one connection at a time, the view
// of its selected mailbox, and what it knows of the other mailboxes.
type client struct {
	id    int
	r     *runner
	rnd   *rand.Rand
	tr    transcript
	c     *conn
	caps  map[string]bool
	sel   *view
	anyKw bool // some mailbox offered \* in PERMANENTFLAGS

	main, other string
	ownKw       string // the keyword only this client stores

	uidNext     map[string]uint32 // the least UIDNEXT each mailbox can have now
	uidValidity map[string]uint32
	count       map[string]int // last known message count
	// ownKnown: the own keyword as this client last stored or saw it,
	// by mailbox and UID; it outlives a view, so a new SELECT is checked
	// against it too, and it covers messages appended or copied.
	ownKnown map[string]map[uint32]int8

	// notify: this client turns NOTIFY on (notifySet) when the server
	// offers it; notifyOn: it is on for this connection. Under it the
	// server may send EXPUNGE at any time, also between commands (RFC
	// 5465 5.3), so the client names messages by UID only, and a SELECT
	// leaves to the old view what comes before its [CLOSED].
	notify, notifyOn bool
	nextSel          *view // the view a pending SELECT opens at [CLOSED]

	tagN     int
	msgN     int
	draining bool // logging out at the end: not counted, not budgeted
	cur      *cmdState
	// pendingStore is the next command's ownStore (see storeOwn).
	pendingStore map[*msg]bool

	ops     map[string]int64 // commands completed, by command name
	waits   int64            // notifyWait runs
	pushed  int64            // responses read in them
	errs    map[string]int64
	allowed map[string]int64
}

// cmdState collects what the responses to one command said.
type cmdState struct {
	name     string
	fetched  map[*msg]map[string]val
	search   []uint32
	searched bool
	status   map[string]map[string]uint32
	listed   []string
	copyUID  []string // COPYUID arguments: uidvalidity, source set, destination set
	bye      bool
	expunged []*msg
	// ownStore: messages whose own keyword this STORE changes; a FETCH
	// during the command may show it either way.
	ownStore map[*msg]bool
	code     string // the tagged response's code
}

func newClient(r *runner, id int) *client {
	c := &client{
		id: id, r: r,
		rnd:         rand.New(rand.NewPCG(r.o.Seed, uint64(id))),
		ownKw:       fmt.Sprintf("$Stress%d", id),
		uidNext:     map[string]uint32{},
		uidValidity: map[string]uint32{},
		count:       map[string]int{},
		ownKnown:    map[string]map[uint32]int8{},
		ops:         map[string]int64{},
		errs:        map[string]int64{},
		allowed:     map[string]int64{},
		notify:      id >= r.o.Clients-r.notifyClients && id < r.o.Clients, // not setup's
	}
	c.main, c.other = r.mailboxes(id)
	return c
}

// loop runs random operations until the run ends.
func (c *client) loop() {
	backoff := 10 * time.Millisecond
	for !c.r.done() {
		if c.c == nil {
			if err := c.connect(); err != nil {
				if errors.Is(err, errStop) {
					return
				}
				c.record(err)
				c.close()
				select {
				case <-c.r.ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, time.Second)
				continue
			}
			backoff = 10 * time.Millisecond
		}
		err := c.step()
		if errors.Is(err, errStop) {
			break
		}
		if err != nil {
			c.record(err)
			// A NO leaves the session as it was (RFC 9051 7.1.2); anything
			// else may have left client and server disagreeing.
			var f *failure
			if !errors.As(err, &f) || f.fatal {
				c.close()
			}
		}
	}
	if c.c != nil {
		c.draining = true
		c.exec("LOGOUT", "LOGOUT", nil)
		c.close()
	}
}

func (c *client) close() {
	if c.c != nil {
		c.c.nc.Close()
	}
	c.c, c.sel = nil, nil
}

// record counts an error, and keeps the run's first with its transcript.
func (c *client) record(err error) {
	var f *failure
	if !errors.As(err, &f) {
		f = classify(err)
	}
	if f.allowed {
		c.allowed[f.kind]++
		return
	}
	c.errs[f.kind]++
	c.r.first(c, f)
}

// classify names an error that is not a protocol answer.
func classify(err error) *failure {
	var ne net.Error
	switch {
	case errors.Is(err, errProtocol):
		return &failure{kind: "syntax", detail: err.Error(), fatal: true}
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
		return &failure{kind: "connection: timeout", detail: err.Error(), fatal: true}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return &failure{kind: "connection: reset", detail: err.Error(), fatal: true}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &failure{kind: "connection: refused", detail: err.Error(), fatal: true}
	}
	if strings.Contains(err.Error(), "EOF") {
		return &failure{kind: "connection: closed by server", detail: err.Error(), fatal: true}
	}
	return &failure{kind: "connection: other", detail: err.Error(), fatal: true}
}

// connect dials, reads the greeting and logs in.
func (c *client) connect() error {
	if !c.draining && c.r.done() {
		return errStop
	}
	nc, err := net.DialTimeout("tcp", c.r.o.Addr, c.r.o.Timeout)
	if err != nil {
		return err
	}
	c.c = newConn(nc, &c.tr, c.r.o.Timeout)
	c.caps = map[string]bool{}
	c.sel, c.nextSel, c.notifyOn = nil, nil, false
	g, err := c.c.read()
	if err != nil {
		return err
	}
	st, code, text := statusText(g.rest)
	if g.tag != "*" || st != "OK" {
		return &failure{kind: "greeting", detail: fmt.Sprintf("%s %s", st, text), fatal: true}
	}
	c.capsFrom(code)
	if _, err := c.exec("LOGIN", "LOGIN "+quote(c.r.o.User)+" "+quote(c.r.o.Password), nil); err != nil {
		return err
	}
	if len(c.caps) == 0 || !c.caps["IMAP4REV1"] && !c.caps["IMAP4REV2"] {
		if _, err := c.exec("CAPABILITY", "CAPABILITY", nil); err != nil {
			return err
		}
	}
	if c.notify && c.caps["NOTIFY"] {
		if _, err := c.exec("NOTIFY", notifySet, nil); err != nil {
			return err
		}
		c.notifyOn = true
	}
	return nil
}

// notifySet is what a NOTIFY client asks for (RFC 5465): every change of
// the selected mailbox at once, new messages with their UID and flags,
// and elsewhere new mail, expunges and mailbox names.
const notifySet = "NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange)) (personal (MessageNew MessageExpunge MailboxName))"

func (c *client) capsFrom(code string) {
	if rest, ok := cutPrefixFold(code, "CAPABILITY "); ok {
		c.caps = map[string]bool{}
		for _, f := range strings.Fields(rest) {
			c.caps[strings.ToUpper(f)] = true
		}
	}
}

// exec sends one command and reads until its tagged response, applying
// every untagged response on the way. cont answers a continuation request
// ("+"), for a literal or IDLE. A NO or BAD is a failure named by the
// command and the response code.
func (c *client) exec(name, line string, cont func() error) (*cmdState, error) {
	if !c.draining && !c.r.take() {
		return nil, errStop
	}
	c.tagN++
	tag := fmt.Sprintf("c%d.%d", c.id, c.tagN)
	st := &cmdState{name: name, fetched: map[*msg]map[string]val{}, status: map[string]map[string]uint32{}, ownStore: c.pendingStore}
	c.cur = st
	defer func() { c.cur = nil }()
	if err := c.c.write(tag + " " + line + "\r\n"); err != nil {
		return st, err
	}
	for {
		resp, err := c.c.read()
		if err != nil {
			return st, err
		}
		switch resp.tag {
		case "*":
			if err := c.untagged(resp); err != nil {
				return st, err
			}
			continue
		case "+":
			if cont == nil {
				return st, &failure{kind: "syntax", detail: name + ": unexpected continuation request", fatal: true}
			}
			if err := cont(); err != nil {
				return st, err
			}
			continue
		case tag:
		default:
			return st, &failure{kind: "syntax", detail: fmt.Sprintf("%s: response tagged %q, want %q", name, resp.tag, tag), fatal: true}
		}
		status, code, text := statusText(resp.rest)
		st.code = code
		c.capsFrom(code)
		if !c.draining {
			c.ops[name]++
			c.r.commands.Add(1)
		}
		if status == "OK" {
			if word, rest, _ := strings.Cut(code, " "); strings.EqualFold(word, "COPYUID") {
				st.copyUID = strings.Fields(rest)
			}
			if st.bye && name != "LOGOUT" {
				return st, &failure{kind: "BYE", detail: name + ": the server said BYE", fatal: true}
			}
			return st, nil
		}
		kind := name + ": " + status
		if code != "" {
			word, _, _ := strings.Cut(code, " ")
			kind += " [" + strings.ToUpper(word) + "]"
		}
		return st, &failure{kind: kind, detail: text, fatal: status != "NO",
			allowed: (name == "UID COPY" || name == "UID MOVE") && strings.EqualFold(code, "EXPUNGEISSUED")}
	}
}

// untagged applies one untagged response to what the client knows.
func (c *client) untagged(resp *response) error {
	p := &parser{b: resp.rest}
	first, err := p.value()
	if err != nil {
		return err
	}
	st := c.cur
	if n, ok := first.num(); ok {
		p.sp()
		kind, err := p.value()
		if err != nil {
			return err
		}
		if c.sel == nil {
			return inconsistent("update-unselected", "%s with no mailbox selected", trimCRLF(resp.raw))
		}
		switch strings.ToUpper(kind.s) {
		case "EXISTS":
			return c.sel.exists(n)
		case "RECENT":
			return nil
		case "EXPUNGE":
			// Under NOTIFY with MessageExpunge for the selected mailbox an
			// EXPUNGE may come at any time (RFC 5465 5.3); the client
			// then uses UIDs only.
			if st != nil && !c.notifyOn && (st.name == "FETCH" || st.name == "STORE" || st.name == "SEARCH") {
				return inconsistent("expunge-during-"+strings.ToLower(st.name), "EXPUNGE %d sent while answering %s (RFC 9051 7.5.1)", n, st.name)
			}
			m, err := c.sel.expunge(n)
			if err == nil && st != nil {
				st.expunged = append(st.expunged, m)
			}
			return err
		case "FETCH":
			p.sp()
			items, err := p.value()
			if err != nil {
				return err
			}
			return c.fetch(n, items)
		}
		return fmt.Errorf("%w: unknown response %q", errProtocol, trimCRLF(resp.raw))
	}
	switch word := strings.ToUpper(first.s); word {
	case "OK", "NO", "BAD", "BYE", "PREAUTH":
		status, code, text := statusText(resp.rest)
		if status == "BYE" {
			if st != nil {
				st.bye = true
			}
			return nil
		}
		if status != "OK" {
			// An untagged NO or BAD is a warning (RFC 9051 7.1.2, 7.1.3):
			// counted, the command goes on.
			c.record(&failure{kind: "untagged " + status, detail: text})
			return nil
		}
		return c.okCode(code)
	case "FLAGS":
		p.sp()
		l, err := p.value()
		if err != nil {
			return err
		}
		if c.sel == nil {
			return inconsistent("update-unselected", "FLAGS with no mailbox selected")
		}
		c.sel.flags = map[string]bool{}
		for _, f := range l.list {
			c.sel.flags[strings.ToLower(f.s)] = true
		}
	case "CAPABILITY":
		c.caps = map[string]bool{}
		for _, f := range strings.Fields(string(resp.rest[len("CAPABILITY"):])) {
			c.caps[strings.ToUpper(f)] = true
		}
	case "LIST", "LSUB":
		vs, err := p.values()
		if err != nil {
			return err
		}
		if len(vs) < 3 || vs[0].kind != 'l' {
			return fmt.Errorf("%w: %s without attributes, delimiter and name", errProtocol, word)
		}
		// Nobody deletes the run's own mailboxes: a LIST (asked for, or
		// pushed under NOTIFY, RFC 5465 5.4) never calls them gone.
		if n := vs[2].s; (n == c.main || n == c.other) && slices.ContainsFunc(vs[0].list, func(a val) bool {
			return strings.EqualFold(a.s, `\NonExistent`)
		}) {
			return inconsistent("list-nonexistent", "%s is \\NonExistent: %s", n, trimCRLF(resp.raw))
		}
		if st != nil {
			st.listed = append(st.listed, vs[2].s)
		}
	case "STATUS":
		vs, err := p.values()
		if err != nil {
			return err
		}
		if len(vs) != 2 || vs[1].kind != 'l' || len(vs[1].list)%2 != 0 {
			return fmt.Errorf("%w: STATUS %q", errProtocol, trimCRLF(resp.raw))
		}
		m := map[string]uint32{}
		for i := 0; i < len(vs[1].list); i += 2 {
			n, ok := vs[1].list[i+1].num()
			if !ok {
				return fmt.Errorf("%w: STATUS item %q", errProtocol, vs[1].list[i+1].s)
			}
			m[strings.ToUpper(vs[1].list[i].s)] = n
		}
		if err := c.statusSeen(vs[0].s, m); err != nil {
			return err
		}
		if st != nil {
			st.status[vs[0].s] = m
		}
	case "SEARCH":
		vs, err := p.values()
		if err != nil {
			return err
		}
		if st != nil {
			st.searched = true
			for _, v := range vs {
				n, ok := v.num()
				if !ok {
					return fmt.Errorf("%w: SEARCH result %q", errProtocol, v.s)
				}
				st.search = append(st.search, n)
			}
		}
	case "NAMESPACE", "ENABLED", "ID", "ESEARCH", "QUOTA", "QUOTAROOT", "METADATA", "SORT", "THREAD", "VANISHED":
		// Parsed for syntax only; the mix does not depend on them.
		_, err := p.values()
		return err
	default:
		return fmt.Errorf("%w: unknown response %q", errProtocol, trimCRLF(resp.raw))
	}
	return nil
}

// okCode applies the response code of an untagged OK.
func (c *client) okCode(code string) error {
	word, rest, _ := strings.Cut(code, " ")
	switch strings.ToUpper(word) {
	case "CAPABILITY":
		c.capsFrom(code)
	case "UIDVALIDITY":
		n, ok := atoi(rest)
		if !ok || c.sel == nil {
			return fmt.Errorf("%w: [%s]", errProtocol, code)
		}
		return c.checkValidity(c.sel.name, n)
	case "UIDNEXT":
		n, ok := atoi(rest)
		if !ok || c.sel == nil {
			return fmt.Errorf("%w: [%s]", errProtocol, code)
		}
		return c.checkUIDNext(c.sel.name, n, "SELECT")
	case "PERMANENTFLAGS":
		if c.sel != nil {
			c.sel.anyKw = strings.Contains(rest, `\*`)
			c.anyKw = c.anyKw || c.sel.anyKw
		}
	case "COPYUID":
		if c.cur != nil {
			c.cur.copyUID = strings.Fields(rest)
		}
	case "CLOSED":
		// RFC 9051 7.1: what follows is about the mailbox a SELECT opens.
		if c.nextSel != nil {
			c.sel, c.nextSel = c.nextSel, nil
		}
	case "NOTIFICATIONOVERFLOW":
		// RFC 5465 5.8: the server gave up telling this session; NOTIFY
		// is off, as after NOTIFY NONE. Permitted, so not an error.
		c.notifyOn = false
		c.record(&failure{kind: "NOTIFICATIONOVERFLOW", allowed: true})
	}
	return nil
}

// statusSeen checks what a STATUS response says of a mailbox, asked for
// or pushed under NOTIFY (RFC 5465 5.2, 5.3): UIDVALIDITY stays, UIDNEXT
// never falls, there are no more messages than UIDs were given out, and
// no more unseen than messages. The count is remembered.
func (c *client) statusSeen(mbox string, s map[string]uint32) error {
	if v, ok := s["UIDVALIDITY"]; ok {
		if err := c.checkValidity(mbox, v); err != nil {
			return err
		}
	}
	next, hasNext := s["UIDNEXT"]
	if hasNext {
		if err := c.checkUIDNext(mbox, next, "STATUS"); err != nil {
			return err
		}
	}
	n, hasN := s["MESSAGES"]
	if !hasN {
		return nil
	}
	if hasNext && n > 0 && n >= next {
		return inconsistent("status-implausible", "%s: STATUS says %d messages but UIDNEXT %d", mbox, n, next)
	}
	if u, ok := s["UNSEEN"]; ok && u > n {
		return inconsistent("status-implausible", "%s: STATUS says %d unseen of %d messages", mbox, u, n)
	}
	c.count[mbox] = int(n)
	return nil
}

func (c *client) checkValidity(mbox string, n uint32) error {
	if old, ok := c.uidValidity[mbox]; ok && old != n {
		return inconsistent("uidvalidity-changed", "%s: UIDVALIDITY %d, earlier %d", mbox, n, old)
	}
	c.uidValidity[mbox] = n
	return nil
}

// checkUIDNext: UIDNEXT never falls, and is above every UID seen (RFC 9051
// 2.3.1.1).
func (c *client) checkUIDNext(mbox string, n uint32, where string) error {
	if old := c.uidNext[mbox]; n < old {
		return inconsistent("uidnext-decreased", "%s: %s says UIDNEXT %d, but UID %d was already assigned or announced", mbox, where, n, old-1)
	}
	c.uidNext[mbox] = n
	return nil
}

func (c *client) sawUID(mbox string, uid uint32) {
	if uid >= c.uidNext[mbox] {
		c.uidNext[mbox] = uid + 1
	}
}

// fetch applies "* n FETCH (items)".
func (c *client) fetch(n uint32, l val) error {
	v := c.sel
	if l.kind != 'l' || len(l.list)%2 != 0 {
		return fmt.Errorf("%w: FETCH %d items are not pairs", errProtocol, n)
	}
	if n == 0 || int(n) > len(v.msgs) {
		return inconsistent("fetch-range", "FETCH %d with %d messages in view", n, len(v.msgs))
	}
	m := v.msgs[n-1]
	items := map[string]val{}
	for i := 0; i < len(l.list); i += 2 {
		// A header name may be sent quoted (header-fld-name is an
		// astring): BODY[HEADER.FIELDS ("SUBJECT")] is the same item.
		items[strings.ToUpper(strings.ReplaceAll(l.list[i].s, `"`, ""))] = l.list[i+1]
	}
	if u, ok := items["UID"]; ok {
		uid, ok := u.num()
		if !ok {
			return fmt.Errorf("%w: UID %q", errProtocol, u.s)
		}
		if err := v.setUID(int(n), uid); err != nil {
			return err
		}
		c.sawUID(v.name, uid)
	}
	if s, ok := items["RFC822.SIZE"]; ok {
		size, ok := s.num()
		if !ok {
			return fmt.Errorf("%w: RFC822.SIZE %q", errProtocol, s.s)
		}
		if m.size >= 0 && m.size != int64(size) {
			return inconsistent("size-changed", "UID %d: RFC822.SIZE %d, earlier %d", m.uid, size, m.size)
		}
		m.size = int64(size)
	}
	if f, ok := items["FLAGS"]; ok {
		if f.kind != 'l' {
			return fmt.Errorf("%w: FLAGS not a list", errProtocol)
		}
		m.flags = m.flags[:0]
		if m.flags == nil {
			m.flags = []string{}
		}
		for _, x := range f.list {
			if x.kind != 'a' {
				return fmt.Errorf("%w: flag %q", errProtocol, x.s)
			}
			if !strings.HasPrefix(x.s, `\`) && !v.flags[strings.ToLower(x.s)] {
				return inconsistent("keyword-not-announced", "UID %d has keyword %s, which no FLAGS response announced", m.uid, x.s)
			}
			m.flags = append(m.flags, x.s)
		}
	}
	if err := c.checkOwn(m); err != nil {
		return err
	}
	if c.cur != nil {
		old := c.cur.fetched[m]
		if old == nil {
			c.cur.fetched[m] = items
		} else {
			for k, x := range items {
				old[k] = x
			}
		}
	}
	return nil
}

// checkOwn compares the own keyword a message shows with what this client
// stored: nobody else touches it.
func (c *client) checkOwn(m *msg) error {
	if m.flags == nil {
		return nil
	}
	has := int8(0)
	if m.has(c.ownKw) {
		has = 1
	}
	ref := m.own
	if m.uid != 0 {
		if v, ok := c.ownKnown[c.sel.name][m.uid]; ok {
			ref = v
		}
	}
	switch {
	case ref < 0 || ref == has:
		c.setOwn(m, has)
	case c.cur != nil && c.cur.ownStore[m]:
		// Our STORE is changing it right now.
	default:
		return inconsistent("own-keyword", "UID %d shows %s %s, but this client last left it %s", m.uid, c.ownKw, onOff(has), onOff(ref))
	}
	return nil
}

// setOwn records the own keyword of a message of the view.
func (c *client) setOwn(m *msg, v int8) {
	m.own = v
	if m.uid != 0 {
		c.recordOwn(c.sel.name, m.uid, v)
	}
}

func (c *client) recordOwn(mbox string, uid uint32, own int8) {
	if c.ownKnown[mbox] == nil {
		c.ownKnown[mbox] = map[uint32]int8{}
	}
	if len(c.ownKnown[mbox]) > 100000 {
		clear(c.ownKnown[mbox]) // never grows without end
	}
	c.ownKnown[mbox][uid] = own
}

func onOff(b int8) string {
	if b == 1 {
		return "set"
	}
	return "unset"
}

// quote writes s as an IMAP quoted string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return "", false
}

// message builds a test message whose X-Stress-Sum header is the hash of
// its body, so any FETCH BODY[] can be checked without remembering it.
func (c *client) message() (subject string, data []byte) {
	c.msgN++
	subject = fmt.Sprintf("stress c%d n%d %s", c.id, c.msgN, words[c.rnd.IntN(len(words))])
	size := 200 + c.rnd.IntN(4000)
	if c.rnd.IntN(20) == 0 {
		size += 40000 // some messages span several storage chunks
	}
	var body []byte
	for len(body) < size {
		n := 3 + c.rnd.IntN(12)
		for i := 0; i < n; i++ {
			if i > 0 {
				body = append(body, ' ')
			}
			body = append(body, words[c.rnd.IntN(len(words))]...)
		}
		body = append(body, "\r\n"...)
	}
	sum := sha256.Sum256(body)
	hdr := fmt.Sprintf("From: Stress Client %d <stress%d@example.test>\r\nTo: <stress@example.test>\r\n"+
		"Subject: %s\r\nDate: Fri, 06 Nov 2026 10:%02d:%02d +0000\r\nMessage-ID: <s%d.%d.%d@stress.test>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\nX-Stress-Sum: %s\r\n\r\n",
		c.id, c.id, subject, c.msgN/60%60, c.msgN%60, c.r.o.Seed, c.id, c.msgN, hex.EncodeToString(sum[:8]))
	return subject, append([]byte(hdr), body...)
}

var words = strings.Fields("the quick brown fox jumps over lazy dog invoice meeting lunch report " +
	"printer office budget holiday schedule minutes draft review contract delivery")

// checkBody verifies a message the tool wrote against its X-Stress-Sum.
func checkBody(uid uint32, data string) error {
	hdr, body, ok := strings.Cut(data, "\r\n\r\n")
	if !ok {
		return inconsistent("body-corrupt", "UID %d: BODY[] of %d bytes has no end of header", uid, len(data))
	}
	i := strings.Index(hdr, "\r\nX-Stress-Sum: ")
	if i < 0 {
		return nil // not one of ours
	}
	want, _, _ := strings.Cut(hdr[i+len("\r\nX-Stress-Sum: "):], "\r\n")
	sum := sha256.Sum256([]byte(body))
	if got := hex.EncodeToString(sum[:8]); got != want {
		return inconsistent("body-corrupt", "UID %d: body of %d bytes hashes to %s, its header says %s", uid, len(body), got, want)
	}
	return nil
}

func contains(ms []*msg, m *msg) bool { return slices.Contains(ms, m) }
