package imapd

import (
	"cmp"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"postroom/appliance/imapd/imapmsg"
	"postroom/storage"
)

// THREAD=REFERENCES (RFC 5256 3 and 4): messages are linked into trees by
// their Message-ID, References and In-Reply-To headers, the trees' roots
// are merged by base subject, and siblings are ordered by sent date.

// maxThreadRefs bounds the References of one message that take part in
// threading: the last ones, nearest the message, matter; a header with
// thousands of ids must not make one THREAD command unbounded.
const maxThreadRefs = 100

// threadNode is one container of the algorithm: a message, or a dummy
// (msg == nil) for an id that was referred to but is not among the found
// messages.
type threadNode struct {
	msg      *threadMsg
	parent   *threadNode
	children []*threadNode
}

type threadMsg struct {
	seq, uid uint32
	sent     int64  // sent date, UnixNano, second precision
	subject  string // base subject (RFC 5256 2.1)
	reply    bool   // the subject had a reply or forward marker
	id       string // Message-ID, or a unique stand-in
	refs     []string
}

// hasAncestor reports whether a is n or one of n's ancestors.
func (n *threadNode) hasAncestor(a *threadNode) bool {
	for p := n; p != nil; p = p.parent {
		if p == a {
			return true
		}
	}
	return false
}

func (n *threadNode) unlink() {
	if p := n.parent; p != nil {
		p.children = slices.DeleteFunc(p.children, func(c *threadNode) bool { return c == n })
		n.parent = nil
	}
}

// link makes child a child of parent unless that would make a loop.
func link(parent, child *threadNode) {
	if parent.hasAncestor(child) {
		return
	}
	child.unlink()
	child.parent = parent
	parent.children = append(parent.children, child)
}

// sortDate is the date a container sorts by: its message's, or for a dummy
// its first child's (RFC 5256 4, step 4), with the sequence number to
// break ties.
func (n *threadNode) sortDate() (int64, uint32) {
	for n.msg == nil {
		if len(n.children) == 0 {
			return 0, 0
		}
		n = n.children[0]
	}
	return n.msg.sent, n.msg.seq
}

func compareNodes(a, b *threadNode) int {
	ad, as := a.sortDate()
	bd, bs := b.sortDate()
	if r := cmp.Compare(ad, bd); r != 0 {
		return r
	}
	return cmp.Compare(as, bs)
}

// sortTree orders every set of siblings under n by sent date, deepest
// first so a dummy's first child is known when it is compared.
func sortTree(n *threadNode) {
	for _, c := range n.children {
		sortTree(c)
	}
	slices.SortStableFunc(n.children, compareNodes)
}

// threadMessages reads what threading needs of each found message.
func (c *conn) threadMessages(found []imapmsg.Candidate) ([]*threadMsg, error) {
	out := make([]*threadMsg, 0, len(found))
	for _, cd := range found {
		m := cd.Message
		tm := &threadMsg{seq: cd.SeqNum, uid: m.UID}
		env := &storage.Envelope{}
		var refs string
		obj, err := c.srv.st.Object(m.Object)
		if err == nil {
			if obj.Envelope != nil {
				env = obj.Envelope
			}
			b := c.srv.st.OpenObjectBody(obj)
			fields, herr := storage.ReadHeader(b, obj.Structure)
			_ = b.Close()
			if herr != nil {
				return nil, fmt.Errorf("thread: header of UID %d: %w", m.UID, herr)
			}
			for _, f := range fields {
				if strings.EqualFold(f.Name, "References") {
					refs = f.Value
					break
				}
			}
		}
		t, perr := mail.ParseDate(env.Date)
		if perr != nil {
			t = m.InternalDate
		}
		tm.sent = t.UTC().Truncate(time.Second).UnixNano()
		tm.subject = baseSubject(env.Subject)
		tm.reply = isReplySubject(env.Subject)
		tm.id = env.MessageID
		tm.refs = msgIDs(refs)
		if len(tm.refs) == 0 && len(env.InReplyTo) > 0 {
			// RFC 5256 4 step 1A: without valid References, the first
			// id of In-Reply-To.
			tm.refs = env.InReplyTo[:1]
		}
		if len(tm.refs) > maxThreadRefs {
			tm.refs = tm.refs[len(tm.refs)-maxThreadRefs:]
		}
		out = append(out, tm)
	}
	return out, nil
}

// msgIDs returns the "<...>" message ids of a References value, without
// the angle brackets; anything between them is ignored.
func msgIDs(s string) []string {
	var ids []string
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			return ids
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			return ids
		}
		if id := strings.TrimSpace(s[i+1 : i+j]); id != "" && !strings.ContainsAny(id, "< \t\r\n") {
			ids = append(ids, id)
		}
		s = s[i+j+1:]
	}
}

// isReplySubject reports whether subject extraction (RFC 5256 2.1) would
// remove a reply or forward marker: "Re:", "Fw:", "Fwd:" (after any
// "[blob]"s), a "[Fwd: ...]" wrapper or a "(fwd)" trailer.
func isReplySubject(s string) bool {
	l := strings.ToLower(strings.Join(strings.Fields(s), " "))
	if strings.HasSuffix(l, "(fwd)") || strings.HasPrefix(l, "[fwd:") {
		return true
	}
	for strings.HasPrefix(l, "[") {
		end := strings.IndexByte(l, ']')
		if end < 0 {
			break
		}
		l = strings.TrimSpace(l[end+1:])
	}
	return stripLeader(l) != l
}

