package imapd

import (
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"postroom/appliance/imapd/wire"
	"postroom/storage"
)

const delim = string(storage.Delimiter)

// specialUses are the RFC 6154 attributes storage accepts, by lower-case
// spelling (clients vary the case).
var specialUses = map[string]string{}

func init() {
	for _, a := range []string{storage.SpecialSent, storage.SpecialDrafts, storage.SpecialTrash,
		storage.SpecialJunk, storage.SpecialArchive, `\All`, `\Flagged`} {
		specialUses[strings.ToLower(a)] = a
	}
}

// mailboxArg decodes a mailbox argument.
func (c *conn) mailboxArg(n wire.Node) (string, error) {
	s, err := n.Mailbox()
	if err != nil {
		return "", err
	}
	return c.mailboxName(s)
}

// cmdCreate makes a mailbox (RFC 9051 6.3.4), with a special-use
// attribute if asked (RFC 6154 CREATE-SPECIAL-USE). A trailing delimiter
// only announces children to come, so it is dropped.
func (c *conn) cmdCreate(cmd *wire.Command) error {
	args, err := wire.ParseCreate(cmd.Args)
	if err != nil {
		return err
	}
	name, err := c.mailboxName(args.Mailbox)
	if err != nil {
		return err
	}
	name = strings.TrimSuffix(name, delim)
	var use string
	switch len(args.Use) {
	case 0:
	case 1:
		var ok bool
		if use, ok = specialUses[strings.ToLower(string(args.Use[0]))]; !ok {
			return no("USEATTR", "Unsupported special-use attribute")
		}
	default:
		return no("USEATTR", "One special-use attribute per mailbox")
	}
	if _, err := c.srv.st.CreateMailbox(c.acct, name, use); err != nil {
		return c.fail("create", err)
	}
	return nil
}

// cmdDelete removes a mailbox and its messages; its children stay (RFC
// 9051 6.3.5). A session that has it selected sees every message expunged.
func (c *conn) cmdDelete(cmd *wire.Command) error {
	if len(cmd.Args) != 1 {
		return bad("", "DELETE takes a mailbox")
	}
	name, err := c.mailboxArg(cmd.Args[0])
	if err != nil {
		return err
	}
	if err := c.srv.st.DeleteMailbox(c.acct, name); err != nil {
		return c.fail("delete", err)
	}
	return nil
}

// cmdRename renames a mailbox and its children; renaming INBOX moves its
// messages (RFC 9051 6.3.6).
func (c *conn) cmdRename(cmd *wire.Command) error {
	if len(cmd.Args) != 2 {
		return bad("", "RENAME takes two mailboxes")
	}
	from, err := c.mailboxArg(cmd.Args[0])
	if err != nil {
		return err
	}
	to, err := c.mailboxArg(cmd.Args[1])
	if err != nil {
		return err
	}
	if err := c.srv.st.RenameMailbox(c.acct, from, strings.TrimSuffix(to, delim)); err != nil {
		return c.fail("rename", err)
	}
	return nil
}

// cmdSubscribe does SUBSCRIBE and UNSUBSCRIBE (RFC 9051 6.3.7, 6.3.8).
func (c *conn) cmdSubscribe(cmd *wire.Command) error {
	if len(cmd.Args) != 1 {
		return bad("", cmd.Name+" takes a mailbox")
	}
	name, err := c.mailboxArg(cmd.Args[0])
	if err != nil {
		return err
	}
	if err := c.srv.st.SetSubscribed(c.acct, name, cmd.Name == "SUBSCRIBE"); err != nil {
		return c.fail("subscribe", err)
	}
	return nil
}

// cmdStatus answers from the mailbox's exact counters (RFC 9051 6.3.11,
// STATUS=SIZE RFC 8438); only DELETED-STORAGE needs the messages.
func (c *conn) cmdStatus(cmd *wire.Command) error {
	args, err := wire.ParseStatus(cmd.Args)
	if err != nil {
		return err
	}
	if args.Options.HighestModSeq {
		c.enableCondStore() // RFC 7162 3.1.8
	}
	name, err := c.mailboxName(args.Mailbox)
	if err != nil {
		return err
	}
	mb, err := c.srv.st.Mailbox(c.acct, name)
	if err != nil {
		return c.fail("status", err)
	}
	return c.writeStatus(mb, &args.Options)
}

