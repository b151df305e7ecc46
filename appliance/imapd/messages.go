package imapd

import (
	"errors"
	"io"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"postroom/storage"
)

// Keyword limits: storage refuses to read a message record with more than
// 1000 keywords, so a client must not be able to write one.
const (
	maxMessageKeywords = 64
	maxKeywordLen      = 128
)

var (
	errReadOnly = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
		Text: "Mailbox is read-only (EXAMINE)"}
	errExpungeIssued = &imap.Error{Type: imap.StatusResponseTypeNo, Code: "EXPUNGEISSUED",
		Text: "Some of the messages were expunged meanwhile"}
	errTooManyKeywords = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit,
		Text: "Too many keywords on a message"}
)

// parseFlags splits flags into system flags and keywords within limits.
func parseFlags(flags []imap.Flag) (storage.Flags, []string, error) {
	names := make([]string, len(flags))
	for i, f := range flags {
		names[i] = string(f)
	}
	f, kw := storage.ParseFlags(names)
	if len(kw) > maxMessageKeywords {
		return 0, nil, errTooManyKeywords
	}
	for _, k := range kw {
		if len(k) > maxKeywordLen {
			return 0, nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit, Text: "Keyword too long"}
		}
	}
	return f, kw, nil
}

// Store changes flags (RFC 9051 6.4.6). Each changed message is answered
// with its FLAGS (and UID) unless .SILENT.
func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) error {
	defer s.enter()()
	if s.sel.readOnly {
		return errReadOnly
	}
	refs, err := s.resolve(numSet)
	if err != nil {
		return err
	}
	f, kw, err := parseFlags(flags.Flags)
	if err != nil {
		return err
	}
	op := storage.FlagsReplace
	switch flags.Op {
	case imap.StoreFlagsAdd:
		op = storage.FlagsAdd
	case imap.StoreFlagsDel:
		op = storage.FlagsRemove
	}
	if op == storage.FlagsAdd && len(kw) > 0 {
		items, _, err := s.load(refs)
		if err != nil {
			return s.fail("store", err)
		}
		for _, it := range items {
			n := len(it.m.Keywords)
			for _, k := range kw {
				if !contains(it.m.Keywords, k) {
					n++
				}
			}
			if n > maxMessageKeywords {
				return errTooManyKeywords
			}
		}
	}
	res, err := s.setFlags(refs, op, f, kw, flags.Silent)
	if err != nil {
		return s.fail("store", err)
	}
	if !flags.Silent {
		for _, m := range res {
			if seq := s.sel.view.Seq(m.UID); seq != 0 {
				rw := w.CreateMessage(seq)
				rw.WriteUID(imap.UID(m.UID))
				rw.WriteFlags(flagsOf(m))
				if err := rw.Close(); err != nil {
					return err
				}
			}
		}
	}
	return expungeIssued(numSet, len(res) < len(refs))
}

