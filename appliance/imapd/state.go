package imapd

import (
	"cmp"
	"errors"
	"maps"
	"slices"

	"github.com/emersion/go-imap/v2"

	"postroom/storage"
)

// selected is the state of the selected mailbox: the client's view, and
// the changes made by others that the client has not been told yet.
//
// Change events come from a storage.Watcher on the account. They are
// collected (note) and told to the client at the next command that allows
// it or at once in IDLE (poll). Storage is the authority: new messages are
// read from it above the highest UID the client knows, so mail that
// committed out of event order still reaches the client in UID order.
//
// The view is pinned (RFC 9051 7.5.1, RFC 2180 4.1): a message another
// session expunged stays in it, with its last record (a ghost) and its
// body (held by the watcher), until the client has been sent its EXPUNGE.
// A FETCH by sequence number in between is answered from the ghost.
type selected struct {
	id       storage.MailboxID
	name     string
	readOnly bool
	view     *uidView
	w        *storage.Watcher

	// baseModSeq is the mailbox's HIGHESTMODSEQ in the snapshot the view
	// came from: events at or below it are in the view already.
	baseModSeq uint64
	// knownModSeq is the highest MODSEQ of a flag change or expunge told
	// to the client; after a watcher overflow, flags changed above it are
	// sent again.
	knownModSeq uint64
	keywords    map[string]bool // keywords announced in FLAGS
	announce    bool            // keywords appeared: send FLAGS

	// recent are the UIDs that are \Recent for this session (RFC 3501
	// 2.3.2); only IMAP4rev1 clients hear of them.
	recent map[uint32]bool

	// Pending changes by others.
	expunged map[uint32]storage.Message // UID -> the message as it was (the ghost)
	flags    map[uint32]storage.Message // latest state per UID
	added    bool
	resync   bool // the watcher overflowed: compare with storage
	gone     bool // the mailbox was deleted
	// holdFlags keeps flag changes pending (a NOTIFY push without
	// FlagChange, notify.go).
	holdFlags bool

	// contexts are the live results of SEARCH/SORT RETURN (UPDATE)
	// (RFC 5267 4.3, cmd_context.go); they end with the selection.
	contexts []*updateContext
}

// maxFlagKeywords bounds the keywords listed in FLAGS; PERMANENTFLAGS has
// \* so clients may use any others.
const maxFlagKeywords = 200

func (c *conn) unselect() {
	if c.sel != nil {
		c.sel.w.Close() // releases the bodies it held
		c.sel = nil
	}
	if c.state == stateSelected {
		c.state = stateAuth
	}
	c.saved = nil // RFC 5182 2.1: the saved result does not outlive the mailbox
}

// noteKeywords records keywords for FLAGS and reports a new one.
func (sel *selected) noteKeywords(kws []string) bool {
	grew := false
	for _, k := range kws {
		if !sel.keywords[k] && len(sel.keywords) < maxFlagKeywords {
			sel.keywords[k] = true
			grew = true
		}
	}
	return grew
}

// flagList is the FLAGS response: the system flags and the keywords in use.
func (sel *selected) flagList() []imap.Flag {
	out := []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}
	for _, k := range slices.Sorted(maps.Keys(sel.keywords)) {
		out = append(out, imap.Flag(k))
	}
	return out
}

// drain moves the watcher's events into the pending changes, except
// those skip (if not nil) picks out.
func (sel *selected) drain(skip func(storage.Event) bool) {
	evs, overflow := sel.w.Next()
	if overflow {
		// Events were dropped: storage itself will be compared at the
		// next poll, which also covers the events that came after.
		sel.resync = true
	}
	for _, ev := range evs {
		if skip == nil || !skip(ev) {
			sel.note(ev)
		} else if ev.Kind == storage.EventExpunged {
			sel.w.Release(ev.Message.Object)
		}
	}
}

