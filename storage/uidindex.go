package storage

// The mailbox UID index (key family 23): what IMAP SELECT (and EXPUNGE's
// search for \Deleted messages) needs of a mailbox without reading its
// message records. Before it, SELECT of a
// mailbox of 20,000 messages read 20,000 records (66 to 79 ms under load,
// Dovecot answers from its index in under a millisecond); now it reads one
// record per block of 4,096 UIDs.
//
// Layout. `23 acct mbox` is the header: it exists once the index of the
// mailbox is complete. `23 acct mbox seg` holds the UIDs seg<<12 to
// seg<<12+4095: which are present, which lack \Seen, which have \Deleted
// (each a set of UID runs, or a 512-byte bitmap when that is shorter), and
// how many of its messages carry each keyword. A block with no message has
// no record, so a mailbox whose old UIDs were expunged costs nothing for
// them.
//
// Kept exact in the same transaction: every change to a message record
// goes through countMessage (delivery, APPEND, COPY/MOVE, flag changes,
// expunge), which also notes the change in the account record being
// written; putAccount, which every such transaction calls last, applies the
// notes to the blocks they touch (flushUIDIndex). A crash therefore loses
// both or neither. Renaming a mailbox keeps its id, so its index stays.
//
// Older stores, and a broken index: a mailbox without a header has no
// index yet. Writers then leave it alone, and the first SELECT builds it
// under the account's writer lock from the records (rebuildUIDIndex), so
// an old store is upgraded mailbox by mailbox as mailboxes are opened. A
// reader checks the index's totals against the mailbox record's exact
// counts (messages, unseen, deleted) on every read; when they disagree it
// answers from the records and the index is rebuilt. Check compares every
// block with one recomputed from the records and rebuilds the mailboxes
// whose index disagrees. A write that meets an undecodable block drops
// that mailbox's index rather than fail (flushUIDIndex), so damage never
// stops mail. The index is derived data: rebuilding loses no mail.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

const (
	segShift = 12
	segSpan  = 1 << segShift // UIDs per block
	segWords = segSpan / 64

	vUIDIndex byte = 1
	// set encodings within a block
	setRuns   byte = 0
	setBitmap byte = 1
)

// uidSegment is one decoded block: bit i stands for UID base+i.
type uidSegment struct {
	present, unseen, deleted [segWords]uint64
	keywords                 map[string]uint32
}

func segOf(uid uint32) uint32 { return uid >> segShift }

func setBit(s *[segWords]uint64, i uint32, on bool) {
	if on {
		s[i/64] |= 1 << (i % 64)
	} else {
		s[i/64] &^= 1 << (i % 64)
	}
}

// setRange sets bits first to first+n-1, a word at a time.
func setRange(s *[segWords]uint64, first, n uint32) {
	for n > 0 {
		off := first % 64
		k := min(n, 64-off)
		mask := ^uint64(0)
		if k < 64 {
			mask = (1<<k - 1) << off
		}
		s[first/64] |= mask
		first += k
		n -= k
	}
}

func countBits(s *[segWords]uint64) uint32 {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return uint32(n)
}

// add puts a message into the block (sign > 0) or takes it out.
func (g *uidSegment) add(uid uint32, f Flags, kws []string, sign int) {
	i := uid & (segSpan - 1)
	on := sign > 0
	setBit(&g.present, i, on)
	setBit(&g.unseen, i, on && f&FlagSeen == 0)
	setBit(&g.deleted, i, on && f&FlagDeleted != 0)
	for _, k := range kws {
		if on {
			if g.keywords == nil {
				g.keywords = map[string]uint32{}
			}
			g.keywords[k]++
		} else if g.keywords[k] > 1 {
			g.keywords[k]--
		} else {
			delete(g.keywords, k)
		}
	}
}

func (g *uidSegment) empty() bool { return countBits(&g.present) == 0 }

