package imapd

import (
	"errors"
	"io"
	"slices"

	"github.com/emersion/go-imap/v2"

	"postroom/appliance/imapd/imapmsg"
	"postroom/appliance/imapd/wire"
	"postroom/storage"
)

// loadChunk bounds the message records a command holds at once: "FETCH
// 1:*" of 100,000 messages reads and answers them 4,096 at a time.
const loadChunk = 4096

// cmdFetch answers FETCH and UID FETCH (RFC 9051 6.4.5, BINARY RFC 3516).
// Flags, dates and sizes come from the message records alone; ENVELOPE
// and BODYSTRUCTURE from the structure cached at delivery; sections are
// streamed from the stored chunks with their exact length known first.
// A message another session expunged is served as this client still
// sees it (see selected).
func (c *conn) cmdFetch(cmd *wire.Command) error {
	f, err := wire.ParseFetch(cmd.Args, cmd.UID)
	if err != nil {
		return err
	}
	refs, err := c.resolve(f.Set)
	if err != nil {
		return err
	}
	if f.Options.ModSeq {
		c.enableCondStore() // RFC 7162 3.1.8
	}
	if f.Vanished {
		if !c.qresync {
			return bad("", "ENABLE QRESYNC first")
		}
		// RFC 7162 3.2.6: the UIDs of the set that are gone.
		if set, ok := f.Set.(imap.UIDSet); ok && !imap.IsSearchRes(set) {
			// Up to UIDNEXT, less what arrived since the client's last
			// EXISTS: that is not gone, only not told yet.
			top, newer := c.sel.view.Max(), map[uint32]bool{}
			if mb, err := c.srv.st.MailboxByID(c.acct, c.sel.id); err == nil && mb.UIDNext-1 > top {
				msgs, err := c.srv.st.MessagesInRanges(c.acct, c.sel.id, []storage.UIDRange{{First: top + 1, Last: mb.UIDNext - 1}})
				if err == nil {
					for _, m := range msgs {
						newer[m.UID] = true
					}
					top = mb.UIDNext - 1
				}
			}
			if v := c.vanishedIn(set, top, newer); len(v) > 0 {
				c.w.Untagged().Atom("VANISHED").BeginList().Atom("EARLIER").EndList().Atom(v.String()).End()
			}
		}
	}
	for chunk := range slices.Chunk(refs, loadChunk) {
		if err := c.fetchChunk(chunk, f); err != nil {
			return err
		}
	}
	return nil
}

