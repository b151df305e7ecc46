package imapd

import (
	"cmp"
	"errors"
	"io"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"

	"postroom/appliance/imapd/wire"
	"postroom/storage"
)

// Keyword limits: storage refuses to read a message record with more than
// 1000 keywords, so a client must not be able to write one.
const (
	maxMessageKeywords = 64
	maxKeywordLen      = 128
)

var (
	errReadOnly        = no("CANNOT", "Mailbox is read-only (EXAMINE)")
	errTooManyKeywords = no("LIMIT", "Too many keywords on a message")
)

// parseFlags splits flags into system flags and keywords within limits.
// \Recent cannot be set (RFC 3501 2.3.2) and is dropped.
func parseFlags(flags []imap.Flag) (storage.Flags, []string, error) {
	names := make([]string, 0, len(flags))
	for _, f := range flags {
		if f == wire.FlagRecent {
			continue
		}
		names = append(names, string(f))
	}
	f, kw := storage.ParseFlags(names)
	if len(kw) > maxMessageKeywords {
		return 0, nil, errTooManyKeywords
	}
	for _, k := range kw {
		if len(k) > maxKeywordLen {
			return 0, nil, no("LIMIT", "Keyword too long")
		}
	}
	return f, kw, nil
}

// cmdStore changes flags (RFC 9051 6.4.6). Each changed message is
// answered with its FLAGS (and UID) unless .SILENT. A message another
// session expunged is left alone, without error (RFC 2180 4.2.1).
func (c *conn) cmdStore(cmd *wire.Command) error {
	s, err := wire.ParseStore(cmd.Args, cmd.UID)
	if err != nil {
		return err
	}
	if c.sel.readOnly {
		return errReadOnly
	}
	refs, err := c.resolve(s.Set)
	if err != nil {
		return err
	}
	f, kw, err := parseFlags(s.Flags.Flags)
	if err != nil {
		return err
	}
	var since *uint64
	if s.UnchangedSinceSet {
		// RFC 7162 3.1.3: messages changed since UNCHANGEDSINCE are left
		// alone and named in MODIFIED. Storage compares the MODSEQ in the
		// transaction that writes: two sessions racing get one MODIFIED.
		c.enableCondStore()
		since = &s.Options.UnchangedSince
	}
	op := storage.FlagsReplace
	switch s.Flags.Op {
	case imap.StoreFlagsAdd:
		op = storage.FlagsAdd
	case imap.StoreFlagsDel:
		op = storage.FlagsRemove
	}
	if op == storage.FlagsAdd && len(kw) > 0 {
		items, _, err := c.load(refs)
		if err != nil {
			return c.fail("store", err)
		}
		for _, it := range items {
			n := len(it.m.Keywords)
			for _, k := range kw {
				if !slices.Contains(it.m.Keywords, k) {
					n++
				}
			}
			if n > maxMessageKeywords {
				return errTooManyKeywords
			}
		}
	}
	res, modUIDs, err := c.setFlagsIf(refs, op, f, kw, s.Flags.Silent, since)
	if err != nil {
		return c.fail("store", err)
	}
	modified := modUIDs
	if !cmd.UID {
		modified = make([]uint32, 0, len(modUIDs))
		for _, uid := range modUIDs {
			if seq := c.sel.view.Seq(uid); seq != 0 {
				modified = append(modified, seq)
			}
		}
	}
	c.announceFlags()
	if !s.Flags.Silent || c.condstore {
		// With CONDSTORE, .SILENT still reports the new MODSEQ (RFC 7162
		// 3.1.3).
		for _, m := range res {
			if seq := c.sel.view.Seq(m.UID); seq != 0 {
				if s.Flags.Silent {
					c.w.Untagged().Number(uint64(seq)).Atom("FETCH").BeginList().Atom("UID").Number(uint64(m.UID)).
						Atom("MODSEQ").BeginList().Number(m.ModSeq).EndList().EndList().End()
				} else {
					c.writeFlagsFetch(seq, m, true)
				}
			}
		}
	}
	if len(modified) > 0 {
		c.okCode = "MODIFIED " + compactNums(modified)
		return &respError{wire.OK, c.okCode, "Conditional STORE failed for some messages"}
	}
	return nil
}