// expungeIssued answers a command that found some of its messages expunged
// by another session, which the client has not been told yet. By sequence
// number that is NO [EXPUNGEISSUED] (RFC 9051 7.1, RFC 2180 4.1.3); a UID
// that no longer exists is no error (RFC 9051 6.4.9).
func expungeIssued(numSet imap.NumSet, missing bool) error {
	if _, isSeq := numSet.(imap.SeqSet); isSeq && missing {
		return errExpungeIssued
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// setFlags changes flags in storage and keeps the pending changes right:
// the events of our own change are not echoed back, and a change by
// another session that was still pending is replaced by the state after
// ours (silent: the client must still learn it) or dropped (the client is
// being told the new state now).
func (s *session) setFlags(refs []msgRef, op storage.FlagOp, f storage.Flags, kw []string, silent bool) ([]storage.Message, error) {
	sel := s.sel
	sel.drain(nil) // what happened before us stays pending
	uids := make([]uint32, len(refs))
	for i, r := range refs {
		uids[i] = r.uid
	}
	res, err := s.srv.st.SetFlags(s.acct, sel.id, uids, op, f, kw)
	if err != nil {
		return nil, err
	}
	own := make(map[uint64]uint32, len(res))
	for _, m := range res {
		own[m.ModSeq] = m.UID
	}
	// Storage publishes before SetFlags returns, so our events are queued.
	sel.drain(func(ev storage.Event) bool {
		return ev.Kind == storage.EventFlags && ev.Mailbox == sel.id && own[ev.Message.ModSeq] == ev.Message.UID
	})
	for _, m := range res {
		if _, ok := sel.flags[m.UID]; ok {
			if silent {
				sel.flags[m.UID] = m
			} else {
				delete(sel.flags, m.UID)
			}
		}
		if sel.noteKeywords(m.Keywords) {
			sel.announce = true
		}
	}
	return res, nil
}

// Expunge removes \Deleted messages (RFC 9051 6.4.3), or those of them
// in uids (UID EXPUNGE, RFC 4315 2.1). CLOSE calls it with a writer that
// writes nothing (RFC 9051 6.4.1); in a read-only mailbox CLOSE expunges
// nothing.
func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	defer s.enter()()
	sel := s.sel
	if sel.readOnly {
		if *w == (imapserver.ExpungeWriter{}) {
			return nil
		}
		return errReadOnly
	}
	var target []uint32 // nil: every \Deleted message
	if uids == nil {
		// The counters say whether the full scan is worth it.
		mb, err := s.srv.st.MailboxByID(s.acct, sel.id)
		if err != nil || mb.Deleted == 0 {
			return nil
		}
	} else {
		refs, err := s.resolve(*uids)
		if err != nil {
			return err
		}
		items, _, err := s.load(refs)
		if err != nil {
			return s.fail("expunge", err)
		}
		target = []uint32{}
		for _, it := range items {
			if it.m.Flags&storage.FlagDeleted != 0 {
				target = append(target, it.uid)
			}
		}
		if len(target) == 0 {
			return nil
		}
	}
	gone, err := s.srv.st.Expunge(s.acct, sel.id, target)
	if err != nil {
		return s.fail("expunge", err)
	}
	return s.announceExpunged(gone, w.WriteExpunge)
}

// announceExpunged takes messages this session removed out of the view,
// writing one EXPUNGE each.
func (s *session) announceExpunged(gone []uint32, write func(seq uint32) error) error {
	sel := s.sel
	var inView []uint32
	for _, uid := range gone {
		delete(sel.expunged, uid)
		delete(sel.flags, uid)
		if sel.view.Seq(uid) != 0 {
			inView = append(inView, uid)
		}
	}
	var werr error
	sel.view.remove(inView, func(seq uint32) { werr = errors.Join(werr, write(seq)) })
	return werr
}

// Copy copies messages by reference (RFC 9051 6.4.7) and answers with
// COPYUID (RFC 4315 3).
func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	defer s.enter()()
	refs, err := s.resolve(numSet)
	if err != nil {
		return nil, err
	}
	items, _, err := s.load(refs)
	if err != nil {
		return nil, s.fail("copy", err)
	}
	var size int64
	uids := make([]uint32, len(items))
	for i, it := range items {
		uids[i] = it.uid
		size += it.m.Size
	}
	if err := s.srv.st.CheckQuota(s.acct, size); err != nil {
		return nil, s.fail("copy", err)
	}
	dst, src, dstUIDs, err := s.srv.st.Copy(s.acct, s.sel.id, uids, dest)
	if err != nil {
		return nil, s.copyFail("copy", err)
	}
	return copyData(dst, src, dstUIDs), nil
}

// copyFail asks the client to create a missing destination (RFC 9051
// 6.4.7: NO [TRYCREATE]).
func (s *session) copyFail(op string, err error) error {
	if errors.Is(err, storage.ErrNoMailbox) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
	}
	return s.fail(op, err)
}

func copyData(dst storage.Mailbox, src, dstUIDs []uint32) *imap.CopyData {
	if len(src) == 0 {
		return nil
	}
	return &imap.CopyData{UIDValidity: dst.UIDValidity, SourceUIDs: compactUIDSet(src), DestUIDs: compactUIDSet(dstUIDs)}
}

// compactUIDSet writes ascending UIDs as ranges. Both sides of COPYUID are
// ascending, so compacting each keeps them pairwise (RFC 4315 3).
func compactUIDSet(uids []uint32) imap.UIDSet {
	set := imap.UIDSet{}
	for _, u := range uids {
		if k := len(set); k > 0 && uint32(set[k-1].Stop)+1 == u {
			set[k-1].Stop = imap.UID(u)
			continue
		}
		set = append(set, imap.UIDRange{Start: imap.UID(u), Stop: imap.UID(u)})
	}
	return set
}

// Move moves messages atomically per batch (RFC 6851): COPYUID first,
// then an EXPUNGE for each source message.
func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	defer s.enter()()
	if s.sel.readOnly {
		return errReadOnly
	}
	refs, err := s.resolve(numSet)
	if err != nil {
		return err
	}
	uids := make([]uint32, len(refs))
	for i, r := range refs {
		uids[i] = r.uid
	}
	dst, src, dstUIDs, err := s.srv.st.Move(s.acct, s.sel.id, uids, dest)
	if err != nil {
		return s.copyFail("move", err)
	}
	if data := copyData(dst, src, dstUIDs); data != nil {
		if err := w.WriteCopyData(data); err != nil {
			return err
		}
	}
	return s.announceExpunged(src, w.WriteExpunge)
}

// Append stores a message with flags and date (RFC 9051 6.3.12) and
// answers with APPENDUID (RFC 4315 3). go-imap has refused literals over
// AppendLimit already; the body streams from the connection into storage.
func (s *session) Append(mailbox string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	defer s.enter()()
	f, kw, err := parseFlags(options.Flags)
	if err != nil {
		return nil, err
	}
	dv, err := s.srv.st.Append(s.srv.ctx, s.acct, mailbox, f, kw, options.Time, &exactReader{r: r, left: r.Size()})
	if err != nil {
		return nil, s.copyFail("append", err)
	}
	return &imap.AppendData{UID: imap.UID(dv.UID), UIDValidity: dv.UIDValidity}, nil
}

// exactReader fails with io.ErrUnexpectedEOF when the literal ends before
// its announced size: go-imap's literal reader just stops when the client
// goes away, and half a message must not be stored as a whole one.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
