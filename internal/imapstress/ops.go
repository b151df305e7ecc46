package imapstress

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// op is one kind of step in the mix. ok says whether it can run now (the
// server offers it, a mailbox is selected, there are messages); weight is
// its share among those that can.
type op struct {
	name   string
	weight int
	ok     func(c *client) bool
	run    func(c *client) error
}

// DefaultWeights is the mix: mostly what a mail program does all day
// (flags, fetches, new mail), some of everything else. Options.Weights
// overrides single entries; a weight of 0 leaves an operation out.
var DefaultWeights = map[string]int{
	"select": 3, "examine": 1, "fetch-flags": 12, "fetch-envelope": 5, "fetch-body": 5,
	"fetch-partial": 4, "store-flags": 8, "store-keyword": 8, "search": 8, "copy": 3,
	"move": 3, "expunge": 3, "uid-expunge": 3, "append": 8, "noop": 3, "idle": 2,
	"check": 1, "status": 3, "list": 2, "mailbox": 1, "namespace": 1, "close": 1,
	"unselect": 1, "logout": 1, "notify-wait": 3,
}

func selected(c *client) bool { return c.sel != nil }
func writable(c *client) bool { return c.sel != nil && !c.sel.readOnly }
func hasKnown(c *client) bool { return c.sel != nil && len(c.sel.known()) > 0 }
func can(capa string) func(*client) bool {
	return func(c *client) bool { return c.caps[capa] }
}
func all(fs ...func(*client) bool) func(*client) bool {
	return func(c *client) bool {
		for _, f := range fs {
			if !f(c) {
				return false
			}
		}
		return true
	}
}

var ops = []op{
	{"select", 0, nil, func(c *client) error { return c.doSelect(c.pickMailbox(), false) }},
	{"examine", 0, nil, func(c *client) error { return c.doSelect(c.pickMailbox(), true) }},
	{"fetch-flags", 0, hasKnown, (*client).fetchFlags},
	{"fetch-envelope", 0, hasKnown, (*client).fetchEnvelope},
	{"fetch-body", 0, hasKnown, (*client).fetchBody},
	{"fetch-partial", 0, func(c *client) bool { return hasKnown(c) && c.sized() != nil }, (*client).fetchPartial},
	{"store-flags", 0, all(writable, hasKnown), (*client).storeFlags},
	{"store-keyword", 0, func(c *client) bool { return writable(c) && hasKnown(c) && c.sel.anyKw }, (*client).storeOwn},
	{"search", 0, selected, (*client).search},
	{"copy", 0, func(c *client) bool { return hasKnown(c) && c.count[c.target()] < c.r.o.MaxMessages }, func(c *client) error { return c.copyMove(false) }},
	{"move", 0, all(writable, hasKnown, can("MOVE")), func(c *client) error { return c.copyMove(true) }},
	{"expunge", 0, func(c *client) bool { return writable(c) && len(c.sel.known()) >= 5 }, func(c *client) error { return c.expunge(false) }},
	{"uid-expunge", 0, func(c *client) bool { return writable(c) && len(c.sel.known()) >= 5 && c.caps["UIDPLUS"] }, func(c *client) error { return c.expunge(true) }},
	{"append", 0, nil, (*client).append},
	{"noop", 0, nil, func(c *client) error { _, err := c.exec("NOOP", "NOOP", nil); return err }},
	{"idle", 0, all(selected, can("IDLE")), (*client).idle},
	{"check", 0, all(selected, can("IMAP4REV1")), func(c *client) error { _, err := c.exec("CHECK", "CHECK", nil); return err }},
	{"status", 0, nil, (*client).status},
	{"list", 0, nil, (*client).list},
	{"mailbox", 0, nil, (*client).mailboxOps},
	{"namespace", 0, can("NAMESPACE"), func(c *client) error { _, err := c.exec("NAMESPACE", "NAMESPACE", nil); return err }},
	{"close", 0, selected, func(c *client) error { _, err := c.exec("CLOSE", "CLOSE", nil); c.sel = nil; return err }},
	{"unselect", 0, all(selected, can("UNSELECT")), func(c *client) error { _, err := c.exec("UNSELECT", "UNSELECT", nil); c.sel = nil; return err }},
	{"logout", 0, nil, (*client).logout},
	{"notify-wait", 0, func(c *client) bool { return c.notifyOn }, (*client).notifyWait},
}