// setFlags changes flags in storage and keeps the pending changes right:
// the events of our own change are not echoed back, and a change by
// another session that was still pending is replaced by the state after
// ours (silent: the client must still learn it) or dropped (the client is
// being told the new state now).
func (c *conn) setFlags(refs []msgRef, op storage.FlagOp, f storage.Flags, kw []string, silent bool) ([]storage.Message, error) {
	res, _, err := c.setFlagsIf(refs, op, f, kw, silent, nil)
	return res, err
}

// setFlagsIf is setFlags for a conditional STORE when since is not nil
// (RFC 7162 3.1.3): messages whose MODSEQ is above *since, ghosts
// included, are left alone and returned in modified (UIDs, ascending).
func (c *conn) setFlagsIf(refs []msgRef, op storage.FlagOp, f storage.Flags, kw []string, silent bool, since *uint64) (res []storage.Message, modified []uint32, err error) {
	sel := c.sel
	sel.drain(nil) // what happened before us stays pending
	uids := make([]uint32, 0, len(refs))
	var ghosts []uint32
	for _, r := range refs {
		if _, ghost := sel.expunged[r.uid]; ghost {
			ghosts = append(ghosts, r.uid)
		} else {
			uids = append(uids, r.uid)
		}
	}
	if since == nil {
		res, err = c.srv.st.SetFlags(c.acct, sel.id, uids, op, f, kw)
	} else {
		res, modified, err = c.srv.st.SetFlagsUnchangedSince(c.acct, sel.id, uids, op, f, kw, *since)
	}
	if err != nil {
		return nil, nil, err
	}
	if len(res)+len(modified) < len(uids) {
		// Some may have been expunged by another session meanwhile: they
		// become ghosts below, once their events are out.
		done := make(map[uint32]bool, len(res)+len(modified))
		for _, m := range res {
			done[m.UID] = true
		}
		for _, uid := range modified {
			done[uid] = true
		}
		c.srv.st.Settle(c.acct)
		sel.drain(isOwn(sel, res))
		for _, uid := range uids {
			if _, ghost := sel.expunged[uid]; ghost && !done[uid] {
				ghosts = append(ghosts, uid)
			}
		}
	}
	// A message another session expunged keeps, for this client, the
	// flags it set until the EXPUNGE goes out (RFC 2180 4.2.1): its view
	// stays as it left it.
	for _, uid := range ghosts {
		g := sel.expunged[uid]
		if since != nil && g.ModSeq > *since {
			modified = append(modified, uid)
			continue
		}
		g.Flags, g.Keywords = changeFlags(g.Flags, g.Keywords, op, f, kw)
		sel.expunged[uid] = g
		res = append(res, g)
	}
	if len(ghosts) > 0 {
		slices.SortFunc(res, func(a, b storage.Message) int { return cmp.Compare(a.UID, b.UID) })
		slices.Sort(modified)
	}
	// Storage publishes before SetFlags returns, so our events are queued.
	sel.drain(isOwn(sel, res))
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
	// RFC 5267 4.3: our own changes move updating results too (STORE, and
	// the \Seen a FETCH of a body sets).
	c.ctxReevaluate(res)
	return res, modified, nil
}

// isOwn picks out the events of a change this session made.
func isOwn(sel *selected, res []storage.Message) func(storage.Event) bool {
	own := make(map[uint64]uint32, len(res))
	for _, m := range res {
		own[m.ModSeq] = m.UID
	}
	return func(ev storage.Event) bool {
		return ev.Kind == storage.EventFlags && ev.Mailbox == sel.id && own[ev.Message.ModSeq] == ev.Message.UID
	}
}