// writeStatus writes "* STATUS name (...)" with the items asked for.
func (c *conn) writeStatus(mb storage.Mailbox, o *imap.StatusOptions) error {
	var deletedStorage int64
	if o.DeletedStorage {
		msgs, err := c.srv.st.Messages(c.acct, mb.ID)
		if err != nil {
			return c.fail("status", err)
		}
		for _, m := range msgs {
			if m.Flags&storage.FlagDeleted != 0 {
				deletedStorage += m.Size
			}
		}
	}
	w := c.w
	w.Untagged().Atom("STATUS")
	c.writeMailboxName(mb.Name)
	w.BeginList()
	item := func(on bool, name string, v uint64) {
		if on {
			w.Atom(name).Number(v)
		}
	}
	item(o.NumMessages, "MESSAGES", uint64(mb.Messages))
	item(o.UIDNext, "UIDNEXT", uint64(mb.UIDNext))
	item(o.UIDValidity, "UIDVALIDITY", uint64(mb.UIDValidity))
	item(o.NumUnseen, "UNSEEN", uint64(mb.Unseen))
	item(o.NumDeleted, "DELETED", uint64(mb.Deleted))
	item(o.Size, "SIZE", uint64(mb.Size))
	item(o.AppendLimit, "APPENDLIMIT", uint64(c.srv.opts.AppendLimit))
	item(o.DeletedStorage, "DELETED-STORAGE", uint64(deletedStorage))
	item(o.NumRecent, "RECENT", uint64(c.srv.recent.count(c.acct, mb.ID, mb.UIDNext)))
	item(o.HighestModSeq, "HIGHESTMODSEQ", mb.HighestModSeq)
	w.EndList().End()
	return nil
}

// maxPattern bounds a LIST pattern; matching costs its length times the
// name's.
const maxPattern = 1024

// cmdList answers LIST and LSUB (RFC 9051 6.3.9, LIST-EXTENDED RFC 5258,
// LIST-STATUS RFC 5819, SPECIAL-USE RFC 6154) from one read of the
// account's mailboxes.
func (c *conn) cmdList(cmd *wire.Command) error {
	var l *wire.ListCmd
	var err error
	lsub := cmd.Name == "LSUB"
	if lsub {
		l, err = wire.ParseLSub(cmd.Args)
	} else {
		l, err = wire.ParseList(cmd.Args)
	}
	if err != nil {
		return err
	}
	ref, err := c.mailboxName(l.Reference)
	if err != nil {
		return err
	}
	if len(l.Patterns) == 1 && l.Patterns[0] == "" && !l.Extended {
		// An empty pattern asks for the delimiter (RFC 9051 6.3.9).
		c.w.Untagged().Atom(cmd.Name).BeginList().Atom(`\Noselect`).EndList().Quoted(delim).Quoted("").End()
		return nil
	}
	mbs, err := c.srv.st.Mailboxes(c.acct)
	if err != nil {
		return c.fail("list", err)
	}
	var pats []string
	for _, p := range l.Patterns {
		p, err := c.mailboxName(p)
		if err != nil {
			return err
		}
		p = canonicalPattern(ref + p)
		if len(p) > maxPattern {
			return bad("", "Pattern too long")
		}
		pats = append(pats, p)
	}
	extended := c.rev2 || l.Extended
	o := &l.Options
	var subs []string
	if o.SelectSubscribed || o.ReturnSubscribed {
		if subs, err = c.srv.st.Subscriptions(c.acct); err != nil {
			return c.fail("list", err)
		}
	}
	t := newTree(mbs, subs)
	for _, name := range t.names {
		matched, pct := matchAny(pats, name)
		if !matched {
			continue
		}
		e, ok := listEntry(t, name, o, pct, extended, lsub)
		if !ok {
			continue
		}
		w := c.w
		w.Untagged().Atom(cmd.Name).BeginList()
		for _, a := range e.attrs {
			w.Atom(string(a))
		}
		w.EndList().Quoted(delim)
		c.writeMailboxName(name)
		if e.childInfo {
			w.BeginList().Quoted("CHILDINFO").BeginList().Quoted("SUBSCRIBED").EndList().EndList()
		}
		w.End()
		if o.ReturnStatus != nil && e.exists {
			if err := c.writeStatus(t.boxes[name], o.ReturnStatus); err != nil {
				return err
			}
		}
	}
	return nil
}

// listed is one LIST response.
type listed struct {
	attrs     []imap.MailboxAttr
	childInfo bool
	exists    bool
}

// listEntry builds one LIST response, or says the name is not listed. pct
// says a pattern ending in "%" matched the name.
func listEntry(t *tree, name string, o *imap.ListOptions, pct, extended, lsub bool) (listed, bool) {
	mb, exists := t.boxes[name]
	var e listed
	subscribed := t.subscribed[name]
	var selected bool
	switch {
	case o.SelectSubscribed:
		selected = subscribed
	case o.SelectSpecialUse:
		selected = exists && mb.SpecialUse != ""
	default:
		selected = exists
	}
	if !selected {
		switch {
		case o.SelectRecursiveMatch && t.subscribedBelow[name]:
			// RFC 5258 3.5: the parent of a match, with CHILDINFO.
			e.childInfo = true
			if !exists {
				e.attrs = append(e.attrs, imap.MailboxAttrNonExistent)
			}
		case pct && !exists && t.hasChildren[name] && !o.SelectSubscribed && !o.SelectSpecialUse:
			// RFC 3501 6.3.8: "%" also returns levels of the hierarchy
			// that are not mailboxes themselves.
			e.attrs = append(e.attrs, nonexistent(extended))
		case pct && o.SelectSubscribed && !o.SelectRecursiveMatch && t.subscribedBelow[name]:
			// LSUB "%" (RFC 3501 6.3.9): a parent of subscribed mailboxes.
			e.attrs = append(e.attrs, imap.MailboxAttrNoSelect)
		default:
			return e, false
		}
		if t.hasChildren[name] {
			e.attrs = append(e.attrs, imap.MailboxAttrHasChildren)
		}
		return e, true
	}
	e.exists = exists
	if !exists {
		// Subscribed, but no such mailbox (RFC 5258 3.1); LSUB says
		// \Noselect (RFC 3501 6.3.9).
		e.attrs = append(e.attrs, nonexistent(!lsub))
	} else if !lsub {
		if t.hasChildren[name] {
			e.attrs = append(e.attrs, imap.MailboxAttrHasChildren)
		} else {
			e.attrs = append(e.attrs, imap.MailboxAttrHasNoChildren)
		}
		if mb.SpecialUse != "" {
			e.attrs = append(e.attrs, imap.MailboxAttr(mb.SpecialUse))
		}
	}
	if subscribed && (o.SelectSubscribed || o.ReturnSubscribed) && !lsub {
		e.attrs = append(e.attrs, imap.MailboxAttrSubscribed)
	}
	if o.SelectRecursiveMatch && t.subscribedBelow[name] {
		e.childInfo = true
	}
	return e, true
}