// step runs one operation: a selection when nothing is selected (most of
// the time), a resynchronising FETCH when EXISTS announced messages the
// client has not seen, else one drawn from the weighted mix.
func (c *client) step() error {
	if c.sel == nil && c.rnd.IntN(10) > 0 {
		return c.doSelect(c.main, c.rnd.IntN(10) == 0)
	}
	if c.sel != nil && c.sel.unknown() > 0 && c.rnd.IntN(3) > 0 {
		return c.sync()
	}
	total := 0
	var cands []int
	for i, o := range ops {
		w := c.r.weights[o.name]
		if w == 0 || o.ok != nil && !o.ok(c) {
			continue
		}
		if o.name == "append" && c.count[c.appendTarget()] >= c.r.o.MaxMessages {
			continue
		}
		if (o.name == "expunge" || o.name == "uid-expunge" || o.name == "move") && c.sel != nil && len(c.sel.msgs) > c.r.o.MaxMessages/2 {
			w *= 4 // keep the mailbox from growing without end
		}
		total += w
		cands = append(cands, i, w)
	}
	if total == 0 {
		return c.doSelect(c.main, false)
	}
	x := c.rnd.IntN(total)
	for i := 0; i < len(cands); i += 2 {
		if x -= cands[i+1]; x < 0 {
			return ops[cands[i]].run(c)
		}
	}
	panic("unreachable")
}

// pickMailbox: the client's own mailbox most of the time, else the other.
func (c *client) pickMailbox() string {
	if c.rnd.IntN(5) == 0 {
		return c.other
	}
	return c.main
}

// target is where COPY and MOVE go: the mailbox not selected.
func (c *client) target() string {
	if c.sel != nil && c.sel.name == c.other {
		return c.main
	}
	return c.other
}

func (c *client) appendTarget() string {
	if c.sel != nil {
		return c.sel.name
	}
	return c.main
}

// pick draws 1..max known messages: a run of neighbours or a scatter.
func (c *client) pick(max int) []*msg {
	known := c.sel.known()
	n := 1 + c.rnd.IntN(min(max, len(known)))
	if c.rnd.IntN(2) == 0 {
		i := c.rnd.IntN(len(known) - n + 1)
		return known[i : i+n]
	}
	var out []*msg
	for _, i := range c.rnd.Perm(len(known))[:n] {
		out = append(out, known[i])
	}
	return out
}

func uidsOf(ms []*msg) []uint32 {
	out := make([]uint32, len(ms))
	for i, m := range ms {
		out[i] = m.uid
	}
	return out
}

// seqsOf gives the sequence numbers the messages have now.
func (c *client) seqsOf(ms []*msg) []uint32 {
	var out []uint32
	for i, m := range c.sel.msgs {
		if contains(ms, m) {
			out = append(out, uint32(i+1))
		}
	}
	return out
}

func (c *client) inView(m *msg) bool { return c.sel != nil && contains(c.sel.msgs, m) }

// missing checks that a FETCH answered for every message that is still in
// the view: an expunge by another session must not make a FETCH skip or
// refuse a message the session still sees (RFC 9051 7.5.1).
func (c *client) missing(st *cmdState, asked []*msg, item string) error {
	for _, m := range asked {
		if !c.inView(m) {
			continue
		}
		it, ok := st.fetched[m]
		if !ok {
			return inconsistent("fetch-missing", "%s: no FETCH response for UID %d, still in the view", st.name, m.uid)
		}
		if _, ok := it[item]; item != "" && !ok {
			return inconsistent("fetch-missing", "%s: FETCH for UID %d lacks %s", st.name, m.uid, item)
		}
	}
	return nil
}