// changeFlags applies a STORE to flags held in memory.
func changeFlags(cur storage.Flags, curKw []string, op storage.FlagOp, f storage.Flags, kw []string) (storage.Flags, []string) {
	switch op {
	case storage.FlagsReplace:
		return f, slices.Clone(kw)
	case storage.FlagsAdd:
		out := slices.Clone(curKw)
		for _, k := range kw {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
		return cur | f, out
	default:
		out := make([]string, 0, len(curKw))
		for _, k := range curKw {
			if !slices.Contains(kw, k) {
				out = append(out, k)
			}
		}
		return cur &^ f, out
	}
}

// cmdExpunge removes \Deleted messages (RFC 9051 6.4.3), or those of them
// in a UID set (UID EXPUNGE, RFC 4315 2.1).
func (c *conn) cmdExpunge(cmd *wire.Command) error {
	sel := c.sel
	if sel.readOnly {
		return errReadOnly
	}
	// Another session's expunge that committed meanwhile is told in
	// this command's answer too: none is left \Deleted in the view.
	defer c.srv.st.Settle(c.acct)
	var target []uint32 // nil: every \Deleted message
	if cmd.UID {
		if len(cmd.Args) != 1 {
			return bad("", "UID EXPUNGE takes a UID set")
		}
		set, err := cmd.Args[0].NumSet(true)
		if err != nil {
			return err
		}
		refs, err := c.resolve(set)
		if err != nil {
			return err
		}
		items, _, err := c.load(refs)
		if err != nil {
			return c.fail("expunge", err)
		}
		target = []uint32{}
		for _, it := range items {
			if it.m.Flags&storage.FlagDeleted != 0 && !it.ghost {
				target = append(target, it.uid)
			}
		}
		if len(target) == 0 {
			return nil
		}
	} else {
		if len(cmd.Args) != 0 {
			return bad("", "EXPUNGE takes no arguments")
		}
		// The counters say whether the full scan is worth it.
		mb, err := c.srv.st.MailboxByID(c.acct, sel.id)
		if err != nil || mb.Deleted == 0 {
			return nil
		}
	}
	gone, err := c.srv.st.Expunge(c.acct, sel.id, target)
	if err != nil {
		return c.fail("expunge", err)
	}
	c.ownExpunges(gone)
	return nil
}

// ownExpunges takes messages this session removed out of the view, with
// one EXPUNGE each; their events are not told again.
func (c *conn) ownExpunges(gone []uint32) {
	sel := c.sel
	sel.drain(nil)
	c.removeFromView(gone)
}

// cmdCopy copies messages by reference (RFC 9051 6.4.7) and answers with
// COPYUID (RFC 4315 3); the selected mailbox may be the destination.
func (c *conn) cmdCopy(cmd *wire.Command) error {
	args, err := wire.ParseCopy(cmd.Args, cmd.UID)
	if err != nil {
		return err
	}
	dest, err := c.mailboxName(args.Mailbox)
	if err != nil {
		return err
	}
	refs, err := c.resolve(args.Set)
	if err != nil {
		return err
	}
	items, _, err := c.load(refs)
	if err != nil {
		return c.fail("copy", err)
	}
	var size int64
	uids := make([]uint32, 0, len(items))
	for _, it := range items {
		if !it.ghost {
			uids = append(uids, it.uid)
			size += it.m.Size
		}
	}
	if err := c.srv.st.CheckQuota(c.acct, size); err != nil {
		return c.fail("copy", err)
	}
	dst, src, dstUIDs, err := c.srv.st.Copy(c.acct, c.sel.id, uids, dest)
	if err != nil {
		return c.tryCreate("copy", err)
	}
	c.okCode = copyUID(dst, src, dstUIDs)
	return nil
}

// copyUID is the COPYUID response code, "" when nothing was copied.
// Both sides are ascending, so compacting each keeps them pairwise (RFC
// 4315 3).
func copyUID(dst storage.Mailbox, src, dstUIDs []uint32) string {
	if len(src) == 0 {
		return ""
	}
	return "COPYUID " + itoa(uint64(dst.UIDValidity)) + " " + compactUIDSet(src).String() + " " + compactUIDSet(dstUIDs).String()
}

// compactUIDSet writes ascending UIDs as ranges.
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

// cmdMove moves messages atomically per batch (RFC 6851): COPYUID first,
// then an EXPUNGE for each source message. The selected mailbox may be
// the destination: the messages get new UIDs.
func (c *conn) cmdMove(cmd *wire.Command) error {
	args, err := wire.ParseCopy(cmd.Args, cmd.UID)
	if err != nil {
		return err
	}
	if c.sel.readOnly {
		return errReadOnly
	}
	dest, err := c.mailboxName(args.Mailbox)
	if err != nil {
		return err
	}
	refs, err := c.resolve(args.Set)
	if err != nil {
		return err
	}
	uids := make([]uint32, 0, len(refs))
	for _, r := range refs {
		if _, ghost := c.sel.expunged[r.uid]; !ghost {
			uids = append(uids, r.uid)
		}
	}
	dst, src, dstUIDs, err := c.srv.st.Move(c.acct, c.sel.id, uids, dest)
	if err != nil {
		return c.tryCreate("move", err)
	}
	if code := copyUID(dst, src, dstUIDs); code != "" {
		c.w.Status("*", wire.OK, code, "Moved")
	}
	c.ownExpunges(src)
	return nil
}

// appendJob is an APPEND whose literal streams into storage while the
// reader reads it: the literal is never held whole in memory.
type appendJob struct {
	pw   *io.PipeWriter
	done chan struct{}
	dv   storage.Delivered
	err  error
}

var errAppendAborted = errors.New("imapd: APPEND aborted")

// literal vets every literal before it is read (wire.Options.Literal).
// APPEND's message literal is checked against APPENDLIMIT, the
// destination and the quota, then streamed to storage.
func (c *conn) literal(info wire.LiteralInfo) (io.Writer, error) {
	if c.state == stateNotAuth {
		if info.Size > maxLiteralBeforeLogin {
			return nil, &wire.CommandError{Status: wire.BAD, Code: "TOOBIG", Text: "Literal too big before login"}
		}
		return nil, nil
	}
	if info.Name != "APPEND" || len(info.Args) == 0 {
		if info.Size > maxLiteralNonAppend {
			return nil, &wire.CommandError{Status: wire.NO, Code: "TOOBIG", Text: "Literal too big"}
		}
		return nil, nil
	}
	// MULTIAPPEND (RFC 3502): the message before this one was read whole;
	// it is stored now, and if it fails none of the command's stay.
	start := 1
	for i, a := range info.Args {
		switch {
		case a.Kind == wire.Literal:
			start = i + 1
		case a.IsAtom("CATENATE") || a.IsAtom("UTF8"):
			start = i + 2 // the atom and its parenthesised parts
		}
	}
	if c.job != nil {
		job := c.job
		if err := c.finishAppend(true); err != nil {
			c.rollbackAppend()
			return nil, c.asCommandError(c.tryCreate("append", err))
		}
		c.appended = append(c.appended, job.dv)
	}
	if info.Size > c.srv.opts.AppendLimit {
		c.rollbackAppend()
		return nil, &wire.CommandError{Status: wire.NO, Code: "TOOBIG", Text: "Message too large"}
	}
	if start > len(info.Args) {
		// A CATENATE TEXT part or a UTF8 literal8: held in memory (within
		// APPENDLIMIT) and stored by cmdAppend (appendHeld).
		return nil, nil
	}
	job, err := c.startAppend(info, start)
	if err != nil {
		c.rollbackAppend()
		return nil, err
	}
	c.job = job
	return job.pw, nil
}

// startAppend vets one APPEND message whose flags and date are
// info.Args[start:] and starts storing its literal.
func (c *conn) startAppend(info wire.LiteralInfo, start int) (*appendJob, error) {
	mbox, err := c.mailboxArg(info.Args[0])
	if err != nil {
		return nil, c.asCommandError(err)
	}
	var flags []imap.Flag
	var date time.Time
	for _, a := range info.Args[start:] {
		switch a.Kind {
		case wire.List:
			if flags, err = wire.FlagList(a); err != nil {
				return nil, err
			}
		case wire.Quoted:
			t, ok := a.DateTime()
			if !ok {
				return nil, wire.Bad("Invalid date-time")
			}
			date = t
		default:
			return nil, wire.Bad("Invalid APPEND arguments")
		}
	}
	f, kw, err := parseFlags(flags)
	if err != nil {
		return nil, c.asCommandError(err)
	}
	if _, err := c.srv.st.Mailbox(c.acct, mbox); err != nil {
		return nil, c.asCommandError(c.tryCreate("append", err))
	}
	if err := c.srv.st.CheckQuota(c.acct, info.Size); err != nil {
		return nil, c.asCommandError(c.fail("append", err))
	}
	pr, pw := io.Pipe()
	job := &appendJob{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(job.done)
		appendFn := c.srv.st.Append
		if info.Binary {
			// literal8 (RFC 3516 4.4): binary content is kept as sent.
			appendFn = c.srv.st.AppendExact
		}
		job.dv, job.err = appendFn(c.srv.ctx, c.acct, mbox, f, kw, date, &exactReader{r: pr, left: info.Size})
		pr.CloseWithError(errAppendAborted) // a writer still writing stops
	}()
	return job, nil
}

func (c *conn) asCommandError(err error) *wire.CommandError {
	var ce *wire.CommandError
	if errors.As(err, &ce) {
		return ce
	}
	re := c.fail("append", err)
	return &wire.CommandError{Status: re.status, Code: re.code, Text: re.text}
}

// finishAppend ends the streaming APPEND: complete (the literal was read
// whole and the command parsed) or aborted, in which case storage keeps
// nothing.
func (c *conn) finishAppend(complete bool) error {
	job := c.job
	c.job = nil
	if complete {
		job.pw.Close()
	} else {
		job.pw.CloseWithError(errAppendAborted)
	}
	<-job.done
	if !complete && job.err == nil {
		return errAppendAborted
	}
	return job.err
}

func (c *conn) abortAppend() {
	if c.job != nil {
		c.finishAppend(false)
	}
	c.rollbackAppend()
}

// rollbackAppend removes the messages a failed MULTIAPPEND already
// stored: RFC 3502 3 keeps all of a command's messages or none.
func (c *conn) rollbackAppend() {
	for _, dv := range c.appended {
		if _, err := c.srv.st.Expunge(dv.Account, dv.Mailbox, []uint32{dv.UID}); err != nil {
			c.log.Error("imap append rollback failed", "mailbox", dv.Mailbox, "uid", dv.UID, "err", err)
		}
	}
	c.appended = nil
}

// cmdAppend stores a message with flags and date (RFC 9051 6.3.12) and
// answers with APPENDUID (RFC 4315 3). The literal has gone to storage
// while it was read (literal).
func (c *conn) cmdAppend(cmd *wire.Command) error {
	a, err := wire.ParseAppend(cmd.Args)
	if err != nil {
		c.abortAppend()
		return err
	}
	streamed := len(c.appended)
	if c.job != nil {
		streamed++
	}
	for _, m := range a.Messages {
		if m.Data.Streamed {
			streamed--
		}
	}
	if streamed != 0 {
		c.abortAppend()
		return no("CANNOT", "APPEND takes message literals")
	}
	if job := c.job; job != nil {
		if err := c.finishAppend(true); err != nil {
			c.rollbackAppend()
			return c.tryCreate("append", err)
		}
		c.appended = append(c.appended, job.dv)
	}
	mbox, err := c.mailboxArg(cmd.Args[0])
	if err != nil {
		c.rollbackAppend()
		return err
	}
	for _, m := range a.Messages {
		if m.Data.Streamed {
			continue
		}
		dv, err := c.appendHeld(mbox, m)
		if err != nil {
			c.rollbackAppend()
			return c.tryCreate("append", err)
		}
		c.appended = append(c.appended, dv)
	}
	done := c.appended
	c.appended = nil
	uids := make([]uint32, len(done))
	for i, dv := range done {
		uids[i] = dv.UID
	}
	slices.Sort(uids)
	c.okCode = "APPENDUID " + itoa(uint64(done[0].UIDValidity)) + " " + compactUIDSet(uids).String()
	return nil
}

// exactReader fails with io.ErrUnexpectedEOF when the literal ends before
// its announced size, so half a message is never stored as a whole one.
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
