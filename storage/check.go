package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

// CheckReport counts what Check looked at.
type CheckReport struct {
	Accounts, Mailboxes, Messages, Objects, Chunks int64
	Problems                                       []string
}

// Check recomputes every invariant of the store from scratch, in one
// consistent snapshot, and returns an error listing what is broken:
// address and domain indexes, mailbox name index, per-mailbox counts, UIDs
// below UIDNEXT, MODSEQs and their index, body reference counts, chunk
// completeness, the erase and staging queues, and the mailbox UID index,
// which it rebuilds where it disagrees with the records. It runs in the cleanup of
// every test that opens a store and behind `postroomctl fsck`.
func (s *Store) Check(ctx context.Context) error {
	r, err := s.CheckReport(ctx)
	if err != nil {
		return err
	}
	if len(r.Problems) > 0 {
		shown := r.Problems
		if len(shown) > 50 {
			shown = shown[:50]
		}
		return fmt.Errorf("storage: check found %d problems:\n  %s", len(r.Problems), strings.Join(shown, "\n  "))
	}
	return nil
}

type mboxCount struct {
	messages, unseen, deleted uint32
	size                      int64
	index                     int
}

// CheckReport is Check returning the counts and problems separately.
func (s *Store) CheckReport(ctx context.Context) (*CheckReport, error) {
	r := &CheckReport{}
	bad := func(f string, a ...any) { r.Problems = append(r.Problems, fmt.Sprintf(f, a...)) }
	var brokenIndex map[[2]uint64]string
	err := s.view(func(txn *badger.Txn) error {
		scan := func(tag byte, values bool, fn func(k, v []byte) error) error {
			it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: values, PrefetchSize: 256, Prefix: keys.Prefix(tag)})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				if err := ctx.Err(); err != nil {
					return err
				}
				item := it.Item()
				if !values {
					if err := fn(item.Key(), nil); err != nil {
						return err
					}
					continue
				}
				if err := item.Value(func(v []byte) error { return fn(item.Key(), v) }); err != nil {
					return err
				}
			}
			return nil
		}

		// Accounts and their addresses.
		accts := map[AccountID]*accountRecord{}
		if err := scan(keys.TagAccount, true, func(k, v []byte) error {
			id, err := keys.ParseAccount(k)
			if err != nil {
				bad("%v", err)
				return nil
			}
			rec := &accountRecord{}
			if err := decodeJSON(vAccount, v, rec); err != nil {
				bad("account %d: undecodable: %v", id, err)
				return nil
			}
			accts[AccountID(id)] = rec
			r.Accounts++
			return nil
		}); err != nil {
			return err
		}
		checkAccountExtras(txn, accts, bad)
		domains := map[string]int64{}
		addrOwner := map[string]AccountID{}
		if err := scan(keys.TagAddress, true, func(k, v []byte) error {
			a, err := keys.ParseAddress(k)
			if err != nil || len(v) != 8 {
				bad("address key %x: malformed", k)
				return nil
			}
			id := AccountID(binary.BigEndian.Uint64(v))
			addrOwner[a] = id
			domains[domainOf(a)]++
			rec := accts[id]
			if rec == nil {
				bad("address %s: points to missing account %d", a, id)
			} else if !contains(rec.Addresses, a) {
				bad("address %s: account %s does not list it", a, rec.Name)
			}
			return nil
		}); err != nil {
			return err
		}
		for id, rec := range accts {
			for _, a := range rec.Addresses {
				if addrOwner[a] != id {
					bad("account %s: address %s is not indexed to it", rec.Name, a)
				}
			}
			if !contains(rec.Addresses, rec.Name) {
				bad("account %s: its name is not among its addresses", rec.Name)
			}
		}
		seenDomains := map[string]bool{}
		if err := scan(keys.TagDomain, true, func(k, v []byte) error {
			d, err := keys.ParseDomain(k)
			if err != nil || len(v) != 8 {
				bad("domain key %x: malformed", k)
				return nil
			}
			seenDomains[d] = true
			if n := int64(binary.BigEndian.Uint64(v)); n != domains[d] {
				bad("domain %s: count %d, addresses %d", d, n, domains[d])
			}
			return nil
		}); err != nil {
			return err
		}
		for d := range domains {
			if !seenDomains[d] {
				bad("domain %s: has addresses but no domain record", d)
			}
		}

		// Mailboxes and their name index.
		type mkey struct {
			a AccountID
			m MailboxID
		}
		mboxes := map[mkey]*Mailbox{}
		if err := scan(keys.TagMailbox, true, func(k, v []byte) error {
			a, m, err := keys.ParseMailbox(k)
			if err != nil {
				bad("%v", err)
				return nil
			}
			mb, err := decodeMailbox(MailboxID(m), v)
			if err != nil {
				bad("account %d: %v", a, err)
				return nil
			}
			if accts[AccountID(a)] == nil {
				bad("mailbox %d %q: missing account %d", m, mb.Name, a)
			} else if mb.HighestModSeq > accts[AccountID(a)].LastModSeq {
				bad("mailbox %q: HIGHESTMODSEQ %d above the account's %d", mb.Name, mb.HighestModSeq, accts[AccountID(a)].LastModSeq)
			}
			mboxes[mkey{AccountID(a), MailboxID(m)}] = &mb
			r.Mailboxes++
			return nil
		}); err != nil {
			return err
		}
		named := map[mkey]bool{}
		if err := scan(keys.TagMboxName, true, func(k, v []byte) error {
			a, name, err := keys.ParseMailboxName(k)
			if err != nil || len(v) != 8 {
				bad("mailbox name key %x: malformed", k)
				return nil
			}
			key := mkey{AccountID(a), MailboxID(binary.BigEndian.Uint64(v))}
			mb := mboxes[key]
			switch {
			case mb == nil:
				bad("mailbox name %q of account %d: points to missing mailbox %d", name, a, key.m)
			case mb.Name != name:
				bad("mailbox name %q of account %d: mailbox %d is called %q", name, a, key.m, mb.Name)
			}
			named[key] = true
			return nil
		}); err != nil {
			return err
		}
		for key, mb := range mboxes {
			if !named[key] {
				bad("mailbox %q of account %d: not in the name index", mb.Name, key.a)
			}
		}
		for id := range accts {
			if _, err := getMailboxID(txn, id, InboxName); err != nil {
				bad("account %s: has no INBOX", accts[id].Name)
			}
		}

		// Messages: recount everything.
		counts := map[mkey]*mboxCount{}
		usage := map[AccountID][2]int64{}
		refs := map[ObjectID]uint32{}
		// The size every message of an object says it has: prefix and
		// body, the same for every copy.
		msgSize := map[ObjectID]int64{}
		type mskey struct {
			k   mkey
			ms  uint64
			uid uint32
		}
		modseqs := map[mskey]bool{}
		ixc := newIndexCheck()
		if err := scan(keys.TagMessage, true, func(k, v []byte) error {
			a, mbid, uid, err := keys.ParseMessage(k)
			if err != nil {
				bad("%v", err)
				return nil
			}
			m, err := decodeMessage(uid, v)
			if err != nil {
				bad("account %d mailbox %d: %v", a, mbid, err)
				return nil
			}
			r.Messages++
			key := mkey{AccountID(a), MailboxID(mbid)}
			mb := mboxes[key]
			if mb == nil {
				bad("message %d: missing mailbox %d of account %d", uid, mbid, a)
				return nil
			}
			if uid == 0 || uid >= mb.UIDNext {
				bad("mailbox %q: UID %d not below UIDNEXT %d", mb.Name, uid, mb.UIDNext)
			}
			if m.ModSeq == 0 || m.ModSeq > mb.HighestModSeq {
				bad("mailbox %q UID %d: MODSEQ %d above HIGHESTMODSEQ %d", mb.Name, uid, m.ModSeq, mb.HighestModSeq)
			}
			c := counts[key]
			if c == nil {
				c = &mboxCount{}
				counts[key] = c
			}
			c.messages++
			if m.Flags&FlagSeen == 0 {
				c.unseen++
			}
			if m.Flags&FlagDeleted != 0 {
				c.deleted++
			}
			c.size += m.Size
			u := usage[key.a]
			u[0] += m.Size
			u[1]++
			usage[key.a] = u
			refs[m.Object]++
			if n, ok := msgSize[m.Object]; ok && n != m.Size {
				bad("object %d: its messages disagree on the size (%d, %d)", m.Object, n, m.Size)
			}
			msgSize[m.Object] = m.Size
			modseqs[mskey{key, m.ModSeq, uid}] = true
			ixc.message(key.a, key.m, &m)
			return nil
		}); err != nil {
			return err
		}
		// The UID index (uidindex.go) against the records just read.
		var err error
		if brokenIndex, err = ixc.compare(txn, func(a AccountID, m MailboxID) bool { return mboxes[mkey{a, m}] != nil }); err != nil {
			return err
		}
		for mk, why := range brokenIndex {
			name := fmt.Sprint(mk[1])
			if mb := mboxes[mkey{AccountID(mk[0]), MailboxID(mk[1])}]; mb != nil {
				name = fmt.Sprintf("%q", mb.Name)
			}
			bad("mailbox %s of account %d: UID index: %s (rebuilt from the records)", name, mk[0], why)
		}
		if err := scan(keys.TagModSeq, false, func(k, _ []byte) error {
			a, mbid, ms, uid, err := keys.ParseModSeq(k)
			if err != nil {
				bad("%v", err)
				return nil
			}
			key := mskey{mkey{AccountID(a), MailboxID(mbid)}, ms, uid}
			if !modseqs[key] {
				bad("modseq index %d/%d/%d/%d: no message with that MODSEQ", a, mbid, ms, uid)
			}
			delete(modseqs, key)
			if c := counts[key.k]; c != nil {
				c.index++
			}
			return nil
		}); err != nil {
			return err
		}
		for key := range modseqs {
			bad("message %d of mailbox %d: MODSEQ %d missing from the index", key.uid, key.k.m, key.ms)
		}
		if err := scan(keys.TagTombstone, false, func(k, _ []byte) error {
			a, mbid, ms, uid, err := keys.ParseModSeq(k)
			if err != nil {
				bad("%v", err)
				return nil
			}
			mb := mboxes[mkey{AccountID(a), MailboxID(mbid)}]
			if mb == nil {
				bad("tombstone UID %d: missing mailbox %d", uid, mbid)
			} else if ms > mb.HighestModSeq {
				bad("mailbox %q: tombstone MODSEQ %d above HIGHESTMODSEQ", mb.Name, ms)
			}
			return nil
		}); err != nil {
			return err
		}
		for key, mb := range mboxes {
			c := counts[key]
			if c == nil {
				c = &mboxCount{}
			}
			if c.messages != mb.Messages || c.unseen != mb.Unseen || c.deleted != mb.Deleted || c.size != mb.Size {
				bad("mailbox %q of account %d: counts %d/%d/%d/%d (messages/unseen/deleted/size), recounted %d/%d/%d/%d",
					mb.Name, key.a, mb.Messages, mb.Unseen, mb.Deleted, mb.Size, c.messages, c.unseen, c.deleted, c.size)
			}
		}
		for id, rec := range accts {
			u := usage[id]
			if rec.Usage != u[0] || rec.Messages != u[1] {
				bad("account %s: usage %d bytes/%d messages, recounted %d/%d", rec.Name, rec.Usage, rec.Messages, u[0], u[1])
			}
		}

		// The outbound queue's references to bodies (storage/queue.go),
		// counted with the mailboxes'.
		msgRefs := maps.Clone(refs)
		if err := checkQueue(txn, refs, bad); err != nil {
			return err
		}

		// Objects, chunks, queues. Of each object only what the checks
		// below need is kept: its decoded structure and envelope, most of
		// a record, are dropped at once (held for every object, they were
		// 90 MiB of a 100,000-message store's check, BENCHMARKS.md).
		type objInfo struct {
			size         int64
			refs, chunks uint32
		}
		objs := map[ObjectID]objInfo{}
		if err := scan(keys.TagObject, true, func(k, v []byte) error {
			id, err := keys.ParseObjectKey(k)
			if err != nil {
				bad("%v", err)
				return nil
			}
			rec, err := decodeObject(v)
			if err != nil {
				bad("object %d: undecodable: %v", id, err)
				return nil
			}
			objs[ObjectID(id)] = objInfo{size: rec.Size, refs: rec.RefCount, chunks: rec.Chunks}
			r.Objects++
			if rec.RefCount != refs[ObjectID(id)] {
				bad("object %d: reference count %d, referenced %d times", id, rec.RefCount, refs[ObjectID(id)])
			}
			// Only the queue may hold a body it never parsed.
			if msgRefs[ObjectID(id)] > 0 && (rec.Structure == nil || rec.Envelope == nil) {
				bad("object %d: no cached structure", id)
			}
			if n, ok := msgSize[ObjectID(id)]; ok && n != rec.messageSize() {
				bad("object %d: a message says %d bytes, prefix and body are %d", id, n, rec.messageSize())
			}
			return nil
		}); err != nil {
			return err
		}
		for id, n := range refs {
			if _, ok := objs[id]; !ok {
				bad("object %d: referenced %d times but missing", id, n)
			}
		}
		markers := func(tag byte) map[ObjectID]bool {
			out := map[ObjectID]bool{}
			_ = scan(tag, false, func(k, _ []byte) error {
				id, err := keys.ParseObjectKey(k)
				if err != nil {
					bad("%v", err)
				} else {
					out[ObjectID(id)] = true
				}
				return nil
			})
			return out
		}
		erase, staged := markers(keys.TagErase), markers(keys.TagStaged)
		for id, rec := range objs {
			if rec.refs == 0 && !erase[id] {
				bad("object %d: unreferenced and not queued for erasing", id)
			}
			if staged[id] {
				bad("object %d: delivered but still marked staged", id)
			}
		}
		for id := range erase {
			if o, ok := objs[id]; ok && o.refs > 0 {
				bad("object %d: queued for erasing but referenced", id)
			}
		}
		type chunkState struct {
			n    uint32
			size int64
			gap  bool
		}
		chunks := map[ObjectID]*chunkState{}
		if err := scan(keys.TagChunk, true, func(k, v []byte) error {
			id, idx, err := keys.ParseChunk(k)
			if err != nil {
				bad("%v", err)
				return nil
			}
			r.Chunks++
			c := chunks[ObjectID(id)]
			if c == nil {
				c = &chunkState{}
				chunks[ObjectID(id)] = c
			}
			if idx != c.n {
				c.gap = true
			}
			c.n = idx + 1
			c.size += int64(len(v))
			return nil
		}); err != nil {
			return err
		}
		for id, rec := range objs {
			c := chunks[id]
			if c == nil {
				c = &chunkState{}
			}
			if erase[id] {
				continue // being erased: chunks may be partly gone
			}
			if c.gap || c.n != rec.chunks || c.size != rec.size {
				bad("object %d: %d chunks of %d bytes (gap %v), record says %d chunks of %d bytes", id, c.n, c.size, c.gap, rec.chunks, rec.size)
			}
		}
		for id := range chunks {
			if _, ok := objs[id]; !ok && !erase[id] && !staged[id] {
				bad("object %d: chunks without an object record or a queue marker", id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: check: %w", err)
	}
	// The index is derived from the records, so a broken one is repaired
	// at once, on a live box too: rebuilt under the account's writer lock
	// from the records as they are then. It is still reported above.
	if err := s.repairUIDIndexes(ctx, brokenIndex); err != nil {
		bad("repairing the UID index: %v", err)
	}
	return r, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