func (c *client) doSelect(name string, examine bool) error {
	cmd := "SELECT"
	if examine {
		cmd = "EXAMINE"
	}
	v := &view{name: name, readOnly: examine, flags: map[string]bool{}}
	old := c.sel
	if c.notifyOn && old != nil {
		// The old mailbox's changes may be on their way already: they
		// are the old view's up to [CLOSED] (RFC 9051 7.1).
		c.nextSel = v
	} else {
		c.sel = v
	}
	st, err := c.exec(cmd, cmd+" "+quote(name), nil)
	closed := c.nextSel == nil
	c.nextSel = nil
	if err != nil {
		c.sel = nil
		return err
	}
	if !closed {
		c.sel = nil
		return inconsistent("select-closed", "%s %s with %s selected completed without [CLOSED] (RFC 9051 7.1)", cmd, name, old.name)
	}
	if examine && !strings.EqualFold(st.code, "READ-ONLY") {
		return inconsistent("examine-writable", "EXAMINE %s answered [%s], not [READ-ONLY]", name, st.code)
	}
	c.count[name] = len(c.sel.msgs)
	return c.sync()
}

// sync fetches UID, flags and size from the first message not fully known.
func (c *client) sync() error {
	v := c.sel
	first := slices.IndexFunc(v.msgs, func(m *msg) bool { return m.uid == 0 || m.flags == nil })
	if first < 0 {
		return nil
	}
	asked := slices.Clone(v.msgs[first:])
	name, line := "FETCH", fmt.Sprintf("FETCH %d:* (UID FLAGS RFC822.SIZE)", first+1)
	if c.notifyOn {
		// By UID: from above the last UID known before the first gap
		// (messages before it are known, UIDs ascend).
		lo := uint32(1)
		if first > 0 {
			lo = v.msgs[first-1].uid + 1
		}
		name, line = "UID FETCH", fmt.Sprintf("UID FETCH %d:* (UID FLAGS RFC822.SIZE)", lo)
	}
	st, err := c.exec(name, line, nil)
	if err != nil {
		return err
	}
	return c.missing(st, asked, "UID")
}

func (c *client) fetchFlags() error {
	ms := c.pick(10)
	if c.notifyOn || c.rnd.IntN(2) == 0 {
		st, err := c.exec("UID FETCH", "UID FETCH "+seqSet(uidsOf(ms))+" (UID FLAGS)", nil)
		if err != nil {
			return err
		}
		return c.missing(st, ms, "FLAGS")
	}
	st, err := c.exec("FETCH", "FETCH "+seqSet(c.seqsOf(ms))+" (UID FLAGS)", nil)
	if err != nil {
		return err
	}
	return c.missing(st, ms, "FLAGS")
}

// fetchEnvelope checks the ENVELOPE's subject against the header field.
func (c *client) fetchEnvelope() error {
	m := c.pick(1)[0]
	st, err := c.exec("UID FETCH", fmt.Sprintf("UID FETCH %d (UID ENVELOPE BODYSTRUCTURE INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])", m.uid), nil)
	if err != nil {
		return err
	}
	if err := c.missing(st, []*msg{m}, "ENVELOPE"); err != nil || !c.inView(m) {
		return err
	}
	it := st.fetched[m]
	env := it["ENVELOPE"]
	if env.kind != 'l' || len(env.list) != 10 {
		return inconsistent("envelope-shape", "UID %d: ENVELOPE has %d fields, want 10", m.uid, len(env.list))
	}
	h, ok := it["BODY[HEADER.FIELDS (SUBJECT)]"]
	if !ok {
		return inconsistent("fetch-missing", "UID %d: no BODY[HEADER.FIELDS (SUBJECT)] among %v", m.uid, slices.Sorted(maps.Keys(it)))
	}
	want := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(h.s), "Subject:"))
	if got := env.list[1].s; want != "" && got != want {
		return inconsistent("envelope-subject", "UID %d: ENVELOPE subject %q, header says %q", m.uid, got, want)
	}
	return nil
}