// runsOf calls fn for each run of set bits: first offset and length.
func runsOf(s *[segWords]uint64, fn func(first, n uint32)) {
	i := uint32(0)
	for i < segSpan {
		w := s[i/64] >> (i % 64)
		if w == 0 {
			i = (i/64 + 1) * 64
			continue
		}
		i += uint32(bits.TrailingZeros64(w))
		start := i
		for i < segSpan && s[i/64]&(1<<(i%64)) != 0 {
			if i%64 == 0 && s[i/64] == ^uint64(0) {
				i += 64
				continue
			}
			i++
		}
		fn(start, i-start)
	}
}

// encodeSet writes a set as runs (gap from the end of the previous run,
// length less one), or as the bitmap when that is shorter. The choice is a
// function of the set, so equal blocks encode to equal bytes (Check
// compares bytes).
func (e enc) set(s *[segWords]uint64) enc {
	var runs enc
	n := 0
	end := uint32(0)
	runsOf(s, func(first, k uint32) {
		runs = runs.uv(uint64(first - end)).uv(uint64(k - 1))
		end = first + k
		n++
	})
	if len(runs) >= segSpan/8 {
		e = append(e, setBitmap)
		for _, w := range s {
			for b := 0; b < 64; b += 8 {
				e = append(e, byte(w>>b))
			}
		}
		return e
	}
	e = append(e, setRuns)
	return append(e.uv(uint64(n)), runs...)
}

func (d *dec) set(s *[segWords]uint64) {
	switch d.byte1() {
	case setBitmap:
		if d.err != nil || len(d.b) < segSpan/8 {
			d.err = errCorrupt
			return
		}
		for i := range s {
			var w uint64
			for b := 0; b < 8; b++ {
				w |= uint64(d.b[i*8+b]) << (8 * b)
			}
			s[i] = w
		}
		d.b = d.b[segSpan/8:]
	case setRuns:
		end := uint64(0)
		for n := d.count(2); n > 0 && d.err == nil; n-- {
			first := end + d.uv()
			k := d.uv() + 1
			if d.err != nil || first+k > segSpan {
				d.err = errCorrupt
				return
			}
			setRange(s, uint32(first), uint32(k))
			end = first + k
		}
	default:
		d.err = errCorrupt
	}
}

func encodeSegment(g *uidSegment) []byte {
	e := enc{vUIDIndex}
	e = e.set(&g.present).set(&g.unseen).set(&g.deleted)
	e = e.uv(uint64(len(g.keywords)))
	for _, k := range slices.Sorted(maps.Keys(g.keywords)) {
		e = e.str(k).uv(uint64(g.keywords[k]))
	}
	return e
}

