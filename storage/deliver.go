package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
	"postroom/storage/internal/mimeparse"
)

const (
	// chunkSize is the unit of stored body bytes: large enough that a body
	// is few keys, small enough that reading a part of a message (IMAP
	// partial fetch, POP3 TOP) reads little more than it needs.
	chunkSize = 64 << 10
	// inlineLimit: bodies up to this size are written in the same
	// transaction as the first recipient's message record, atomically.
	// Larger ones are staged first in transactions of stageBatch chunks, so
	// a 40 MB attachment never sits whole in memory or in one transaction.
	inlineLimit = 1 << 20
	stageBatch  = 16
	// batchSize bounds the messages touched by one transaction in bulk
	// operations (flags, copy, move, expunge).
	batchSize = 1000
)

// target is one mailbox a new message goes into.
type target struct {
	acct           AccountID
	mailbox        string // canonical name
	inboxIfMissing bool
	flags          Flags
	keywords       []string
	origin         Origin
	uid            uint32 // 0: the mailbox's UIDNEXT; else at least it (AppendUID)
}

// pendingObject is a body read from the client and not yet referenced.
type pendingObject struct {
	id      ObjectID
	rec     objectRecord
	inline  []byte // whole body when size <= inlineLimit, else nil
	staged  bool   // chunks already in the database under a 33 marker
	written bool   // the object record exists (some recipient has it)
}

// Deliver stores one message for every recipient. It returns only after
// every recipient's copy is synced to disk, or an error, in which case the
// sender must retry (some recipients may already have it: SMTP semantics).
func (s *Store) Deliver(ctx context.Context, d Delivery, body io.Reader) ([]Delivered, error) {
	targets, err := deliveryTargets(d)
	if err != nil {
		return nil, err
	}
	maxSize := s.maxSize
	if d.MaxSize > 0 {
		maxSize = d.MaxSize // the protocol's own limit, plus its trace headers
	}
	return s.store(ctx, targets, d.InternalDate, body, maxSize, d.Quota)
}

// deliveryTargets turns a Delivery's recipients into one target per
// account and mailbox.
func deliveryTargets(d Delivery) ([]target, error) {
	if len(d.Recipients) == 0 {
		return nil, errors.New("storage: delivery without recipients")
	}
	var targets []target
	seen := map[Recipient]bool{}
	for _, r := range d.Recipients {
		mbox := r.Mailbox
		if mbox == "" {
			mbox = InboxName
		}
		cn, err := CanonicalMailboxName(mbox)
		if err != nil {
			return nil, err
		}
		origin := r.Origin
		if origin == OriginUnknown {
			origin = d.Origin
		}
		key := Recipient{Account: r.Account, Mailbox: cn, Flags: r.Flags, Origin: origin}
		if seen[key] {
			continue // the same account twice (alias + name) gets one copy
		}
		seen[key] = true
		targets = append(targets, target{acct: r.Account, mailbox: cn, inboxIfMissing: true, flags: r.Flags, origin: origin})
	}
	return targets, nil
}

// Append stores a message into one mailbox with flags and date (IMAP
// APPEND). The mailbox must exist; the account's quota is enforced.
func (s *Store) Append(ctx context.Context, acct AccountID, mailbox string, flags Flags, keywords []string, date time.Time, body io.Reader) (Delivered, error) {
	cn, err := CanonicalMailboxName(mailbox)
	if err != nil {
		return Delivered{}, err
	}
	if _, err := s.Mailbox(acct, cn); err != nil {
		return Delivered{}, err
	}
	out, err := s.store(ctx, []target{{acct: acct, mailbox: cn, flags: flags, keywords: keywords, origin: OriginAppend}}, date, body, s.maxSize, true)
	if err != nil {
		return Delivered{}, err
	}
	return out[0], nil
}

