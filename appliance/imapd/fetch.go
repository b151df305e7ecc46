package imapd

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"postroom/appliance/imapd/imapmsg"
	"postroom/storage"
)

// Fetch answers FETCH and UID FETCH (RFC 9051 6.4.5, BINARY RFC 3516).
// Flags, dates and sizes come from the message records alone; ENVELOPE
// and BODYSTRUCTURE from the structure cached at delivery; sections are
// streamed from the stored chunks with their exact length known first.
func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	defer s.enter()()
	refs, err := s.resolve(numSet)
	if err != nil {
		return err
	}
	missing := false
	for chunk := range slices.Chunk(refs, loadChunk) {
		m, err := s.fetchChunk(w, chunk, options)
		if err != nil {
			return err
		}
		missing = missing || m
	}
	return expungeIssued(numSet, missing)
}

// loadChunk bounds the message records a command holds at once: "FETCH
// 1:*" of 100,000 messages reads and answers them 4,096 at a time.
const loadChunk = 4096

func (s *session) fetchChunk(w *imapserver.FetchWriter, refs []msgRef, options *imap.FetchOptions) (missing bool, err error) {
	items, missing, err := s.load(refs)
	if err != nil {
		return false, s.fail("fetch", err)
	}
	// A body section without .PEEK sets \Seen (RFC 9051 6.4.5), before
	// the responses so that they carry the new FLAGS.
	var seen map[uint32]bool
	if !s.sel.readOnly && setsSeen(options) {
		var unseen []msgRef
		for _, it := range items {
			if it.m.Flags&storage.FlagSeen == 0 {
				unseen = append(unseen, it.msgRef)
			}
		}
		if len(unseen) > 0 {
			res, err := s.setFlags(unseen, storage.FlagsAdd, storage.FlagSeen, nil, false)
			if err != nil {
				return false, s.fail("fetch", err)
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
	for _, it := range items {
		ok, err := s.fetchOne(w, it, options, seen[it.uid])
		if err != nil {
			return false, err
		}
		missing = missing || !ok
	}
	return missing, nil
}

func setsSeen(o *imap.FetchOptions) bool {
	for _, bs := range o.BodySection {
		if !bs.Peek {
			return true
		}
	}
	for _, bs := range o.BinarySection {
		if !bs.Peek {
			return true
		}
	}
	return false
}

// part is one prepared section: its reader and exact length.
type part struct {
	r io.Reader
	n int64
}

// fetchOne writes one message's FETCH response. Everything that can fail
// is done before the first byte goes out; ok is false when the message's
// body is gone (expunged and erased meanwhile).
func (s *session) fetchOne(w *imapserver.FetchWriter, it loaded, o *imap.FetchOptions, seenSet bool) (ok bool, err error) {
	m := it.m
	var obj storage.Object
	needBody := len(o.BodySection) > 0 || len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0
	if needBody {
		// Pinned before the record is read, the body cannot be erased
		// between that read and the last byte sent.
		defer s.srv.st.Pin(m.Object)()
	}
	if needBody || o.Envelope || o.BodyStructure != nil {
		if obj, err = s.srv.st.Object(m.Object); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return false, nil
			}
			return false, s.fail("fetch", err)
		}
	}
	var sections, binaries []part
	var sizes []uint32
	if needBody {
		// The record was just read: OpenObjectBody does not decode it again.
		body := s.srv.st.OpenObjectBody(obj)
		defer body.Close()
		for _, bs := range o.BodySection {
			r, n, err := imapmsg.Section(body, obj.Structure, bs)
			if err != nil {
				return false, s.fail("fetch section", err)
			}
			sections = append(sections, part{r, n})
		}
		for _, bs := range o.BinarySection {
			r, n, err := imapmsg.BinarySection(body, obj.Structure, bs)
			if err != nil {
				return false, s.binaryFail(err)
			}
			binaries = append(binaries, part{r, n})
		}
		for _, bs := range o.BinarySectionSize {
			n, err := imapmsg.BinarySize(body, obj.Structure, bs.Part)
			if err != nil {
				return false, s.binaryFail(err)
			}
			sizes = append(sizes, n)
		}
	}

	rw := w.CreateMessage(it.seq)
	if o.UID {
		rw.WriteUID(imap.UID(m.UID))
	}
	if o.Flags || seenSet {
		rw.WriteFlags(flagsOf(m))
	}
	if o.InternalDate {
		date := m.InternalDate
		if loc := s.srv.opts.Location; loc != nil {
			date = date.In(loc)
		}
		rw.WriteInternalDate(date)
	}
	if o.RFC822Size {
		rw.WriteRFC822Size(m.Size)
	}
	if o.Envelope {
		rw.WriteEnvelope(imapmsg.Envelope(obj.Envelope))
	}
	if o.BodyStructure != nil {
		rw.WriteBodyStructure(imapmsg.BodyStructure(obj.Structure, o.BodyStructure.Extended))
	}
	for i, bs := range o.BodySection {
		if err := s.stream(rw.WriteBodySection(bs, sections[i].n), sections[i]); err != nil {
			return false, err
		}
	}
	for i, bs := range o.BinarySection {
		if err := s.stream(rw.WriteBinarySection(bs, binaries[i].n), binaries[i]); err != nil {
			return false, err
		}
	}
	for i, bs := range o.BinarySectionSize {
		rw.WriteBinarySectionSize(bs, sizes[i])
	}
	return true, rw.Close()
}

// stream copies a section into its literal. The literal's length is on the
// wire already, so a read that fails half-way leaves no valid way to go on:
// the connection is closed and the client will fetch again.
func (s *session) stream(wc io.WriteCloser, p part) error {
	n, err := io.CopyN(wc, p.r, p.n)
	if err == nil {
		return wc.Close()
	}
	s.log.Error("imap fetch: stream broke off", "sent", n, "of", p.n, "err", err)
	s.c.Close()
	return fmt.Errorf("imapd: section stream: %w", err)
}

// binaryFail answers a part BINARY cannot decode (RFC 3516 4.3).
func (s *session) binaryFail(err error) error {
	if errors.Is(err, imapmsg.ErrUnknownCTE) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnknownCTE,
			Text: "Unknown content-transfer-encoding"}
	}
	return s.fail("fetch binary", err)
}
