package imapd

import (
	"sync"

	"github.com/emersion/go-imap/v2"

	"postroom/appliance/imapd/wire"
	"postroom/storage"
)

// cmdSelect opens a mailbox (RFC 9051 6.3.2, EXAMINE 6.3.3). The watcher
// is subscribed before the snapshot is read, so no change falls between
// them. A failed SELECT leaves no mailbox selected.
func (c *conn) cmdSelect(cmd *wire.Command) error {
	args, err := wire.ParseSelect(cmd.Args, cmd.Name == "EXAMINE")
	if err != nil {
		return err
	}
	name, err := c.mailboxName(args.Mailbox)
	if err != nil {
		return err
	}
	if args.Options.CondStore {
		c.enableCondStore() // RFC 7162 3.1.8
	}
	if args.QResync != nil && !c.qresync {
		return bad("", "ENABLE QRESYNC first") // RFC 7162 3.2.5
	}
	hadOne := c.sel != nil
	c.unselect()
	if hadOne {
		// RFC 7162 3.2.11, RFC 9051 7.1: the old mailbox is closed.
		c.w.Untagged().Atom("OK").BeginCode("CLOSED").EndCode().Text("Previous mailbox closed").End()
	}
	w := c.srv.st.WatchHolding(c.acct)
	sv, err := c.srv.st.MailboxSelect(c.acct, name, maxFlagKeywords)
	if err != nil {
		w.Close()
		return c.fail("select", err)
	}
	sel := &selected{
		id: sv.ID, name: sv.Name, readOnly: args.Options.ReadOnly, w: w,
		baseModSeq: sv.HighestModSeq, knownModSeq: sv.HighestModSeq,
		keywords: map[string]bool{}, expunged: map[uint32]storage.Message{}, flags: map[uint32]storage.Message{},
		view: newUIDViewRuns(sv.Runs), recent: map[uint32]bool{},
	}
	sel.noteKeywords(sv.Keywords)
	c.sel, c.state = sel, stateSelected
	for _, uid := range c.srv.recent.claim(c.acct, sv.ID, sv.UIDNext, sel.readOnly) {
		if sel.view.Seq(uid) != 0 {
			sel.recent[uid] = true
		}
	}
	flags := sel.flagList()
	ww := c.w
	ww.Untagged().Number(uint64(sel.view.Len())).Atom("EXISTS").End()
	if !c.rev2 {
		ww.Untagged().Number(uint64(len(sel.recent))).Atom("RECENT").End()
		if sv.FirstUnseen != 0 {
			ww.Untagged().Atom("OK").BeginCode("UNSEEN").Number(uint64(sv.FirstUnseen)).EndCode().Text("First unseen").End()
		}
	}
	ww.Untagged().Atom("OK").BeginCode("UIDVALIDITY").Number(uint64(sv.UIDValidity)).EndCode().Text("UIDs valid").End()
	ww.Untagged().Atom("OK").BeginCode("UIDNEXT").Number(uint64(sv.UIDNext)).EndCode().Text("Predicted next UID").End()
	if c.condstore {
		ww.Untagged().Atom("OK").BeginCode("HIGHESTMODSEQ").Number(sv.HighestModSeq).EndCode().Text("Highest").End()
	}
	ww.Untagged().Atom("FLAGS").Flags(flags).End()
	if args.QResync != nil {
		defer func() {
			if err := c.qresyncSelect(args.QResync, sv.UIDValidity, sv.UIDNext); err != nil {
				c.log.Warn("imap qresync", "err", err)
			}
		}()
	}
	if sel.readOnly {
		ww.Untagged().Atom("OK").BeginCode("PERMANENTFLAGS").BeginList().EndList().EndCode().Text("Read-only mailbox").End()
		c.okCode = "READ-ONLY"
	} else {
		ww.Untagged().Atom("OK").BeginCode("PERMANENTFLAGS").Flags(append(flags, imap.FlagWildcard)).EndCode().Text("Flags permitted").End()
		c.okCode = "READ-WRITE"
	}
	return nil
}

// cmdClose expunges (unless read-only) silently and closes the mailbox
// (RFC 9051 6.4.1).
func (c *conn) cmdClose(cmd *wire.Command) error {
	if !c.sel.readOnly {
		if _, err := c.srv.st.Expunge(c.acct, c.sel.id, nil); err != nil {
			c.unselect()
			return c.fail("close", err)
		}
	}
	c.unselect()
	return nil
}

// cmdUnselect closes the mailbox without expunging (RFC 9051 6.4.2).
func (c *conn) cmdUnselect(cmd *wire.Command) error {
	c.unselect()
	return nil
}

// recentTable says which messages are \Recent (RFC 3501 2.3.2): those a
// session with the mailbox selected read-write is the first to hear of.
// Within a running server that holds across connections: the claim is the
// server's, not the connection's (TestRecentAcrossReconnects).
//
// It is kept in memory, by decision: a restart (an update, a power cut)
// forgets which messages a session was told of, and the first SELECT of
// each mailbox afterwards takes what is there without \Recent; only mail
// after that is recent again. RFC 3501 says a message whose state cannot
// be known SHOULD be considered recent; we do not, because that would show
// an IMAP4rev1 client all of its old mail as new after every update,
// which is worse than losing the mark on the few messages that came in
// between a client's last look and the restart. Dovecot keeps the line in
// its index files; keeping it here would need a per-mailbox record in
// storage. IMAP4rev2 clients never see \Recent (RFC 9051 dropped it).
type recentTable struct {
	mu   sync.Mutex
	seen map[recentKey]uint32 // the highest UID some session has claimed
}

type recentKey struct {
	acct storage.AccountID
	mbox storage.MailboxID
}

func (t *recentTable) init() { t.seen = map[recentKey]uint32{} }

// claim returns the UIDs below uidNext that no session has claimed and,
// unless readOnly, claims them.
func (t *recentTable) claim(acct storage.AccountID, mbox storage.MailboxID, uidNext uint32, readOnly bool) []uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := recentKey{acct, mbox}
	last, ok := t.seen[k]
	if !ok {
		t.seen[k] = uidNext - 1
		return nil
	}
	var out []uint32
	for u := last + 1; u < uidNext && len(out) < 100000; u++ {
		out = append(out, u)
	}
	if !readOnly && uidNext-1 > last {
		t.seen[k] = uidNext - 1
	}
	return out
}

// claimOne claims one new message; it reports whether it is recent for
// the caller.
func (t *recentTable) claimOne(acct storage.AccountID, mbox storage.MailboxID, uid uint32) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := recentKey{acct, mbox}
	if t.seen[k] >= uid {
		return false
	}
	t.seen[k] = uid
	return true
}

// claimRecent marks a message new to the view \Recent if this session is
// the first to see it.
func (c *conn) claimRecent(uid uint32) {
	if !c.sel.readOnly && c.srv.recent.claimOne(c.acct, c.sel.id, uid) {
		c.sel.recent[uid] = true
	}
}

// count is STATUS's RECENT: the messages no session has claimed yet
// (expunged ones included: an estimate, as RFC 3501 allows of STATUS).
func (t *recentTable) count(acct storage.AccountID, mbox storage.MailboxID, uidNext uint32) uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	last, ok := t.seen[recentKey{acct, mbox}]
	if !ok || uidNext-1 <= last {
		return 0
	}
	return uidNext - 1 - last
}

// enableCondStore turns CONDSTORE on for the session (RFC 7162 3.1): from
// now on FETCH responses that carry FLAGS carry MODSEQ too.
func (c *conn) enableCondStore() { c.condstore = true }