// AppendExact is Append keeping the bytes exactly as given: IMAP's
// literal8 (RFC 3516 4.4) carries binary content in which a bare LF is
// data, not a line end, so BINARY.SIZE and BINARY[] must see it unchanged.
func (s *Store) AppendExact(ctx context.Context, acct AccountID, mailbox string, flags Flags, keywords []string, date time.Time, body io.Reader) (Delivered, error) {
	return s.Append(ctx, acct, mailbox, flags, keywords, date, exactBody{body})
}

// exactBody marks a body readBody must not normalise.
type exactBody struct{ io.Reader }

// checkQuotas fails with ErrOverQuota when size more bytes would take every
// target's account over its quota (see Delivery.Quota).
func (s *Store) checkQuotas(targets []target, size int64) error {
	var err error
	for _, t := range targets {
		if err = s.CheckQuota(t.acct, size); err == nil {
			return nil
		}
		if !errors.Is(err, ErrOverQuota) {
			return err
		}
	}
	return err
}

func (s *Store) store(ctx context.Context, targets []target, date time.Time, body io.Reader, maxSize int64, quota bool) ([]Delivered, error) {
	if err := s.CheckDiskSpace(0); err != nil {
		return nil, err
	}
	obj, err := s.readBody(ctx, body, maxSize)
	if err != nil {
		return nil, err
	}
	defer s.release(obj)
	return s.commitTargets(obj, targets, date, quota)
}