// fetchBody checks BODY[] against RFC822.SIZE and the body's own hash.
func (c *client) fetchBody() error {
	m := c.pick(1)[0]
	item := "BODY.PEEK[]"
	if c.rnd.IntN(3) == 0 && !c.sel.readOnly {
		item = "BODY[]"
	}
	st, err := c.exec("UID FETCH", fmt.Sprintf("UID FETCH %d (UID RFC822.SIZE %s)", m.uid, item), nil)
	if err != nil {
		return err
	}
	if err := c.missing(st, []*msg{m}, "BODY[]"); err != nil || !c.inView(m) {
		return err
	}
	body := st.fetched[m]["BODY[]"].s
	if int64(len(body)) != m.size {
		return inconsistent("size-mismatch", "UID %d: BODY[] has %d bytes, RFC822.SIZE says %d", m.uid, len(body), m.size)
	}
	return checkBody(m.uid, body)
}

// sized is a known message whose size is known, or nil.
func (c *client) sized() *msg {
	for _, m := range c.sel.known() {
		if m.size >= 0 {
			return m
		}
	}
	return nil
}

// fetchPartial asks for BODY[]<offset.length> (RFC 9051 6.4.5) and checks
// the origin is echoed and the length is what remains of the message.
func (c *client) fetchPartial() error {
	m := c.pick(1)[0]
	if m.size < 0 {
		m = c.sized()
	}
	off := c.rnd.Int64N(m.size + 20)
	n := 1 + c.rnd.Int64N(3000)
	st, err := c.exec("UID FETCH", fmt.Sprintf("UID FETCH %d (UID BODY.PEEK[]<%d.%d>)", m.uid, off, n), nil)
	if err != nil {
		return err
	}
	key := fmt.Sprintf("BODY[]<%d>", off)
	if err := c.missing(st, []*msg{m}, key); err != nil || !c.inView(m) {
		return err
	}
	got := int64(len(st.fetched[m][key].s))
	want := max(0, min(n, m.size-off))
	if got != want {
		return inconsistent("partial-length", "UID %d of %d bytes: BODY[]<%d.%d> gave %d bytes, want %d", m.uid, m.size, off, n, got, want)
	}
	return nil
}

var sharedFlags = []string{`\Seen`, `\Flagged`, `\Answered`, `\Draft`, "$Label1", "$Label2"}

// storeFlags adds or removes flags every client may touch. \Deleted is
// only ever added (by the expunge steps), so that they can check EXPUNGE.
func (c *client) storeFlags() error {
	ms := c.pick(8)
	f := sharedFlags[c.rnd.IntN(len(sharedFlags))]
	if strings.HasPrefix(f, "$") && !c.sel.anyKw {
		f = `\Seen`
	}
	sign := "+"
	if c.rnd.IntN(2) == 0 {
		sign = "-"
	}
	silent := ""
	if c.rnd.IntN(3) == 0 {
		silent = ".SILENT"
	}
	if c.rnd.IntN(3) == 0 && !c.notifyOn {
		_, err := c.exec("STORE", fmt.Sprintf("STORE %s %sFLAGS%s (%s)", seqSet(c.seqsOf(ms)), sign, silent, f), nil)
		return err
	}
	_, err := c.exec("UID STORE", fmt.Sprintf("UID STORE %s %sFLAGS%s (%s)", seqSet(uidsOf(ms)), sign, silent, f), nil)
	return err
}