func (sel *selected) note(ev storage.Event) {
	m := ev.Message
	if ev.Mailbox != sel.id {
		if ev.Kind == storage.EventExpunged {
			sel.w.Release(m.Object)
		}
		return
	}
	switch ev.Kind {
	case storage.EventAdded:
		sel.added = sel.added || m.ModSeq > sel.baseModSeq
	case storage.EventExpunged:
		if m.ModSeq > sel.baseModSeq && sel.view.Seq(m.UID) != 0 {
			if old, ok := sel.expunged[m.UID]; ok {
				sel.w.Release(old.Object)
			}
			sel.expunged[m.UID] = m
			delete(sel.flags, m.UID)
		} else {
			sel.w.Release(m.Object)
		}
	case storage.EventFlags:
		if cur, ok := sel.flags[m.UID]; m.ModSeq > sel.baseModSeq && (!ok || cur.ModSeq < m.ModSeq) {
			sel.flags[m.UID] = m
		}
	case storage.EventMailboxDeleted:
		sel.gone = true
	case storage.EventMailboxRenamed:
		sel.name = ev.Name
	}
}

// poll tells the client what changed (RFC 9051 7.4.1, 7.5): EXPUNGEs
// first, then FLAGS if new keywords appeared, the new EXISTS, and flag
// changes as FETCH responses. Where EXPUNGE may not be sent (after FETCH,
// STORE and SEARCH by sequence number, RFC 9051 7.5.1) nothing that
// depends on it goes either: the view stays pinned.
func (c *conn) poll(allowExpunge bool) {
	sel := c.sel
	sel.drain(nil)
	if sel.resync {
		if allowExpunge {
			c.resync()
		}
		return
	}
	w := c.w
	pendingExpunge := len(sel.expunged) > 0 || (sel.gone && sel.view.Len() > 0)
	if pendingExpunge && !allowExpunge {
		c.sendFlagChanges(true)
		return
	}
	if len(sel.expunged) > 0 {
		gone := slices.Sorted(maps.Keys(sel.expunged))
		for _, uid := range gone {
			m := sel.expunged[uid]
			sel.knownModSeq = max(sel.knownModSeq, m.ModSeq)
			sel.w.Release(m.Object)
		}
		clear(sel.expunged)
		c.removeFromView(gone)
	}
	if sel.gone && sel.view.Len() > 0 {
		var all []uint32
		sel.view.eachSeqRange(1, sel.view.Len(), func(_, uid uint32) { all = append(all, uid) })
		c.removeFromView(all)
	}
	var added []storage.Message
	if sel.added && !sel.gone {
		sel.added = false
		var err error
		added, err = c.srv.st.MessagesInRanges(c.acct, sel.id, []storage.UIDRange{{First: sel.view.Max() + 1, Last: ^uint32(0)}})
		if errors.Is(err, storage.ErrNoMailbox) {
			sel.gone, err = true, nil
		}
		if err != nil {
			c.fail("poll", err)
			added = nil
		}
	}
	for _, m := range added {
		sel.announce = sel.noteKeywords(m.Keywords) || sel.announce
	}
	for _, m := range sel.flags {
		sel.announce = sel.noteKeywords(m.Keywords) || sel.announce
	}
	c.announceFlags()
	if len(added) > 0 {
		for _, m := range added {
			sel.view.push(m.UID)
			c.claimRecent(m.UID)
		}
		w.Untagged().Number(uint64(sel.view.Len())).Atom("EXISTS").End()
		if !c.rev2 {
			w.Untagged().Number(uint64(len(sel.recent))).Atom("RECENT").End()
		}
		c.fetchNew(added[0].UID - 1) // NOTIFY's fetch attributes (RFC 5465 5.2, 7)
		c.ctxReevaluate(added)
	}
	c.sendFlagChanges(false)
}

// announceFlags sends FLAGS and PERMANENTFLAGS when keywords appeared
// that the client has not been told of (RFC 9051 7.3.5), before any FETCH
// that carries them.
func (c *conn) announceFlags() {
	sel := c.sel
	if !sel.announce {
		return
	}
	sel.announce = false
	flags := sel.flagList()
	c.w.Untagged().Atom("FLAGS").Flags(flags).End()
	if !sel.readOnly {
		c.w.Untagged().Atom("OK").BeginCode("PERMANENTFLAGS").Flags(append(flags, imap.FlagWildcard)).EndCode().Text("Flags permitted").End()
	}
}

// sendFlagChanges writes the pending flag changes as FETCH responses.
func (c *conn) sendFlagChanges(checkKeywords bool) {
	sel := c.sel
	if sel.holdFlags {
		return
	}
	if checkKeywords {
		for _, m := range sel.flags {
			sel.announce = sel.noteKeywords(m.Keywords) || sel.announce
		}
		c.announceFlags()
	}
	c.ctxPendingFlags()
	for _, uid := range slices.Sorted(maps.Keys(sel.flags)) {
		m := sel.flags[uid]
		delete(sel.flags, uid)
		sel.knownModSeq = max(sel.knownModSeq, m.ModSeq)
		if seq := sel.view.Seq(uid); seq != 0 {
			c.writeFlagsFetch(seq, m, true)
		}
	}
}