// nonexistent is the attribute of a name that is only a parent: IMAP4rev2
// and LIST-EXTENDED say \NonExistent, IMAP4rev1 says \Noselect.
func nonexistent(rev2 bool) imap.MailboxAttr {
	if rev2 {
		return imap.MailboxAttrNonExistent
	}
	return imap.MailboxAttrNoSelect
}

// tree is the account's mailboxes and subscriptions with the names that
// are only parents.
type tree struct {
	names           []string // every mailbox, subscription and parent name, sorted
	boxes           map[string]storage.Mailbox
	subscribed      map[string]bool
	hasChildren     map[string]bool
	subscribedBelow map[string]bool // a descendant is subscribed
}

// newTree builds the tree of mailboxes and subscriptions (which may name
// mailboxes that do not exist, RFC 9051 6.3.7).
func newTree(mbs []storage.Mailbox, subs []string) *tree {
	t := &tree{boxes: map[string]storage.Mailbox{}, subscribed: map[string]bool{},
		hasChildren: map[string]bool{}, subscribedBelow: map[string]bool{}}
	for _, mb := range mbs {
		t.boxes[mb.Name] = mb
		if mb.Subscribed {
			t.subscribed[mb.Name] = true
		}
	}
	for _, s := range subs {
		t.subscribed[s] = true
	}
	seen := map[string]bool{}
	add := func(name string, exists bool) {
		if !seen[name] {
			seen[name] = true
			t.names = append(t.names, name)
		}
		for p := parent(name); p != ""; p = parent(p) {
			if exists {
				t.hasChildren[p] = true
			}
			if t.subscribed[name] {
				t.subscribedBelow[p] = true
			}
			if !seen[p] {
				seen[p] = true
				t.names = append(t.names, p)
			}
		}
	}
	for _, mb := range mbs {
		add(mb.Name, true)
	}
	for name := range t.subscribed {
		add(name, t.boxes[name].Name != "")
	}
	slices.Sort(t.names)
	return t
}

func parent(name string) string {
	i := strings.LastIndex(name, delim)
	if i < 0 {
		return ""
	}
	return name[:i]
}

// canonicalPattern spells a leading INBOX level in upper case, as storage
// spells the one case-insensitive name (RFC 9051 5.1).
func canonicalPattern(p string) string {
	first, rest, found := strings.Cut(p, delim)
	if strings.EqualFold(first, storage.InboxName) {
		if found {
			return storage.InboxName + delim + rest
		}
		return storage.InboxName
	}
	return p
}

// matchAny reports whether a pattern matches name, and whether one that
// matches ends in "%".
func matchAny(patterns []string, name string) (matched, pct bool) {
	for _, p := range patterns {
		if matchPattern(p, name) {
			matched = true
			pct = pct || strings.HasSuffix(p, "%")
		}
	}
	return matched, pct
}

// matchPattern reports whether name matches a LIST pattern: "*" matches
// any characters, "%" any but the delimiter (RFC 9051 6.3.9). It runs in
// time len(pattern)*len(name), whatever the pattern (go-imap's MatchList
// backtracks exponentially on patterns like "*a*a*a*a*b").
func matchPattern(pattern, name string) bool {
	// ok[j]: pattern[:i] matches name[:j], for the current i.
	ok := make([]bool, len(name)+1)
	next := make([]bool, len(name)+1)
	ok[0] = true
	for i := 0; i < len(pattern); i++ {
		pc := pattern[i]
		switch pc {
		case '*', '%':
			// A wildcard matches name[:j] if pattern[:i] matched some
			// name[:k], k <= j, with no delimiter in name[k:j] for "%".
			run := false
			for j := 0; j <= len(name); j++ {
				if j > 0 && pc == '%' && name[j-1] == storage.Delimiter {
					run = false
				}
				run = run || ok[j]
				next[j] = run
			}
		default:
			next[0] = false
			for j := 1; j <= len(name); j++ {
				next[j] = ok[j-1] && name[j-1] == pc
			}
		}
		ok, next = next, ok
	}
	return ok[len(name)]
}