// storeOwn sets or clears the client's own keyword; the FETCH the server
// answers with must show it so (RFC 9051 6.4.6), and so must every later one.
func (c *client) storeOwn() error {
	ms := c.pick(8)
	set := int8(c.rnd.IntN(2))
	sign := "-"
	if set == 1 {
		sign = "+"
	}
	silent := c.rnd.IntN(4) == 0
	line := fmt.Sprintf("%sFLAGS", sign)
	if silent {
		line += ".SILENT"
	}
	line += " (" + c.ownKw + ")"
	name := "UID STORE"
	if c.rnd.IntN(3) == 0 && !c.notifyOn {
		name, line = "STORE", "STORE "+seqSet(c.seqsOf(ms))+" "+line
	} else {
		line = "UID STORE " + seqSet(uidsOf(ms)) + " " + line
	}
	// The command is tracked by hand, since ownStore must be in place
	// before the first response arrives.
	own := map[*msg]bool{}
	for _, m := range ms {
		own[m] = true
	}
	st, err := c.execOwn(name, line, own)
	if err != nil {
		// The store may or may not have happened: forget what the
		// client knew of these messages' keyword, learn it again.
		for _, m := range ms {
			m.own = -1
			if m.uid != 0 {
				delete(c.ownKnown[c.sel.name], m.uid)
			}
		}
		return err
	}
	for _, m := range ms {
		if !c.inView(m) {
			continue
		}
		if it, ok := st.fetched[m]; ok && !silent {
			if _, ok := it["FLAGS"]; ok && m.has(c.ownKw) != (set == 1) {
				return inconsistent("store-result", "%s: UID %d answered with FLAGS %v after %sFLAGS (%s)", name, m.uid, m.flags, sign, c.ownKw)
			}
		}
		c.setOwn(m, set)
		if m.flags != nil && m.has(c.ownKw) != (set == 1) {
			// Silent, or no FETCH came back: remember the new state.
			if set == 1 {
				m.flags = append(m.flags, c.ownKw)
			} else {
				m.flags = slices.DeleteFunc(m.flags, func(f string) bool { return strings.EqualFold(f, c.ownKw) })
			}
		}
	}
	return nil
}

// execOwn is exec with the set of messages whose own keyword is changing.
func (c *client) execOwn(name, line string, own map[*msg]bool) (*cmdState, error) {
	c.pendingStore = own
	defer func() { c.pendingStore = nil }()
	return c.exec(name, line, nil)
}

// search runs one of several searches; each result must name messages of
// the view, and the complete searches must name every one that matches.
func (c *client) search() error {
	v := c.sel
	before := slices.Clone(v.msgs)
	switch k := c.rnd.IntN(5); {
	case k == 0 && c.notifyOn:
		st, err := c.exec("UID SEARCH", "UID SEARCH ALL", nil)
		if err != nil {
			return err
		}
		if err := c.uidResult(st); err != nil {
			return err
		}
		for _, m := range v.known() {
			if contains(before, m) && !slices.Contains(st.search, m.uid) {
				return inconsistent("search-missing", "UID SEARCH ALL misses UID %d", m.uid)
			}
		}
	case k == 0:
		st, err := c.exec("SEARCH", "SEARCH ALL", nil)
		if err != nil {
			return err
		}
		if err := c.seqResult(st); err != nil {
			return err
		}
		if len(st.search) < len(before) {
			return inconsistent("search-missing", "SEARCH ALL found %d of %d messages", len(st.search), len(before))
		}
	case k == 1 && v.anyKw:
		st, err := c.exec("UID SEARCH", "UID SEARCH KEYWORD "+c.ownKw, nil)
		if err != nil {
			return err
		}
		found := map[uint32]bool{}
		for _, u := range st.search {
			found[u] = true
		}
		for _, m := range v.msgs {
			switch {
			case m.uid == 0 || m.own < 0:
			case m.own == 1 && !found[m.uid] && contains(before, m):
				return inconsistent("search-missing", "UID SEARCH KEYWORD %s misses UID %d", c.ownKw, m.uid)
			case m.own == 0 && found[m.uid]:
				return inconsistent("search-extra", "UID SEARCH KEYWORD %s finds UID %d, which lacks it", c.ownKw, m.uid)
			}
		}
	case k == 2:
		st, err := c.exec("UID SEARCH", `UID SEARCH SUBJECT "stress"`, nil)
		if err != nil {
			return err
		}
		for _, m := range v.known() {
			if contains(before, m) && !slices.Contains(st.search, m.uid) {
				return inconsistent("search-missing", "UID SEARCH SUBJECT stress misses UID %d", m.uid)
			}
		}
	default:
		keys := []string{"UNSEEN", "FLAGGED", "DELETED", "LARGER 2000", "OR SEEN FLAGGED", "BODY fox",
			"SINCE 1-Jan-2020", "NOT ANSWERED", "HEADER X-Stress-Sum 0", "FROM stress"}
		key := keys[c.rnd.IntN(len(keys))]
		if c.notifyOn {
			st, err := c.exec("UID SEARCH", "UID SEARCH "+key, nil)
			if err != nil {
				return err
			}
			return c.uidResult(st)
		}
		st, err := c.exec("SEARCH", "SEARCH "+key, nil)
		if err != nil {
			return err
		}
		return c.seqResult(st)
	}
	return nil
}

