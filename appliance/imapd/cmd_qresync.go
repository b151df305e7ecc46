package imapd

import (
	"errors"

	"github.com/emersion/go-imap/v2"

	"postroom/appliance/imapd/wire"
	"postroom/storage"
)

// QRESYNC (RFC 7162 3.2): a client that enabled it hears of expunges as
// VANISHED with UIDs, and resynchronises a mailbox in its SELECT: what
// vanished since its MODSEQ (VANISHED (EARLIER)) and what changed (FETCH).
//
// What vanished is computed from the mailbox's UIDs, not from the expunge
// tombstones: every UID below UIDNEXT that the mailbox no longer has, within
// the UIDs the client names. That may include UIDs the client already
// knew were gone, which RFC 7162 3.2.5.2 allows, and never misses one,
// whatever was pruned.

// enableQResync turns QRESYNC (and so CONDSTORE) on.
func (c *conn) enableQResync() {
	c.qresync = true
	c.enableCondStore()
}

// vanishedIn returns the UIDs of set (nil: every UID) at or below max
// that are neither in the view nor in present, as ranges.
func (c *conn) vanishedIn(set imap.UIDSet, maxUID uint32, present map[uint32]bool) imap.UIDSet {
	v := c.sel.view
	if set == nil {
		set = imap.UIDSet{{Start: 1, Stop: imap.UID(maxUID)}}
	}
	out := imap.UIDSet{}
	add := func(lo, hi uint32) {
		if lo > hi {
			return
		}
		if k := len(out); k > 0 && uint32(out[k-1].Stop)+1 == lo {
			out[k-1].Stop = imap.UID(hi)
			return
		}
		out = append(out, imap.UIDRange{Start: imap.UID(lo), Stop: imap.UID(hi)})
	}
	for _, r := range set {
		lo, hi := uint32(r.Start), uint32(r.Stop)
		if hi == 0 || hi > maxUID {
			hi = maxUID
		}
		if lo == 0 || lo > hi {
			continue
		}
		next := lo
		skip := func(uid uint32) {
			add(next, uid-1)
			next = uid + 1
		}
		v.eachUIDRange(lo, min(hi, v.Max()), func(_, uid uint32) { skip(uid) })
		for u := max(next, v.Max()+1); u <= hi && len(present) > 0; u++ {
			if present[u] {
				skip(u)
			}
		}
		add(next, hi)
	}
	return out
}

// qresyncSelect answers SELECT's QRESYNC parameters (RFC 7162 3.2.5.1).
func (c *conn) qresyncSelect(q *wire.QResync, uidValidity, uidNext uint32) error {
	if q.UIDValidity != uidValidity {
		return nil // another mailbox than the client's: a full sync
	}
	if v := c.vanishedIn(q.KnownUIDs, uidNext-1, nil); len(v) > 0 {
		c.w.Untagged().Atom("VANISHED").BeginList().Atom("EARLIER").EndList().Atom(v.String()).End()
	}
	msgs, err := c.srv.st.MessagesInRanges(c.acct, c.sel.id, []storage.UIDRange{{First: 1, Last: ^uint32(0)}})
	if errors.Is(err, storage.ErrNoMailbox) {
		return nil
	}
	if err != nil {
		return c.fail("select", err)
	}
	for _, m := range msgs {
		if m.ModSeq > q.ModSeq && (q.KnownUIDs == nil || q.KnownUIDs.Contains(imap.UID(m.UID))) {
			if seq := c.sel.view.Seq(m.UID); seq != 0 {
				c.writeFlagsFetch(seq, m, true)
			}
		}
	}
	return nil
}