// writeFlagsFetch writes "* seq FETCH (UID u FLAGS (...))".
func (c *conn) writeFlagsFetch(seq uint32, m storage.Message, uid bool) {
	w := c.w
	w.Untagged().Number(uint64(seq)).Atom("FETCH").BeginList()
	if uid {
		w.Atom("UID").Number(uint64(m.UID))
	}
	w.Atom("FLAGS").Flags(c.flagsOf(m))
	if c.condstore {
		w.Atom("MODSEQ").BeginList().Number(m.ModSeq).EndList()
	}
	w.EndList().End()
}

// removeFromView takes UIDs (ascending) out of the view with one EXPUNGE
// each, numbered as each removal renumbers the rest (RFC 9051 7.4.1).
func (c *conn) removeFromView(uids []uint32) {
	sel := c.sel
	var inView []uint32
	for _, uid := range uids {
		if m, ok := sel.expunged[uid]; ok {
			sel.w.Release(m.Object)
			delete(sel.expunged, uid)
		}
		delete(sel.flags, uid)
		delete(sel.recent, uid)
		if sel.view.Seq(uid) != 0 {
			inView = append(inView, uid)
		}
	}
	c.ctxExpunging(inView) // RFC 5267 4.3.4: before the EXPUNGE
	if c.qresync {
		// RFC 7162 3.2.10: VANISHED with the UIDs instead of EXPUNGE.
		sel.view.remove(inView, func(uint32) {})
		if len(inView) > 0 {
			c.w.Untagged().Atom("VANISHED").Atom(compactUIDSet(inView).String()).End()
		}
		return
	}
	sel.view.remove(inView, func(seq uint32) {
		c.w.Untagged().Number(uint64(seq)).Atom("EXPUNGE").End()
	})
}

// resync compares the view with storage after the watcher overflowed:
// what is gone is expunged, what is new is announced, and flags changed
// since the last one the client heard of are sent again.
func (c *conn) resync() {
	sel := c.sel
	msgs, err := c.srv.st.Messages(c.acct, sel.id)
	if errors.Is(err, storage.ErrNoMailbox) {
		sel.gone, msgs, err = true, nil, nil
	}
	if err != nil {
		c.fail("poll", err)
		return
	}
	sel.resync, sel.added = false, false
	for _, m := range sel.expunged {
		sel.w.Release(m.Object)
	}
	clear(sel.expunged)
	clear(sel.flags)
	present := make(map[uint32]bool, len(msgs))
	for _, m := range msgs {
		present[m.UID] = true
	}
	var gone []uint32
	sel.view.eachUIDRange(1, ^uint32(0), func(_, uid uint32) {
		if !present[uid] {
			gone = append(gone, uid)
		}
	})
	c.removeFromView(gone)
	known, max0 := sel.knownModSeq, sel.view.Max()
	n := sel.view.Len()
	for _, m := range msgs {
		sel.announce = sel.noteKeywords(m.Keywords) || sel.announce
	}
	c.announceFlags()
	for _, m := range msgs {
		if m.UID > max0 {
			sel.view.push(m.UID)
			c.claimRecent(m.UID)
		}
		sel.knownModSeq = max(sel.knownModSeq, m.ModSeq)
	}
	if sel.view.Len() != n {
		c.w.Untagged().Number(uint64(sel.view.Len())).Atom("EXISTS").End()
	}
	for _, m := range msgs {
		if m.UID <= max0 && m.ModSeq > known {
			c.writeFlagsFetch(sel.view.Seq(m.UID), m, true)
		}
	}
	c.ctxReevaluate(msgs)
}

// flagsOf is a message's flags as IMAP flags, with \Recent for IMAP4rev1
// clients (RFC 3501 2.3.2).
func (c *conn) flagsOf(m storage.Message) []imap.Flag {
	names := m.AllFlags()
	out := make([]imap.Flag, 0, len(names)+1)
	for _, n := range names {
		out = append(out, imap.Flag(n))
	}
	if !c.rev2 && c.sel != nil && c.sel.recent[m.UID] {
		out = append(out, `\Recent`)
	}
	return out
}