func decodeSegment(b []byte) (*uidSegment, error) {
	g := &uidSegment{}
	d := dec{b: b}
	if d.byte1() != vUIDIndex {
		return nil, errCorrupt
	}
	d.set(&g.present)
	d.set(&g.unseen)
	d.set(&g.deleted)
	if n := d.count(2); n > 0 {
		g.keywords = make(map[string]uint32, n)
		for ; n > 0 && d.err == nil; n-- {
			k := d.str()
			g.keywords[k] = uint32(d.uv())
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return nil, d.err
	}
	return g, nil
}

// uidEdit is one countMessage call, waiting in the account record for
// putAccount to apply it to the index.
type uidEdit struct {
	mbox     MailboxID
	uid      uint32
	flags    Flags
	keywords []string
	sign     int
}

// noteUIDEdit records a change countMessage counted.
func (r *accountRecord) noteUIDEdit(mbox MailboxID, m *Message, sign int) {
	r.uidEdits = append(r.uidEdits, uidEdit{mbox: mbox, uid: m.UID, flags: m.Flags, keywords: slices.Clone(m.Keywords), sign: sign})
}

// flushUIDIndex applies the edits noted in rec to the index blocks they
// touch, each block read and written once, in the caller's transaction.
// Mailboxes whose index is not built yet are left alone.
func flushUIDIndex(txn *badger.Txn, acct AccountID, rec *accountRecord) error {
	edits := rec.uidEdits
	rec.uidEdits = nil
	if len(edits) == 0 {
		return nil
	}
	built := map[MailboxID]bool{}
	type segKey struct {
		mbox MailboxID
		seg  uint32
	}
	segs := map[segKey]*uidSegment{}
	var order []segKey
	for _, ed := range edits {
		ok, seen := built[ed.mbox]
		if !seen {
			_, err := txn.Get(keys.UIDIndexHeader(uint64(acct), uint64(ed.mbox)))
			if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			ok = err == nil
			built[ed.mbox] = ok
		}
		if !ok {
			continue
		}
		sk := segKey{ed.mbox, segOf(ed.uid)}
		g := segs[sk]
		if g == nil {
			var err error
			g, err = getSegment(txn, acct, ed.mbox, sk.seg)
			if errors.Is(err, errCorrupt) {
				// A damaged block must not stop mail from being stored:
				// the index is dropped (its header goes) and the next
				// SELECT builds it again from the records.
				built[ed.mbox] = false
				if err := txn.Delete(keys.UIDIndexHeader(uint64(acct), uint64(ed.mbox))); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			segs[sk] = g
			order = append(order, sk)
		}
		g.add(ed.uid, ed.flags, ed.keywords, ed.sign)
	}
	for _, sk := range order {
		if !built[sk.mbox] {
			continue // dropped above
		}
		k := keys.UIDIndexSegment(uint64(acct), uint64(sk.mbox), sk.seg)
		var err error
		if g := segs[sk]; g.empty() {
			err = txn.Delete(k)
		} else {
			err = txn.Set(k, encodeSegment(g))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// getSegment reads one block; a missing one is empty.
func getSegment(txn *badger.Txn, acct AccountID, mbox MailboxID, seg uint32) (*uidSegment, error) {
	it, err := txn.Get(keys.UIDIndexSegment(uint64(acct), uint64(mbox), seg))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return &uidSegment{}, nil
	}
	if err != nil {
		return nil, err
	}
	var g *uidSegment
	err = it.Value(func(v []byte) (err error) { g, err = decodeSegment(v); return err })
	if err != nil {
		return nil, fmt.Errorf("mailbox %d uid index block %d: %w", mbox, seg, err)
	}
	return g, nil
}

// errNoUIDIndex says a mailbox has no index (yet): the caller builds it or
// reads the records instead. errStaleUIDIndex, which is also an
// errNoUIDIndex, says the index disagrees with the mailbox record's counts.
var (
	errNoUIDIndex    = errors.New("storage: mailbox has no UID index")
	errStaleUIDIndex = fmt.Errorf("%w that agrees with its counts", errNoUIDIndex)
)

// getSpan is the most blocks readUIDIndex reads one by one; a mailbox
// whose UIDNEXT is further on has its blocks found by an iterator.
const getSpan = 256

// readUIDIndex fills out's UIDs, FirstUnseen and Keywords from the index of
// mb, checking its totals against mb's counts. The blocks are read with
// Get, not an iterator: the last block is rewritten by every delivery,
// and until Badger compacts them away an iterator steps over each of its
// old versions (20,000 of them after 20,000 deliveries).
// With deletedOut set, it also collects the UIDs flagged \Deleted.
func readUIDIndex(txn *badger.Txn, acct AccountID, mb *Mailbox, maxKeywords int, out *SelectView, deletedOut *[]uint32) error {
	hk := keys.UIDIndexHeader(uint64(acct), uint64(mb.ID))
	h, err := txn.Get(hk)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return errNoUIDIndex
	}
	if err != nil {
		return err
	}
	// A header of another layout (a later block size) is rebuilt.
	if v, err := h.ValueCopy(nil); err != nil || len(v) != 2 || v[0] != vUIDIndex || v[1] != segShift {
		return errStaleUIDIndex
	}
	var present, unseen, deleted uint32
	seenKw := map[string]bool{}
	each := func(fn func(seg uint32, v []byte) error) error {
		last := segOf(max(mb.UIDNext, 1) - 1)
		if last < getSpan {
			for seg := uint32(0); seg <= last; seg++ {
				item, err := txn.Get(keys.UIDIndexSegment(uint64(acct), uint64(mb.ID), seg))
				if errors.Is(err, badger.ErrKeyNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				if err := item.Value(func(v []byte) error { return fn(seg, v) }); err != nil {
					return err
				}
			}
			return nil
		}
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 16, Prefix: hk})
		defer it.Close()
		for it.Seek(keys.UIDIndexSegment(uint64(acct), uint64(mb.ID), 0)); it.Valid(); it.Next() {
			_, _, seg, isSeg, err := keys.ParseUIDIndex(it.Item().Key())
			if err != nil || !isSeg {
				return errStaleUIDIndex
			}
			if err := it.Item().Value(func(v []byte) error { return fn(seg, v) }); err != nil {
				return err
			}
		}
		return nil
	}
	err = each(func(seg uint32, v []byte) error {
		g, err := decodeSegment(v)
		if err != nil {
			return errStaleUIDIndex
		}
		base := seg << segShift
		if out.FirstUnseen == 0 && countBits(&g.unseen) > 0 {
			runsOf(&g.unseen, func(first, _ uint32) {
				if out.FirstUnseen == 0 {
					// Its position: the messages before it, plus one.
					below := present
					for w := uint32(0); w < first/64; w++ {
						below += uint32(bits.OnesCount64(g.present[w]))
					}
					below += uint32(bits.OnesCount64(g.present[first/64] & (1<<(first%64) - 1)))
					out.FirstUnseen = below + 1
				}
			})
		}
		runsOf(&g.present, func(first, n uint32) {
			u := base + first
			if k := len(out.Runs); k > 0 && out.Runs[k-1].Last+1 == u {
				out.Runs[k-1].Last = u + n - 1
			} else {
				out.Runs = append(out.Runs, UIDRange{First: u, Last: u + n - 1})
			}
		})
		if deletedOut != nil {
			runsOf(&g.deleted, func(first, n uint32) {
				for u := base + first; u < base+first+n; u++ {
					*deletedOut = append(*deletedOut, u)
				}
			})
		}
		present += countBits(&g.present)
		unseen += countBits(&g.unseen)
		deleted += countBits(&g.deleted)
		for _, k := range slices.Sorted(maps.Keys(g.keywords)) {
			if !seenKw[k] && len(out.Keywords) < maxKeywords {
				seenKw[k] = true
				out.Keywords = append(out.Keywords, k)
			}
		}
		return nil
	})
	if err != nil {
		out.Runs, out.Keywords, out.FirstUnseen = nil, nil, 0
		if errors.Is(err, errNoUIDIndex) {
			return err
		}
		return fmt.Errorf("storage: mailbox %s: reading its UID index: %w", mb.Name, err)
	}
	if present != mb.Messages || unseen != mb.Unseen || deleted != mb.Deleted {
		out.Runs, out.Keywords, out.FirstUnseen = nil, nil, 0
		return errStaleUIDIndex
	}
	return nil
}

// deletedUIDs returns the UIDs of mbox flagged \Deleted, ascending, from
// the index (a CLOSE of a 100,000-message mailbox reads a few block
// records), or from the records when the mailbox has no index that
// agrees with its counts.
func (s *Store) deletedUIDs(acct AccountID, mbox MailboxID) ([]uint32, error) {
	out := []uint32{}
	err := s.view(func(txn *badger.Txn) error {
		mb, err := getMailbox(txn, acct, mbox)
		if err != nil {
			return err
		}
		if err := readUIDIndex(txn, acct, mb, 0, &SelectView{}, &out); !errors.Is(err, errNoUIDIndex) {
			return err
		}
		out = out[:0]
		msgs, err := listMessagesTxn(txn, acct, mbox, 0)
		for _, m := range msgs {
			if m.Flags&FlagDeleted != 0 {
				out = append(out, m.UID)
			}
		}
		return err
	})
	return out, err
}

// rebuildUIDIndex builds a mailbox's index from its message records, under
// the account's writer lock so that no change falls between the records
// read and the blocks written. The old index is removed first and the
// header is written last, so a crash in between leaves no header and the
// next SELECT builds again. Blocks are written in bounded transactions: a
// mailbox whose UIDs are spread far apart has many.
// Unless force, an index another caller has just built is kept.
func (s *Store) rebuildUIDIndex(acct AccountID, mbox MailboxID, force bool) error {
	mu := s.accountLock(acct)
	mu.Lock()
	defer mu.Unlock()
	if !force && s.view(func(txn *badger.Txn) error {
		mb, err := getMailbox(txn, acct, mbox)
		if err != nil {
			return err
		}
		return readUIDIndex(txn, acct, mb, 0, &SelectView{}, nil)
	}) == nil {
		return nil
	}
	hk := keys.UIDIndexHeader(uint64(acct), uint64(mbox))
	if err := s.deletePrefix(hk); err != nil {
		return err
	}
	type block struct {
		seg uint32
		val []byte
	}
	var pending []block
	write := func() error {
		err := s.update(func(txn *badger.Txn) error {
			for _, b := range pending {
				if err := txn.Set(keys.UIDIndexSegment(uint64(acct), uint64(mbox), b.seg), b.val); err != nil {
					return err
				}
			}
			return nil
		})
		pending = pending[:0]
		return err
	}
	err := s.view(func(txn *badger.Txn) error {
		if _, err := getMailbox(txn, acct, mbox); err != nil {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: keys.MessagePrefix(uint64(acct), uint64(mbox))})
		defer it.Close()
		var cur *uidSegment
		var curSeg uint32
		for it.Rewind(); it.Valid(); it.Next() {
			_, _, uid, err := keys.ParseMessage(it.Item().Key())
			if err != nil {
				return err
			}
			var m Message
			if err := it.Item().Value(func(v []byte) (err error) { m, err = decodeMessage(uid, v); return err }); err != nil {
				return err
			}
			if cur != nil && segOf(uid) != curSeg {
				pending = append(pending, block{curSeg, encodeSegment(cur)})
				cur = nil
				if len(pending) == batchSize {
					if err := write(); err != nil {
						return err
					}
				}
			}
			if cur == nil {
				cur, curSeg = &uidSegment{}, segOf(uid)
			}
			cur.add(uid, m.Flags, m.Keywords, +1)
		}
		if cur != nil {
			pending = append(pending, block{curSeg, encodeSegment(cur)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := write(); err != nil {
		return err
	}
	return s.update(func(txn *badger.Txn) error {
		if _, err := getMailbox(txn, acct, mbox); err != nil {
			return err // deleted meanwhile: no index for it
		}
		return putUIDIndexHeader(txn, acct, mbox)
	})
}

// putUIDIndexHeader marks a mailbox's index complete.
func putUIDIndexHeader(txn *badger.Txn, acct AccountID, mbox MailboxID) error {
	return txn.Set(keys.UIDIndexHeader(uint64(acct), uint64(mbox)), []byte{vUIDIndex, segShift})
}

// dropUIDIndex removes a mailbox's index (it is being deleted), under the
// writer lock the caller holds.
func (s *Store) dropUIDIndex(acct AccountID, mbox MailboxID) error {
	return s.deletePrefix(keys.UIDIndexHeader(uint64(acct), uint64(mbox)))
}

// indexCheck recomputes the index from the records during Check: blocks
// are fed in key order (account, mailbox, UID), as Check scans them.
type indexCheck struct {
	want     map[indexBlock][]byte // encoded blocks the records call for
	cur      *uidSegment
	curBlock indexBlock
}

type indexBlock struct {
	acct AccountID
	mbox MailboxID
	seg  uint32
}

func newIndexCheck() *indexCheck { return &indexCheck{want: map[indexBlock][]byte{}} }

func (c *indexCheck) message(acct AccountID, mbox MailboxID, m *Message) {
	b := indexBlock{acct, mbox, segOf(m.UID)}
	if c.cur != nil && b != c.curBlock {
		c.finish()
	}
	if c.cur == nil {
		c.cur, c.curBlock = &uidSegment{}, b
	}
	c.cur.add(m.UID, m.Flags, m.Keywords, +1)
}

func (c *indexCheck) finish() {
	if c.cur != nil {
		c.want[c.curBlock] = encodeSegment(c.cur)
		c.cur = nil
	}
}

// compare reads family 23 and returns the mailboxes whose index disagrees
// with the records, each with a reason; exists says which mailboxes exist.
func (c *indexCheck) compare(txn *badger.Txn, exists func(AccountID, MailboxID) bool) (map[[2]uint64]string, error) {
	c.finish()
	broken := map[[2]uint64]string{}
	built := map[[2]uint64]bool{}
	got := map[indexBlock][]byte{}
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64, Prefix: keys.Prefix(keys.TagUIDIndex)})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		a, m, seg, isSeg, err := keys.ParseUIDIndex(it.Item().Key())
		if err != nil {
			return nil, err
		}
		mk := [2]uint64{a, m}
		if !isSeg {
			built[mk] = true
			if v, err := it.Item().ValueCopy(nil); err != nil || len(v) != 2 || v[0] != vUIDIndex || v[1] != segShift {
				broken[mk] = "a header of another layout"
			}
			continue
		}
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return nil, err
		}
		got[indexBlock{AccountID(a), MailboxID(m), seg}] = v
	}
	for b, v := range got {
		mk := [2]uint64{uint64(b.acct), uint64(b.mbox)}
		switch {
		case !exists(b.acct, b.mbox):
			broken[mk] = "index of a missing mailbox"
		case !built[mk]:
			broken[mk] = "index blocks without a header (an interrupted build)"
		case string(c.want[b]) != string(v):
			broken[mk] = fmt.Sprintf("UIDs %d to %d disagree with the message records", b.seg<<segShift, b.seg<<segShift+segSpan-1)
		}
	}
	for mk := range built {
		if !exists(AccountID(mk[0]), MailboxID(mk[1])) {
			broken[mk] = "index of a missing mailbox"
		}
	}
	for b := range c.want {
		mk := [2]uint64{uint64(b.acct), uint64(b.mbox)}
		if built[mk] && got[b] == nil && broken[mk] == "" {
			broken[mk] = fmt.Sprintf("UIDs %d to %d missing from the index", b.seg<<segShift, b.seg<<segShift+segSpan-1)
		}
	}
	return broken, nil
}

// repairUIDIndexes rebuilds (or, for a mailbox that is gone, removes) the
// indexes Check found broken. It re-reads the records under the writer
// lock, so a snapshot that was already old does no harm.
func (s *Store) repairUIDIndexes(ctx context.Context, broken map[[2]uint64]string) error {
	var errs []error
	for mk := range broken {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		acct, mbox := AccountID(mk[0]), MailboxID(mk[1])
		err := s.rebuildUIDIndex(acct, mbox, true)
		if errors.Is(err, ErrNoMailbox) || errors.Is(err, ErrNotFound) {
			mu := s.accountLock(acct)
			mu.Lock()
			err = s.dropUIDIndex(acct, mbox)
			mu.Unlock()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("mailbox %d of account %d: %w", mbox, acct, err))
		}
	}
	return errors.Join(errs...)
}
