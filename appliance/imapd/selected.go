package imapd

import (
	"cmp"
	"errors"
	"maps"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"postroom/storage"
)

// selected is the state of the selected mailbox: the client's view, and
// the changes made by others that the client has not been told yet.
//
// Change events come from a storage.Watcher on the account. They are
// collected (note) and told to the client at the next command or at once
// in IDLE (apply). Storage is the authority: new messages are read from it
// above the highest UID the client knows, so mail that committed out of
// event order still reaches the client in UID order.
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
	announce    bool            // our own STORE added keywords: send FLAGS

	// Pending changes by others.
	expunged map[uint32]uint64          // UID -> MODSEQ of the expunge
	flags    map[uint32]storage.Message // latest state per UID
	added    bool
	resync   bool // the watcher overflowed: compare with storage
	gone     bool // the mailbox was deleted
}

// maxFlagKeywords bounds the keywords listed in FLAGS; PERMANENTFLAGS has
// \* so clients may use any others.
const maxFlagKeywords = 200

// Select opens a mailbox (RFC 9051 6.3.2, EXAMINE 6.3.3). The watcher is
// subscribed before the snapshot is read, so no change falls between them.
func (s *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	defer s.enter()()
	s.unselect()
	w := s.srv.st.Watch(s.acct)
	sv, err := s.srv.st.MailboxSelect(s.acct, name, maxFlagKeywords)
	if err != nil {
		w.Close()
		return nil, s.fail("select", err)
	}
	sel := &selected{
		id: sv.ID, name: sv.Name, readOnly: options != nil && options.ReadOnly, w: w,
		baseModSeq: sv.HighestModSeq, knownModSeq: sv.HighestModSeq,
		keywords: map[string]bool{}, expunged: map[uint32]uint64{}, flags: map[uint32]storage.Message{},
		view: newUIDView(sv.UIDs),
	}
	sel.noteKeywords(sv.Keywords)
	s.sel = sel
	flags := sel.flagList()
	return &imap.SelectData{
		Flags:             flags,
		PermanentFlags:    append(slices.Clone(flags), imap.FlagWildcard),
		NumMessages:       sel.view.Len(),
		FirstUnseenSeqNum: sv.FirstUnseen,
		UIDNext:           imap.UID(sv.UIDNext),
		UIDValidity:       sv.UIDValidity,
	}, nil
}

// Unselect closes the mailbox (RFC 9051 6.4.2; CLOSE 6.4.1 expunges
// first through Expunge).
func (s *session) Unselect() error {
	s.unselect()
	return nil
}

func (s *session) unselect() {
	if s.sel != nil {
		s.sel.w.Close()
		s.sel = nil
	}
	s.saved = nil // RFC 5182 2.1: the saved result does not outlive the mailbox
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
		// next apply, which also covers the events that came after.
		sel.resync = true
		return
	}
	for _, ev := range evs {
		if skip == nil || !skip(ev) {
			sel.note(ev)
		}
	}
}