func (c *conn) fetchChunk(refs []msgRef, f *wire.Fetch) error {
	items, _, err := c.load(refs)
	if err != nil {
		return c.fail("fetch", err)
	}
	if f.ChangedSinceSet {
		// RFC 7162 3.1.4: only messages changed since the given MODSEQ.
		kept := items[:0]
		for _, it := range items {
			if it.m.ModSeq > f.Options.ChangedSince {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	// A body section without .PEEK sets \Seen (RFC 9051 6.4.5), before
	// the responses so that they carry the new FLAGS.
	var seen map[uint32]bool
	if !c.sel.readOnly && setsSeen(f) {
		var unseen []msgRef
		for _, it := range items {
			if it.m.Flags&storage.FlagSeen == 0 && !it.ghost {
				unseen = append(unseen, it.msgRef)
			}
		}
		if len(unseen) > 0 {
			res, err := c.setFlags(unseen, storage.FlagsAdd, storage.FlagSeen, nil, false)
			if err != nil {
				return c.fail("fetch", err)
			}
			seen = make(map[uint32]bool, len(res))
			for _, m := range res {
				seen[m.UID] = true
			}
			for i := range items {
				if seen[items[i].uid] {
					items[i].m.Flags |= storage.FlagSeen
				}
			}
		}
	}
	if f.Options.Flags || seen != nil {
		// FLAGS first announces keywords the client has not heard of
		// (RFC 9051 7.3.5).
		for _, it := range items {
			c.sel.announce = c.sel.noteKeywords(it.m.Keywords) || c.sel.announce
		}
		c.announceFlags()
	}
	var scan *storage.ObjectScan
	if needsBody(f) {
		// The bodies of the chunk, read in UID order, mostly lie in
		// object order: one scan reads them (storage.ObjectScan).
		scan = c.srv.st.ScanObjects()
		defer scan.Close()
	}
	for _, it := range items {
		if err := c.fetchOne(it, f, seen[it.uid], scan); err != nil {
			return err
		}
	}
	return nil
}

// needsBody says whether f reads message bytes.
func needsBody(f *wire.Fetch) bool {
	o := &f.Options
	return len(o.BodySection) > 0 || len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0 ||
		f.RFC822 || f.RFC822Header || f.RFC822Text
}

func setsSeen(f *wire.Fetch) bool {
	if f.RFC822 || f.RFC822Text {
		return true
	}
	for _, bs := range f.Options.BodySection {
		if !bs.Peek {
			return true
		}
	}
	for _, bs := range f.Options.BinarySection {
		if !bs.Peek {
			return true
		}
	}
	return false
}

// part is one prepared section: its name, reader and exact length.
type part struct {
	name   string
	r      io.Reader
	n      int64
	binary bool
}

var (
	rfc822Whole  = &imap.FetchItemBodySection{}
	rfc822Header = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader}
	rfc822Text   = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText}
)

// fetchOne writes one message's FETCH response. Everything that can fail
// is done before the first byte goes out; a message whose body is gone
// (its mailbox deleted meanwhile) is left out.
func (c *conn) fetchOne(it loaded, f *wire.Fetch, seenSet bool, scan *storage.ObjectScan) error {
	m := it.m
	o := &f.Options
	var obj storage.Object
	var body *storage.Body
	needBody := needsBody(f)
	var err error
	switch {
	case needBody:
		// One read for the record and the first chunk; a body of more
		// than one chunk is pinned before the record is read, so it
		// cannot be erased between that read and the last byte sent.
		obj, body, err = scan.Open(m.Object, o.Envelope)
	case o.Envelope || o.BodyStructure != nil:
		obj, err = c.srv.st.Object(m.Object)
	}
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return c.fail("fetch", err)
	}
	var parts []part
	var sizes []uint32
	if needBody {
		defer body.Close()
		section := func(name string, bs *imap.FetchItemBodySection) error {
			r, n, err := imapmsg.Section(body, obj.Structure, bs)
			if err != nil {
				return c.fail("fetch section", err)
			}
			parts = append(parts, part{name: name, r: r, n: n})
			return nil
		}
		for _, bs := range o.BodySection {
			if err := section(wire.BodySectionName(bs), bs); err != nil {
				return err
			}
		}
		for _, x := range []struct {
			on   bool
			name string
			bs   *imap.FetchItemBodySection
		}{{f.RFC822, "RFC822", rfc822Whole}, {f.RFC822Header, "RFC822.HEADER", rfc822Header}, {f.RFC822Text, "RFC822.TEXT", rfc822Text}} {
			if x.on {
				if err := section(x.name, x.bs); err != nil {
					return err
				}
			}
		}
		for _, bs := range o.BinarySection {
			r, n, err := imapmsg.BinarySection(body, obj.Structure, bs)
			if err != nil {
				return c.binaryFail(err)
			}
			parts = append(parts, part{name: wire.BinarySectionName(bs), r: r, n: n, binary: true})
		}
		for _, bs := range o.BinarySectionSize {
			n, err := imapmsg.BinarySize(body, obj.Structure, bs.Part)
			if err != nil {
				return c.binaryFail(err)
			}
			sizes = append(sizes, n)
		}
	}

	w := c.w
	w.Untagged().Number(uint64(it.seq)).Atom("FETCH").BeginList()
	if o.UID {
		w.Atom("UID").Number(uint64(m.UID))
	}
	if o.Flags || seenSet {
		w.Atom("FLAGS").Flags(c.flagsOf(m))
	}
	if o.InternalDate {
		date := m.InternalDate
		if loc := c.srv.opts.Location; loc != nil {
			date = date.In(loc)
		}
		w.Atom("INTERNALDATE").DateTime(date)
	}
	if o.RFC822Size {
		w.Atom("RFC822.SIZE").Number(uint64(m.Size))
	}
	if o.ModSeq || (c.condstore && (o.Flags || seenSet)) {
		w.Atom("MODSEQ").BeginList().Number(m.ModSeq).EndList()
	}
	if o.Envelope {
		w.Atom("ENVELOPE")
		c.writeEnvelope(obj.Envelope)
	}
	if o.BodyStructure != nil {
		if o.BodyStructure.Extended {
			w.Atom("BODYSTRUCTURE")
		} else {
			w.Atom("BODY")
		}
		c.writeBodyStructure(obj.Structure, o.BodyStructure.Extended, 0)
		if f.BodyToo {
			w.Atom("BODY")
			c.writeBodyStructure(obj.Structure, false, 0)
		}
	}
	for _, p := range parts {
		w.Atom(p.name)
		var err error
		if p.binary {
			err = w.Literal8(p.n, p.r)
		} else {
			err = w.Literal(p.n, p.r)
		}
		if err != nil {
			// The literal's length is on the wire already: there is no
			// valid way to go on. The client will fetch again.
			c.log.Error("imap fetch: stream broke off", "object", m.Object, "err", err)
			return errHangUp
		}
	}
	for i, bs := range o.BinarySectionSize {
		w.Atom(wire.BinarySizeName(bs.Part)).Number(uint64(sizes[i]))
	}
	w.EndList().End()
	if w.Err() != nil {
		return errHangUp
	}
	return nil
}

// binaryFail answers a part BINARY cannot decode (RFC 3516 4.3).
func (c *conn) binaryFail(err error) error {
	if errors.Is(err, imapmsg.ErrUnknownCTE) {
		return no("UNKNOWN-CTE", "Unknown content-transfer-encoding")
	}
	return c.fail("fetch binary", err)
}