// uidResult: a UID SEARCH names each UID once.
func (c *client) uidResult(st *cmdState) error {
	seen := map[uint32]bool{}
	for _, u := range st.search {
		if u == 0 || seen[u] {
			return inconsistent("search-range", "%s result names UID %d twice or is 0", st.name, u)
		}
		seen[u] = true
	}
	if !st.searched {
		return inconsistent("search-missing", "%s answered without a SEARCH response", st.name)
	}
	return nil
}

// seqResult: a SEARCH names sequence numbers of the view, each once.
func (c *client) seqResult(st *cmdState) error {
	seen := map[uint32]bool{}
	for _, n := range st.search {
		if n == 0 || int(n) > len(c.sel.msgs) || seen[n] {
			return inconsistent("search-range", "%s result %d with %d messages in view", st.name, n, len(c.sel.msgs))
		}
		seen[n] = true
	}
	if !st.searched {
		return inconsistent("search-missing", "%s answered without a SEARCH response", st.name)
	}
	return nil
}

// copyMove copies or moves messages to the other mailbox and checks
// COPYUID (RFC 4315) and, for MOVE, that the moved messages left the view
// by the time the command completed (RFC 6851 3.3).
func (c *client) copyMove(move bool) error {
	ms := c.pick(5)
	dst := c.target()
	name := "UID COPY"
	if move {
		name = "UID MOVE"
	}
	// The new UIDs are at or above the UIDNEXT known before the command:
	// a STATUS pushed under NOTIFY before its completion may already
	// count them.
	least := c.uidNext[dst]
	st, err := c.exec(name, fmt.Sprintf("%s %s %s", name, seqSet(uidsOf(ms)), quote(dst)), nil)
	if err != nil {
		return err
	}
	c.count[dst] += len(ms)
	if move {
		for _, m := range ms {
			if c.inView(m) {
				return inconsistent("move-left-message", "UID MOVE completed but UID %d is still in the view", m.uid)
			}
		}
	}
	if !c.caps["UIDPLUS"] {
		return nil
	}
	if len(st.copyUID) == 0 && !slices.ContainsFunc(ms, func(m *msg) bool { return !contains(st.expunged, m) }) {
		// Every message asked was expunged meanwhile: an OK that copied
		// nothing (RFC 9051 6.4.9) has no COPYUID to give.
		return nil
	}
	if len(st.copyUID) != 3 {
		return inconsistent("copyuid", "%s completed without COPYUID", name)
	}
	valid, ok := atoi(st.copyUID[0])
	src, err1 := parseSet(st.copyUID[1])
	dstUIDs, err2 := parseSet(st.copyUID[2])
	if !ok || err1 != nil || err2 != nil || len(src) != len(dstUIDs) {
		return inconsistent("copyuid", "%s: COPYUID %v", name, st.copyUID)
	}
	if err := c.checkValidity(dst, valid); err != nil {
		return err
	}
	for i, u := range src {
		j := slices.IndexFunc(ms, func(m *msg) bool { return m.uid == u })
		if j < 0 {
			return inconsistent("copyuid", "%s: COPYUID names source UID %d, which was not asked for", name, u)
		}
		if dstUIDs[i] < least {
			return inconsistent("copyuid", "%s: new UID %d in %s is below UIDNEXT %d seen before", name, dstUIDs[i], dst, least)
		}
		c.sawUID(dst, dstUIDs[i])
		if ms[j].own >= 0 {
			c.recordOwn(dst, dstUIDs[i], ms[j].own)
		}
	}
	return nil
}