// threadReferences builds the threads of RFC 5256 4 over msgs (in
// sequence order) and returns the roots in order.
func threadReferences(msgs []*threadMsg) []*threadNode {
	byID := map[string]*threadNode{}
	get := func(id string) *threadNode {
		n := byID[id]
		if n == nil {
			n = &threadNode{}
			byID[id] = n
		}
		return n
	}
	var all []*threadNode
	for _, m := range msgs {
		// Step 1: a container per message; a missing or duplicate
		// Message-ID gets a unique stand-in (the first message keeps
		// the id). Stand-ins contain a space, which ids never do.
		if n := byID[m.id]; m.id == "" || (n != nil && n.msg != nil) {
			m.id = fmt.Sprintf("dup %d", m.seq)
		}
		self := get(m.id)
		self.msg = m
		all = append(all, self)
		// 1A: chain the references, keeping existing links.
		var prev *threadNode
		for _, r := range m.refs {
			n := get(r)
			if prev != nil && n.parent == nil && n != self {
				link(prev, n)
			}
			prev = n
		}
		// 1C: the last reference is the parent, replacing any parent
		// an earlier message presumed; none if that would loop.
		self.unlink()
		if prev != nil && prev != self {
			link(prev, self)
		}
	}
	// Step 2: the roots, in a stable order (first seen).
	roots := topmost(all, nil)
	// Step 3: prune dummies.
	var pruned []*threadNode
	for _, r := range roots {
		pruneDummies(r)
		switch {
		case r.msg != nil || len(r.children) > 1:
			pruned = append(pruned, r)
		case len(r.children) == 1:
			// A root dummy with one child: the child becomes a root.
			k := r.children[0]
			k.parent = nil
			pruned = append(pruned, k)
		}
	}
	roots = pruned
	// Step 4: roots by sent date (a dummy by its first child's).
	for _, r := range roots {
		sortTree(r)
	}
	slices.SortStableFunc(roots, compareNodes)
	// Step 5: merge roots with the same base subject.
	subj := func(n *threadNode) (string, bool) {
		if n.msg == nil {
			n = n.children[0]
		}
		return n.msg.subject, n.msg.reply
	}
	table := map[string]*threadNode{}
	for _, r := range roots {
		s, reply := subj(r)
		if s == "" {
			continue
		}
		old := table[s]
		if old == nil || (old.msg != nil && r.msg == nil) {
			table[s] = r
		} else if _, oldReply := subj(old); old.msg != nil && r.msg != nil && oldReply && !reply {
			table[s] = r
		}
	}
	removed := map[*threadNode]bool{}
	for _, r := range roots {
		s, reply := subj(r)
		t := table[s]
		if s == "" || t == r || r.parent != nil {
			continue
		}
		_, tReply := subj(t)
		switch {
		case t.msg == nil && r.msg == nil:
			// Both dummies: r's children join t's, r goes.
			for _, k := range r.children {
				k.parent = t
			}
			t.children = append(t.children, r.children...)
			r.children = nil
			removed[r] = true
		case t.msg == nil:
			link(t, r)
		case reply && !tReply:
			link(t, r)
		default:
			// Neither, or both, are replies (the table prefers a dummy,
			// so r is no dummy here): a new dummy holds both.
			d := &threadNode{}
			link(d, t)
			link(d, r)
			table[s] = d
		}
	}
	// The roots keep their order; a merged thread stands where the
	// first of its roots stood.
	merged := topmost(roots, removed)
	// Step 6: siblings by sent date.
	for _, r := range merged {
		sortTree(r)
	}
	return merged
}

// cmdThreadReferences answers THREAD REFERENCES for the messages found.
func (c *conn) cmdThreadReferences(found []imapmsg.Candidate, uid bool) error {
	msgs, err := c.threadMessages(found)
	if err != nil {
		return c.fail("thread", err)
	}
	c.w.Untagged().Atom("THREAD")
	// The roots are written as the children of a dummy would be: each
	// thread in parentheses.
	c.writeThread(&threadNode{children: threadReferences(msgs)}, uid)
	c.w.End()
	return nil
}

// topmost returns the root of each node's tree, each once, in the order
// of the nodes; nodes in skip are left out.
func topmost(nodes []*threadNode, skip map[*threadNode]bool) []*threadNode {
	seen := map[*threadNode]bool{}
	var out []*threadNode
	for _, n := range nodes {
		if skip[n] {
			continue
		}
		for n.parent != nil {
			n = n.parent
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// pruneDummies removes the dummies under n (RFC 5256 4 step 3): without
// children they go; with children, the children take their place.
func pruneDummies(n *threadNode) {
	var kids []*threadNode
	for _, k := range n.children {
		pruneDummies(k)
		if k.msg != nil {
			kids = append(kids, k)
			continue
		}
		for _, g := range k.children {
			g.parent = n
			kids = append(kids, g)
		}
	}
	n.children = kids
}

// writeThread writes one thread's members (RFC 5256 4, thread-members and
// thread-nested): a chain of single children as numbers, several
// children each in parentheses.
func (c *conn) writeThread(n *threadNode, uid bool) {
	w := c.w
	if n.msg != nil {
		if uid {
			w.Number(uint64(n.msg.uid))
		} else {
			w.Number(uint64(n.msg.seq))
		}
	}
	if len(n.children) == 1 && n.msg != nil {
		c.writeThread(n.children[0], uid)
		return
	}
	for i, k := range n.children {
		if i > 0 {
			w.Adjacent()
		}
		w.BeginList()
		c.writeThread(k, uid)
		w.EndList()
	}
}