func (sel *selected) note(ev storage.Event) {
	if ev.Mailbox != sel.id {
		return
	}
	m := ev.Message
	switch ev.Kind {
	case storage.EventAdded:
		sel.added = sel.added || m.ModSeq > sel.baseModSeq
	case storage.EventExpunged:
		if m.ModSeq > sel.baseModSeq {
			sel.expunged[m.UID] = m.ModSeq
			delete(sel.flags, m.UID)
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

// Poll tells the client what changed since its last command (RFC 9051
// 7.4.1, 7.5). go-imap forbids EXPUNGE after FETCH, STORE and SEARCH
// (RFC 9051 7.5.1); expunges then wait for the next command.
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.sel == nil {
		return nil
	}
	return s.apply(w, allowExpunge)
}

// Idle pushes changes while the client idles (RFC 2177): the watcher's
// signal wakes it as soon as another session's change is committed.
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	s.idleMu.Lock()
	defer s.idleMu.Unlock()
	if s.closed {
		return nil
	}
	if s.sel == nil {
		select {
		case <-stop:
		case <-s.srv.ctx.Done():
		}
		return nil
	}
	c := s.sel.w.C()
	for {
		if err := s.apply(w, true); err != nil {
			return err
		}
		select {
		case <-stop:
			return nil
		case _, ok := <-c:
			if !ok { // the store is closing
				<-stop
				return nil
			}
		}
	}
}

// apply writes the pending changes: EXPUNGEs first, then FLAGS if new
// keywords appeared, the new EXISTS, and flag changes as FETCH responses.
func (s *session) apply(w *imapserver.UpdateWriter, allowExpunge bool) error {
	sel := s.sel
	sel.drain(nil)
	if sel.resync {
		if !allowExpunge {
			return nil // the comparison may expunge: wait
		}
		return s.resync(w)
	}
	var werr error
	if allowExpunge && len(sel.expunged) > 0 {
		var gone []uint32
		for uid, modseq := range sel.expunged {
			if sel.view.Seq(uid) != 0 {
				gone = append(gone, uid)
			}
			sel.knownModSeq = max(sel.knownModSeq, modseq)
		}
		slices.Sort(gone)
		clear(sel.expunged)
		sel.view.remove(gone, func(seq uint32) { werr = errors.Join(werr, w.WriteExpunge(seq)) })
		if werr != nil {
			return werr
		}
	}
	var added []storage.Message
	if sel.added && !sel.gone {
		sel.added = false
		var err error
		added, err = s.srv.st.MessagesInRanges(s.acct, sel.id, []storage.UIDRange{{First: sel.view.Max() + 1, Last: ^uint32(0)}})
		if errors.Is(err, storage.ErrNoMailbox) {
			sel.gone, err = true, nil
		}
		if err != nil {
			return s.fail("poll", err)
		}
	}
	grew := false
	for _, m := range added {
		grew = sel.noteKeywords(m.Keywords) || grew
	}
	for _, m := range sel.flags {
		grew = sel.noteKeywords(m.Keywords) || grew
	}
	if grew || sel.announce {
		sel.announce = false
		if err := w.WriteMailboxFlags(sel.flagList()); err != nil {
			return err
		}
	}
	if len(added) > 0 {
		for _, m := range added {
			sel.view.push(m.UID)
		}
		if err := w.WriteNumMessages(sel.view.Len()); err != nil {
			return err
		}
	}
	for _, uid := range slices.Sorted(maps.Keys(sel.flags)) {
		m := sel.flags[uid]
		delete(sel.flags, uid)
		sel.knownModSeq = max(sel.knownModSeq, m.ModSeq)
		if seq := sel.view.Seq(uid); seq != 0 {
			if err := w.WriteMessageFlags(seq, imap.UID(uid), flagsOf(m)); err != nil {
				return err
			}
		}
	}
	return nil
}

// resync compares the view with storage after the watcher overflowed:
// what is gone is expunged, what is new is announced, and flags changed
// since the last one the client heard of are sent again.
func (s *session) resync(w *imapserver.UpdateWriter) error {
	sel := s.sel
	msgs, err := s.srv.st.Messages(s.acct, sel.id)
	if errors.Is(err, storage.ErrNoMailbox) {
		sel.gone, msgs, err = true, nil, nil
	}
	if err != nil {
		return s.fail("poll", err)
	}
	sel.resync, sel.added = false, false
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
	var werr error
	sel.view.remove(gone, func(seq uint32) { werr = errors.Join(werr, w.WriteExpunge(seq)) })
	if werr != nil {
		return werr
	}
	known, max0 := sel.knownModSeq, sel.view.Max()
	n := sel.view.Len()
	for _, m := range msgs {
		if sel.noteKeywords(m.Keywords) {
			if err := w.WriteMailboxFlags(sel.flagList()); err != nil {
				return err
			}
		}
		if m.UID > max0 {
			sel.view.push(m.UID)
		}
		sel.knownModSeq = max(sel.knownModSeq, m.ModSeq)
	}
	if sel.view.Len() != n {
		if err := w.WriteNumMessages(sel.view.Len()); err != nil {
			return err
		}
	}
	for _, m := range msgs {
		if m.UID <= max0 && m.ModSeq > known {
			if err := w.WriteMessageFlags(sel.view.Seq(m.UID), imap.UID(m.UID), flagsOf(m)); err != nil {
				return err
			}
		}
	}
	return nil
}

// flagsOf is a message's flags as IMAP flags.
func flagsOf(m storage.Message) []imap.Flag {
	names := m.AllFlags()
	out := make([]imap.Flag, len(names))
	for i, n := range names {
		out[i] = imap.Flag(n)
	}
	return out
}

// msgRef is one message of the view.
type msgRef struct{ seq, uid uint32 }

var errSeqRange = &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug,
	Text: "Message sequence number out of range"}

// resolve turns a sequence set, UID set or "$" (SEARCHRES) into messages
// of the view, ascending. "*" is the last message (RFC 9051 9, seq-number);
// "n:*" with n beyond the last includes the last (RFC 9051 6.4.9). UIDs
// that are not in the view are skipped; sequence numbers beyond it are the
// client's error.
func (s *session) resolve(numSet imap.NumSet) ([]msgRef, error) {
	v := s.sel.view
	var out []msgRef
	multi := false
	add := func(seq, uid uint32) { out = append(out, msgRef{seq, uid}) }
	switch set := numSet.(type) {
	case imap.UIDSet:
		if imap.IsSearchRes(set) {
			for _, uid := range s.saved {
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

// loaded is a message of the view with its metadata.
type loaded struct {
	msgRef
	m storage.Message
}

// load reads the metadata of refs (ascending). Messages another session
// expunged and the client has not yet been told of are left out; missing
// reports whether there were any.
func (s *session) load(refs []msgRef) (out []loaded, missing bool, err error) {
	if len(refs) == 0 {
		return nil, false, nil
	}
	msgs, err := s.srv.st.MessagesInRanges(s.acct, s.sel.id, uidRanges(refs))
	if errors.Is(err, storage.ErrNoMailbox) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	out = make([]loaded, 0, len(msgs))
	i := 0
	for _, r := range refs {
		for i < len(msgs) && msgs[i].UID < r.uid {
			i++
		}
		if i < len(msgs) && msgs[i].UID == r.uid {
			out = append(out, loaded{r, msgs[i]})
		} else {
			missing = true
		}
	}
	return out, missing, nil
}