// expunge marks messages \Deleted and expunges them with EXPUNGE or UID
// EXPUNGE (RFC 4315). No client ever clears \Deleted, so every message the
// client knew as \Deleted (and, for UID EXPUNGE, in the set) must have left
// the view when the command completes.
func (c *client) expunge(byUID bool) error {
	ms := c.pick(3)
	set := seqSet(uidsOf(ms))
	if _, err := c.exec("UID STORE", "UID STORE "+set+` +FLAGS.SILENT (\Deleted)`, nil); err != nil {
		return err
	}
	for _, m := range ms {
		if c.inView(m) && m.flags != nil && !m.has(`\Deleted`) {
			m.flags = append(m.flags, `\Deleted`)
		}
	}
	var doomed []*msg
	for _, m := range c.sel.msgs {
		if m.flags != nil && m.has(`\Deleted`) && (!byUID || contains(ms, m)) {
			doomed = append(doomed, m)
		}
	}
	name, line := "EXPUNGE", "EXPUNGE"
	if byUID {
		name, line = "UID EXPUNGE", "UID EXPUNGE "+set
	}
	if _, err := c.exec(name, line, nil); err != nil {
		return err
	}
	for _, m := range doomed {
		if c.inView(m) {
			return inconsistent("expunge-left-deleted", "%s completed but UID %d, marked \\Deleted, is still in the view", name, m.uid)
		}
	}
	c.count[c.sel.name] = len(c.sel.msgs)
	return nil
}

// append adds a message, with the own keyword half of the time, and checks
// APPENDUID (RFC 4315).
func (c *client) append() error {
	mbox := c.appendTarget()
	if c.rnd.IntN(4) == 0 {
		mbox = c.other
	}
	_, data := c.message()
	own := int8(0)
	flags := `\Seen`
	if c.anyKw && c.rnd.IntN(2) == 0 {
		own, flags = 1, `\Seen `+c.ownKw
	}
	lit := fmt.Sprintf("{%d}", len(data))
	plus := c.caps["LITERAL+"]
	if plus {
		lit = fmt.Sprintf("{%d+}", len(data))
	}
	line := fmt.Sprintf("APPEND %s (%s) \" 5-Nov-2026 09:07:03 +0000\" %s", quote(mbox), flags, lit)
	if plus {
		line += "\r\n" + string(data)
	}
	sent := plus
	least := c.uidNext[mbox] // before: a push may announce the new UID first
	st, err := c.exec("APPEND", line, func() error {
		if sent {
			return &failure{kind: "syntax", detail: "APPEND: a second continuation request", fatal: true}
		}
		sent = true
		return c.c.write(string(data) + "\r\n")
	})
	if err != nil {
		return err
	}
	c.count[mbox]++
	if !c.caps["UIDPLUS"] {
		return nil
	}
	word, rest, _ := strings.Cut(st.code, " ")
	f := strings.Fields(rest)
	if !strings.EqualFold(word, "APPENDUID") || len(f) != 2 {
		return inconsistent("appenduid", "APPEND completed with [%s], not APPENDUID", st.code)
	}
	valid, ok1 := atoi(f[0])
	uid, ok2 := atoi(f[1])
	if !ok1 || !ok2 {
		return inconsistent("appenduid", "APPENDUID %q", rest)
	}
	if err := c.checkValidity(mbox, valid); err != nil {
		return err
	}
	if uid < least {
		return inconsistent("appenduid", "APPEND to %s got UID %d, below UIDNEXT %d seen before", mbox, uid, least)
	}
	c.sawUID(mbox, uid)
	if c.sel != nil && c.sel.name == mbox {
		if _, m := c.sel.byUID(uid); m != nil && m.flags != nil {
			if m.has(c.ownKw) != (own == 1) {
				return inconsistent("own-keyword", "appended UID %d shows %s %s", uid, c.ownKw, onOff(1-own))
			}
			c.setOwn(m, own)
			return nil
		}
	}
	c.recordOwn(mbox, uid, own)
	return nil
}

// idle waits in IDLE (RFC 2177) for a moment, taking whatever updates come.
func (c *client) idle() error {
	d := time.Duration(10+c.rnd.IntN(90)) * time.Millisecond
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	cn := c.c
	_, err := c.exec("IDLE", "IDLE", func() error {
		if timer != nil {
			return &failure{kind: "syntax", detail: "IDLE: a second continuation request", fatal: true}
		}
		timer = time.AfterFunc(d, func() { cn.write("DONE\r\n") })
		return nil
	})
	if err == nil && timer == nil {
		return &failure{kind: "syntax", detail: "IDLE completed without a continuation request", fatal: true}
	}
	return err
}