// msgRef is one message of the view.
type msgRef struct{ seq, uid uint32 }

var errSeqRange = bad("CLIENTBUG", "Message sequence number out of range")

// resolve turns a sequence set, UID set or "$" (SEARCHRES) into messages
// of the view, ascending. "*" is the last message (RFC 9051 9, seq-number);
// "n:*" with n beyond the last includes the last (RFC 9051 6.4.9). UIDs
// that are not in the view are skipped; sequence numbers beyond it are the
// client's error.
func (c *conn) resolve(numSet imap.NumSet) ([]msgRef, error) {
	v := c.sel.view
	var out []msgRef
	multi := false
	add := func(seq, uid uint32) { out = append(out, msgRef{seq, uid}) }
	switch set := numSet.(type) {
	case imap.UIDSet:
		if imap.IsSearchRes(set) {
			for _, uid := range c.saved {
				if seq := v.Seq(uid); seq != 0 {
					add(seq, uid)
				}
			}
			return out, nil
		}
		multi = len(set) > 1
		for _, r := range set {
			lo, hi := uint32(r.Start), uint32(r.Stop)
			if lo == 0 {
				lo = v.Max()
			}
			if hi == 0 {
				hi = v.Max()
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			if hi == 0 {
				continue // "*" of an empty mailbox
			}
			v.eachUIDRange(lo, hi, add)
		}
	case imap.SeqSet:
		n := v.Len()
		multi = len(set) > 1
		for _, r := range set {
			dynamic := r.Start == 0 || r.Stop == 0
			lo, hi := r.Start, r.Stop
			if lo == 0 {
				lo = n
			}
			if hi == 0 {
				hi = n
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			if hi > n && !dynamic {
				return nil, errSeqRange
			}
			if n == 0 {
				continue
			}
			v.eachSeqRange(max(lo, 1), min(hi, n), add)
		}
	default:
		return nil, errors.New("imapd: unknown number set type")
	}
	if multi {
		// "5,1:3" or overlapping ranges: order and deduplicate.
		slices.SortFunc(out, func(a, b msgRef) int { return cmp.Compare(a.uid, b.uid) })
		out = slices.CompactFunc(out, func(a, b msgRef) bool { return a.uid == b.uid })
	}
	return out, nil
}

// uidRanges coalesces ascending refs into storage ranges.
func uidRanges(refs []msgRef) []storage.UIDRange {
	var out []storage.UIDRange
	for _, r := range refs {
		if k := len(out); k > 0 && out[k-1].Last+1 == r.uid {
			out[k-1].Last = r.uid
			continue
		}
		out = append(out, storage.UIDRange{First: r.uid, Last: r.uid})
	}
	return out
}

// loaded is a message of the view with its metadata; ghost marks one
// another session expunged that this client still sees.
type loaded struct {
	msgRef
	m     storage.Message
	ghost bool
}

// load reads the metadata of refs (ascending). A message another session
// expunged is served from its ghost while the client still sees it;
// missing reports one that is gone without a trace (its mailbox deleted,
// or the watcher overflowed).
func (c *conn) load(refs []msgRef) (out []loaded, missing bool, err error) {
	if len(refs) == 0 {
		return nil, false, nil
	}
	sel := c.sel
	msgs, err := c.srv.st.MessagesInRanges(c.acct, sel.id, uidRanges(refs))
	if errors.Is(err, storage.ErrNoMailbox) {
		msgs, err = nil, nil
	}
	if err != nil {
		return nil, false, err
	}
	out = make([]loaded, 0, len(refs))
	i := 0
	drained := false
	for _, r := range refs {
		for i < len(msgs) && msgs[i].UID < r.uid {
			i++
		}
		if i < len(msgs) && msgs[i].UID == r.uid {
			out = append(out, loaded{msgRef: r, m: msgs[i]})
			continue
		}
		if !drained {
			// The expunge's event is out once its writer has let go.
			c.srv.st.Settle(c.acct)
			sel.drain(nil)
			drained = true
		}
		if g, ok := sel.expunged[r.uid]; ok {
			if f, ok := sel.flags[r.uid]; ok && f.ModSeq > g.ModSeq {
				g.Flags, g.Keywords = f.Flags, f.Keywords
			}
			out = append(out, loaded{msgRef: r, m: g, ghost: true})
			continue
		}
		missing = true
	}
	return out, missing, nil
}