// commitTargets adds a read body to every target's mailbox; the body's
// prefix, if any, is set. The MIME structure is parsed here, once, over
// prefix and body.
func (s *Store) commitTargets(obj *pendingObject, targets []target, date time.Time, quota bool) ([]Delivered, error) {
	if date.IsZero() {
		date = time.Now()
	}
	if quota {
		if err := s.checkQuotas(targets, obj.rec.messageSize()); err != nil {
			return nil, err
		}
	}
	if !obj.staged { // the body is written now (staged ones were checked as they were written)
		if err := s.CheckDiskSpace(obj.rec.messageSize()); err != nil {
			return nil, err
		}
	}
	obj.rec.Structure, obj.rec.Envelope = mimeparse.Parse(s.pendingReader(obj), obj.rec.messageSize())

	var out []Delivered
	var firstErr error
	for _, t := range targets {
		dv, err := s.commitMessage(t, obj, date)
		if err != nil {
			s.log.Error("delivery failed", "account", t.acct, "mailbox", t.mailbox, "err", err)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		out = append(out, dv)
	}
	if firstErr != nil {
		return out, fmt.Errorf("storage: deliver: %w", firstErr)
	}
	return out, nil
}

// readBody reads the message, normalising line endings to CRLF, hashing and
// counting as it goes; past inlineLimit it stages chunks in the database.
func (s *Store) readBody(ctx context.Context, r io.Reader, maxSize int64) (*pendingObject, error) {
	obj := &pendingObject{}
	sum := sha256.New()
	norm := crlfNormalizer{}
	buf := getBuf()[:0] // inline mode: the whole body
	in := getBuf()[:32<<10]
	defer putBuf(in)
	var pending []byte // staged mode: bytes not yet written as chunks
	scratch := getBuf()[:0]
	defer func() { putBuf(scratch) }()
	var nextChunk uint32
	var size, lines int64
	var last byte

	// flush writes pending bytes as chunks, stageBatch chunks per
	// transaction; before the end only whole batches are written.
	flush := func(final bool) error {
		for len(pending) >= stageBatch*chunkSize || (final && len(pending) > 0) {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := s.CheckDiskSpace(stageBatch * chunkSize); err != nil {
				return err
			}
			take := min(len(pending), stageBatch*chunkSize)
			first := nextChunk
			err := s.update(func(txn *badger.Txn) error {
				if first == 0 {
					if err := txn.Set(keys.Staged(uint64(obj.id)), nil); err != nil {
						return err
					}
				}
				n := first
				for off := 0; off < take; off += chunkSize {
					if err := txn.Set(keys.Chunk(uint64(obj.id), n), pending[off:min(off+chunkSize, take)]); err != nil {
						return err
					}
					n++
				}
				return nil
			})
			if err != nil {
				return err
			}
			s.bodyBytes.Add(int64(take))
			nextChunk += uint32((take + chunkSize - 1) / chunkSize)
			pending = pending[:copy(pending, pending[take:])]
		}
		return nil
	}

	fail := func(err error) (*pendingObject, error) {
		if obj.staged {
			s.abandon(obj)
		}
		return nil, err
	}
	_, exact := r.(exactBody)
	for {
		n, rerr := r.Read(in)
		if n > 0 {
			out := in[:n]
			if !exact {
				out = norm.append(scratch[:0], in[:n])
				scratch = out
			}
			if !obj.staged {
				buf = append(buf, out...)
			} else {
				pending = append(pending, out...)
			}
			size += int64(len(out))
			lines += int64(bytes.Count(out, []byte{'\n'}))
			last = out[len(out)-1]
			sum.Write(out)
			if size > maxSize {
				return fail(ErrTooLarge)
			}
			if !obj.staged && len(buf) > inlineLimit {
				id, err := next(s.seqObj)
				if err != nil {
					return fail(err)
				}
				obj.id, obj.staged = ObjectID(id), true
				pending, buf = buf, nil
			}
			if obj.staged {
				if err := flush(false); err != nil {
					return fail(mapDiskErr(err))
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fail(rerr)
		}
	}
	if tail := norm.flush(nil); len(tail) > 0 {
		if obj.staged {
			pending = append(pending, tail...)
		} else {
			buf = append(buf, tail...)
		}
		size += int64(len(tail))
		lines++
		last = '\n'
		sum.Write(tail)
	}
	if size > maxSize {
		return fail(ErrTooLarge)
	}
	if size > 0 && last != '\n' {
		lines++ // a last line without its CRLF still counts
	}
	if obj.staged {
		if err := flush(true); err != nil {
			return fail(mapDiskErr(err))
		}
	} else {
		id, err := next(s.seqObj)
		if err != nil {
			return nil, err
		}
		obj.id = ObjectID(id)
		obj.inline = buf
		nextChunk = uint32((size + chunkSize - 1) / chunkSize)
	}
	obj.rec = objectRecord{Size: size, Lines: lines, Chunks: nextChunk, Created: time.Now().UTC()}
	copy(obj.rec.SHA256[:], sum.Sum(nil))
	return obj, nil
}

// pendingReader reads a body not yet committed: its prefix, then the
// bytes in memory or its staged chunks.
func (s *Store) pendingReader(obj *pendingObject) io.ReaderAt {
	if obj.staged {
		return &chunkReader{s: s, id: obj.id, size: obj.rec.messageSize(), prefix: obj.rec.Prefix}
	}
	return prefixedReader{obj.rec.Prefix, obj.inline[:obj.rec.Size]}
}

// prefixedReader is an io.ReaderAt over two byte slices end to end.
type prefixedReader struct{ a, b []byte }

func (r prefixedReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	if off < int64(len(r.a)) {
		n = copy(p, r.a[off:])
	}
	if n < len(p) {
		boff := off + int64(n) - int64(len(r.a))
		if boff < int64(len(r.b)) {
			n += copy(p[n:], r.b[boff:])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// release ends a read body's life in memory: a staged body that nothing
// took is freed (abandon), and the inline buffer goes back to the pool.
func (s *Store) release(obj *pendingObject) {
	if !obj.written {
		s.abandon(obj)
	}
	putBuf(obj.inline)
	obj.inline = nil
}

// inlineBytes is what writeObject writes of the body: all of it when it
// was kept in memory, nothing when its chunks are staged already.
func (obj *pendingObject) inlineBytes() int64 {
	if obj.inline == nil {
		return 0
	}
	return obj.rec.Size
}

// abandon frees a staged body that no recipient took.
func (s *Store) abandon(obj *pendingObject) {
	if !obj.staged || obj.written {
		return
	}
	err := s.update(func(txn *badger.Txn) error {
		if err := txn.Delete(keys.Staged(uint64(obj.id))); err != nil {
			return err
		}
		return txn.Set(keys.Erase(uint64(obj.id)), nil)
	})
	if err != nil {
		// The start-up sweep frees it.
		s.log.Warn("abandon staged body", "object", obj.id, "err", err)
		return
	}
	s.kickEraser()
}

// commitReq is one new message waiting for its account's next commit.
type commitReq struct {
	t    target
	obj  *pendingObject
	date time.Time
	done chan struct{}
	lead chan struct{} // handed leadership of the queue
	dv   Delivered
	err  error
}

// commitQueue gathers the new messages of one account. Each account has
// one writer (UIDs come from UIDNEXT inside the transaction), so without
// this, concurrent deliveries to the same account would wait for one fsync
// each. The first waiter becomes the leader and commits everything queued
// behind it in one transaction and one sync (group commit); the rest wait.
// After one group the leader hands over to the oldest waiter, so no sender
// leads forever under continuous load.
type commitQueue struct {
	mu      sync.Mutex
	pending []*commitReq
	leader  bool
}

const (
	maxGroup      = 128     // messages per group commit
	maxGroupBytes = 4 << 20 // inline body bytes per group commit
)

func (s *Store) commitQueue(acct AccountID) *commitQueue {
	s.locksMu.Lock()
	defer s.locksMu.Unlock()
	q := s.queues[acct]
	if q == nil {
		q = &commitQueue{}
		s.queues[acct] = q
	}
	return q
}

// commitMessage adds one message record: UID from the mailbox's UIDNEXT, a
// new MODSEQ, exact counts, and the body reference, durable on return; its
// event is published before the account's lock is released.
func (s *Store) commitMessage(t target, obj *pendingObject, date time.Time) (Delivered, error) {
	req := &commitReq{t: t, obj: obj, date: date, done: make(chan struct{}), lead: make(chan struct{}, 1)}
	q := s.commitQueue(t.acct)
	q.mu.Lock()
	q.pending = append(q.pending, req)
	if !q.leader {
		q.leader = true
		req.lead <- struct{}{}
	}
	q.mu.Unlock()
	select {
	case <-req.done:
	case <-req.lead:
		s.leadGroup(t.acct, q)
		<-req.done
	}
	return req.dv, req.err
}

// leadGroup commits the oldest queued messages (the leader's own first),
// then hands leadership to the next waiter, if any.
func (s *Store) leadGroup(acct AccountID, q *commitQueue) {
	q.mu.Lock()
	n, bytes := 0, 0
	for n < len(q.pending) && n < maxGroup && (n == 0 || bytes+len(q.pending[n].obj.inline) <= maxGroupBytes) {
		bytes += len(q.pending[n].obj.inline)
		n++
	}
	group := q.pending[:n:n]
	q.pending = q.pending[n:]
	q.mu.Unlock()

	err := s.commitGroup(acct, group)
	for _, r := range group {
		if err != nil && r.err == nil {
			r.err = err
		}
		if r.err == nil {
			r.obj.written = true
		}
		close(r.done)
	}
	q.mu.Lock()
	if len(q.pending) > 0 {
		q.pending[0].lead <- struct{}{}
	} else {
		q.leader = false
	}
	q.mu.Unlock()
}

// commitGroup writes a group of new messages of one account in one
// transaction under the account's writer lock, and publishes their events
// before letting go of it (STYLE convention 4: a later commit's events can
// never overtake these). A message whose mailbox is gone fails alone; a
// failed commit fails them all.
func (s *Store) commitGroup(acct AccountID, group []*commitReq) error {
	mu := s.accountLock(acct)
	mu.Lock()
	defer mu.Unlock()
	events := make([]Event, len(group))
	var wrote int64 // body bytes of the commit that succeeds
	err := s.update(func(txn *badger.Txn) error {
		wrote = 0
		rec, err := s.getAccount(txn, acct)
		if err != nil {
			return err
		}
		created := map[ObjectID]bool{}
		touched := map[MailboxID]*Mailbox{}
		for i, r := range group {
			r.err, r.dv, events[i] = nil, Delivered{}, Event{}
			mb, err := s.groupMailbox(txn, acct, r.t, touched)
			if err != nil {
				r.err = err
				continue
			}
			if mb.UIDNext == 0 || mb.UIDNext == ^uint32(0) {
				r.err = fmt.Errorf("storage: mailbox %s has used every UID", mb.Name)
				continue
			}
			uid := mb.UIDNext
			if r.t.uid != 0 {
				if r.t.uid < mb.UIDNext || r.t.uid == ^uint32(0) {
					r.err = fmt.Errorf("storage: UID %d is below UIDNEXT %d of %s: UIDs only go up", r.t.uid, mb.UIDNext, mb.Name)
					continue
				}
				uid = r.t.uid
			}
			rec.LastModSeq++
			msg := Message{
				UID: uid, Object: r.obj.id, Flags: r.t.flags, Keywords: r.t.keywords,
				ModSeq: rec.LastModSeq, InternalDate: r.date, Size: r.obj.rec.messageSize(),
			}
			mb.UIDNext = uid + 1
			if err := putMessage(txn, acct, mb.ID, &msg); err != nil {
				return err
			}
			countMessage(mb, rec, &msg, +1)
			mb.HighestModSeq = msg.ModSeq
			r.dv = Delivered{Account: acct, Mailbox: mb.ID, UIDValidity: mb.UIDValidity, UID: msg.UID}
			events[i] = Event{Kind: EventAdded, Account: acct, Mailbox: mb.ID, Message: msg, Origin: r.t.origin}
			if r.obj.written || created[r.obj.id] {
				if err := addRef(txn, r.obj.id, +1); err != nil {
					return err
				}
				continue
			}
			if err := writeObject(txn, r.obj); err != nil {
				return err
			}
			created[r.obj.id] = true
			wrote += r.obj.inlineBytes()
		}
		for _, mb := range touched {
			if err := putMailbox(txn, acct, mb); err != nil {
				return err
			}
		}
		// The day's counts in the same transaction (daycount.go).
		if err := addDayCounts(txn, acct, events); err != nil {
			return err
		}
		return putAccount(txn, acct, rec)
	})
	if err != nil {
		return err
	}
	s.bodyBytes.Add(wrote)
	for i, r := range group {
		if r.err == nil {
			s.events.publish(events[i])
		}
	}
	return nil
}

// groupMailbox finds a request's mailbox, reusing the copy this group
// already changed.
func (s *Store) groupMailbox(txn *badger.Txn, acct AccountID, t target, touched map[MailboxID]*Mailbox) (*Mailbox, error) {
	id, err := getMailboxID(txn, acct, t.mailbox)
	if errors.Is(err, ErrNoMailbox) && t.inboxIfMissing {
		id, err = getMailboxID(txn, acct, InboxName)
	}
	if err != nil {
		return nil, err
	}
	if mb := touched[id]; mb != nil {
		return mb, nil
	}
	mb, err := getMailbox(txn, acct, id)
	if err != nil {
		return nil, err
	}
	touched[id] = mb
	return mb, nil
}

// writeObject stores a new body's record with one reference, and its
// chunks when they were kept inline (inlineBytes says how many bytes).
func writeObject(txn *badger.Txn, obj *pendingObject) error {
	for i := uint32(0); i < obj.rec.Chunks && obj.inline != nil; i++ {
		lo := int64(i) * chunkSize
		hi := min(lo+chunkSize, obj.rec.Size)
		if err := txn.Set(keys.Chunk(uint64(obj.id), i), obj.inline[lo:hi]); err != nil {
			return err
		}
	}
	if obj.staged {
		if err := txn.Delete(keys.Staged(uint64(obj.id))); err != nil {
			return err
		}
	}
	r := obj.rec
	r.RefCount = 1
	return putObject(txn, obj.id, &r)
}

// countMessage adds (sign +1) or removes (-1) a message from the exact
// counts of its mailbox and account, and notes the change for the
// mailbox's UID index, which putAccount writes (uidindex.go). Every change
// to a message record comes through here.
func countMessage(mb *Mailbox, rec *accountRecord, m *Message, sign int) {
	d := uint32(1)
	if sign < 0 {
		d = ^uint32(0) // -1 in modular arithmetic
	}
	mb.Messages += d
	if m.Flags&FlagSeen == 0 {
		mb.Unseen += d
	}
	if m.Flags&FlagDeleted != 0 {
		mb.Deleted += d
	}
	mb.Size += int64(sign) * m.Size
	rec.Usage += int64(sign) * m.Size
	rec.Messages += int64(sign)
	rec.noteUIDEdit(mb.ID, m, sign)
}

func putMessage(txn *badger.Txn, acct AccountID, mbox MailboxID, m *Message) error {
	if err := txn.Set(keys.Message(uint64(acct), uint64(mbox), m.UID), encodeMessage(m)); err != nil {
		return err
	}
	return txn.Set(keys.ModSeq(uint64(acct), uint64(mbox), m.ModSeq, m.UID), nil)
}

func getObject(txn *badger.Txn, id ObjectID) (*objectRecord, error) {
	it, err := txn.Get(keys.Object(uint64(id)))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("object %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var rec *objectRecord
	if err := it.Value(func(v []byte) (err error) { rec, err = decodeObject(v); return err }); err != nil {
		return nil, objectError(id, err)
	}
	return rec, nil
}

func putObject(txn *badger.Txn, id ObjectID, rec *objectRecord) error {
	return txn.Set(keys.Object(uint64(id)), encodeObject(rec))
}

// addRef changes an object's reference count; at zero the object goes to
// the erase queue, whose worker frees the chunks outside any mail path.
func addRef(txn *badger.Txn, id ObjectID, delta int) error {
	rec, err := getObject(txn, id)
	if err != nil {
		return err
	}
	n := int64(rec.RefCount) + int64(delta)
	if n < 0 {
		return fmt.Errorf("object %d: reference count below zero", id)
	}
	rec.RefCount = uint32(n)
	if n == 0 {
		if err := txn.Set(keys.Erase(uint64(id)), nil); err != nil {
			return err
		}
	}
	return putObject(txn, id, rec)
}

// crlfNormalizer turns bare LF and bare CR into CRLF across buffer
// boundaries, so that sizes and POP3/IMAP octet counts are exact.
type crlfNormalizer struct{ cr bool }

func (n *crlfNormalizer) append(dst, src []byte) []byte {
	for len(src) > 0 {
		if n.cr {
			n.cr = false
			dst = append(dst, '\r', '\n')
			if src[0] == '\n' {
				src = src[1:]
				continue
			}
		}
		// Copy the run up to the next line-ending byte in one go.
		i := bytes.IndexByte(src, '\n')
		if j := bytes.IndexByte(src, '\r'); j >= 0 && (i < 0 || j < i) {
			i = j
		}
		if i < 0 {
			return append(dst, src...)
		}
		dst = append(dst, src[:i]...)
		if src[i] == '\r' {
			n.cr = true
		} else {
			dst = append(dst, '\r', '\n')
		}
		src = src[i+1:]
	}
	return dst
}

func (n *crlfNormalizer) flush(dst []byte) []byte {
	if n.cr {
		n.cr = false
		dst = append(dst, '\r', '\n')
	}
	return dst
}

// bufPool recycles the 64 KiB buffers every delivery reads through, which
// would otherwise be allocated and zeroed for each message.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

func getBuf() []byte { return *bufPool.Get().(*[]byte) }

// putBuf returns a buffer unless it grew large (a big inline body), which
// the garbage collector should have back instead.
func putBuf(b []byte) {
	if cap(b) == 64<<10 {
		b = b[:cap(b)]
		bufPool.Put(&b)
	}
}