// status asks about the mailbox not selected: UIDVALIDITY stays, UIDNEXT
// never falls.
func (c *client) status() error {
	mbox := c.target()
	st, err := c.exec("STATUS", "STATUS "+quote(mbox)+" (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)", nil)
	if err != nil {
		return err
	}
	// statusSeen checked the numbers; all four asked must be there (a
	// STATUS pushed under NOTIFY may carry others too).
	s := st.status[mbox]
	for _, k := range []string{"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"} {
		if _, ok := s[k]; !ok {
			return inconsistent("status", "STATUS %s answered %v", mbox, st.status)
		}
	}
	return nil
}

// list: the two mailboxes of this client are always there.
func (c *client) list() error {
	st, err := c.exec("LIST", `LIST "" `+quote(c.r.o.Prefix+"*"), nil)
	if err != nil {
		return err
	}
	for _, want := range []string{c.main, c.other} {
		if !slices.Contains(st.listed, want) {
			return inconsistent("list-missing", "LIST %s* does not name %s (named %d mailboxes)", c.r.o.Prefix, want, len(st.listed))
		}
	}
	return nil
}

// mailboxOps creates, renames and deletes a mailbox of the client's own,
// and subscribes to its main mailbox.
func (c *client) mailboxOps() error {
	c.msgN++
	a := fmt.Sprintf("%s-tmp%s-%d-%d", c.r.o.Prefix, c.r.runID, c.id, c.msgN)
	b := a + "r"
	steps := []struct{ name, line string }{
		{"CREATE", "CREATE " + quote(a)},
		{"RENAME", "RENAME " + quote(a) + " " + quote(b)},
		{"LIST", `LIST "" ` + quote(b)},
		{"DELETE", "DELETE " + quote(b)},
		{"SUBSCRIBE", "SUBSCRIBE " + quote(c.main)},
	}
	exists := ""
	defer func() {
		// A run that ends between CREATE and DELETE leaves nothing
		// behind: the clean-up is not counted.
		if exists != "" && c.c != nil && c.r.done() {
			c.draining = true
			c.exec("DELETE", "DELETE "+quote(exists), nil)
			c.draining = false
		}
	}()
	for _, s := range steps {
		st, err := c.exec(s.name, s.line, nil)
		if err != nil {
			return err
		}
		switch s.name {
		case "CREATE":
			exists = a
		case "RENAME":
			exists = b
		case "DELETE":
			exists = ""
		}
		if s.name == "LIST" && !slices.Contains(st.listed, b) {
			return inconsistent("list-missing", "LIST does not name %s just renamed", b)
		}
	}
	return nil
}

// notifyWait reads, with no command running, what the server pushes
// under NOTIFY for a moment (RFC 5465 3: at any time), applying each
// response to what the client knows as it comes. It is no command: it
// spends none of the budget.
func (c *client) notifyWait() error {
	end := time.Now().Add(time.Duration(10+c.rnd.IntN(90)) * time.Millisecond)
	c.waits++
	for {
		ok, err := c.c.waitData(end)
		if err != nil || !ok {
			return err
		}
		resp, err := c.c.read()
		if err != nil {
			return err
		}
		if resp.tag != "*" {
			return &failure{kind: "syntax", detail: fmt.Sprintf("%q with no command running", trimCRLF(resp.raw)), fatal: true}
		}
		c.pushed++
		if err := c.untagged(resp); err != nil {
			return err
		}
	}
}

// logout says goodbye and starts a new connection.
func (c *client) logout() error {
	st, err := c.exec("LOGOUT", "LOGOUT", nil)
	if err != nil {
		return err
	}
	if !st.bye {
		return inconsistent("logout", "LOGOUT completed without BYE (RFC 9051 6.1.3)")
	}
	c.close()
	return c.connect()
}
