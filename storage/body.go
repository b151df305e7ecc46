package storage

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

// Body reads a stored message's bytes, its prefix (trace header fields)
// and then its body chunk by chunk, so that a 40 MB message is streamed,
// never loaded whole. While a Body is open its object is pinned: expunging
// the last copy does not erase the bytes until Close, so a POP3 snapshot
// can still send a message IMAP expunged meanwhile.
type Body struct {
	r     *chunkReader
	unpin func()
	once  sync.Once
}

// OpenBody opens the bytes of an object for reading. Close it.
func (s *Store) OpenBody(id ObjectID) (*Body, error) {
	unpin := s.Pin(id)
	var rec *objectRecord
	err := s.view(func(txn *badger.Txn) error {
		var err error
		rec, err = getObject(txn, id)
		return err
	})
	if err != nil {
		unpin()
		return nil, err
	}
	return &Body{r: &chunkReader{s: s, id: id, size: rec.messageSize(), prefix: rec.Prefix}, unpin: unpin}, nil
}

// OpenObjectBody is OpenBody for an Object read a moment ago: it does not
// read and decode the object record again, which is most of the cost of
// opening a body when a SEARCH or a FETCH opens thousands. Should the
// object have been erased in between, reads fail with ErrNotFound. An
// Object the caller made itself (ID and Size from a Message) has its
// prefix read at the first read.
func (s *Store) OpenObjectBody(obj Object) *Body {
	return &Body{r: &chunkReader{s: s, id: obj.ID, size: obj.Size, prefix: obj.Prefix, lazy: !obj.loaded}, unpin: s.Pin(obj.ID)}
}

// OpenObject reads an object's record and opens its bytes in one
// transaction, its first chunk read ahead into a pooled buffer: a FETCH of
// BODY[] of 20,000 small messages then costs one transaction and two
// lookups per message instead of two of each and a fresh buffer. The body
// is pinned before the record is read, so it cannot be erased between that
// read and Close. After Close the Body must not be read (ReadAt fails):
// its buffer goes back to the pool.
func (s *Store) OpenObject(id ObjectID) (Object, *Body, error) {
	unpin := s.Pin(id)
	c := &chunkReader{s: s, id: id, pooled: true}
	var obj Object
	err := s.view(func(txn *badger.Txn) error {
		rec, err := getObject(txn, id)
		if err != nil {
			return err
		}
		obj = rec.object(id)
		c.size, c.prefix = rec.messageSize(), rec.Prefix
		if rec.Size == 0 {
			return nil
		}
		return c.loadTxn(txn, 0)
	})
	if err != nil {
		c.release()
		unpin()
		return Object{}, nil, err
	}
	return obj, &Body{r: c, unpin: unpin}, nil
}

// ObjectScan opens many bodies from one snapshot, asked for in about
// ascending object order (a FETCH of a mailbox's bodies in UID order):
// the record and the first chunk of each come from two iterators that
// step from one to the next, instead of two lookups from the top of the
// LSM tree. Close it when done; the bodies it opened stay valid.
type ObjectScan struct {
	s            *Store
	txn          *badger.Txn
	objs, chunks *badger.Iterator
}

// ScanObjects starts an ObjectScan.
func (s *Store) ScanObjects() *ObjectScan {
	txn := s.db.NewTransaction(false)
	return &ObjectScan{s: s, txn: txn,
		objs:   txn.NewIterator(badger.IteratorOptions{Prefix: keys.Prefix(keys.TagObject)}),
		chunks: txn.NewIterator(badger.IteratorOptions{Prefix: keys.Prefix(keys.TagChunk)}),
	}
}

// Close ends the scan.
func (sc *ObjectScan) Close() {
	sc.objs.Close()
	sc.chunks.Close()
	sc.txn.Discard()
}

// Open is OpenObject through the scan. A body of one chunk is read whole
// from the snapshot, so it is served complete even should its last
// message be expunged and the body erased meanwhile; a longer one is
// opened by OpenObject, pinned before its record is read, so that its
// later chunks cannot go missing half way.
// Unless envelope, the Object comes without its Envelope (not decoded).
func (sc *ObjectScan) Open(id ObjectID, envelope bool) (Object, *Body, error) {
	if !stepTo(sc.objs, keys.Object(uint64(id))) {
		return Object{}, nil, fmt.Errorf("object %d: %w", id, ErrNotFound)
	}
	var rec *objectRecord
	if err := sc.objs.Item().Value(func(v []byte) (err error) { rec, err = decodeObjectOpt(v, envelope); return err }); err != nil {
		return Object{}, nil, objectError(id, err)
	}
	if rec.Chunks > 1 {
		return sc.s.OpenObject(id)
	}
	c := &chunkReader{s: sc.s, id: id, pooled: true, size: rec.messageSize(), prefix: rec.Prefix}
	if rec.Size > 0 {
		if !stepTo(sc.chunks, keys.Chunk(uint64(id), 0)) {
			return Object{}, nil, fmt.Errorf("storage: object %d chunk 0: %w", id, ErrNotFound)
		}
		c.chunk = *chunkPool.Get().(*[]byte)
		var err error
		if c.chunk, err = sc.chunks.Item().ValueCopy(c.chunk[:0]); err != nil {
			c.release()
			return Object{}, nil, err
		}
	}
	// Whole in memory: nothing to pin.
	return rec.object(id), &Body{r: c, unpin: func() {}}, nil
}

// OpenQueueBody opens what the queue sends for m: its Prefix (DKIM
// signatures and trace fields) and then the stored body, without the
// prefix of the local copies that may share the object.
func (s *Store) OpenQueueBody(m *QueueMessage) (*Body, error) {
	unpin := s.Pin(m.Object)
	var rec *objectRecord
	err := s.view(func(txn *badger.Txn) error {
		var err error
		rec, err = getObject(txn, m.Object)
		return err
	})
	if err != nil {
		unpin()
		return nil, err
	}
	return &Body{r: &chunkReader{s: s, id: m.Object, size: int64(len(m.Prefix)) + rec.Size, prefix: m.Prefix}, unpin: unpin}, nil
}

// Size is the body's length in octets.
func (b *Body) Size() int64 { return b.r.size }

// ReadAt implements io.ReaderAt; it is safe for concurrent use.
func (b *Body) ReadAt(p []byte, off int64) (int, error) { return b.r.ReadAt(p, off) }

// Reader returns a reader over the whole body from the start.
func (b *Body) Reader() io.Reader { return io.NewSectionReader(b.r, 0, b.r.size) }

// Close unpins the object.
func (b *Body) Close() error {
	b.once.Do(func() {
		b.r.release()
		b.unpin()
	})
	return nil
}

// Pin keeps the bodies of ids from being erased until the returned function
// is called, even if every message referencing them is expunged meanwhile.
func (s *Store) Pin(ids ...ObjectID) (unpin func()) {
	s.pinsMu.Lock()
	for _, id := range ids {
		s.pins[id]++
	}
	s.pinsMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.pinsMu.Lock()
			for _, id := range ids {
				if s.pins[id]--; s.pins[id] <= 0 {
					delete(s.pins, id)
				}
			}
			s.pinsMu.Unlock()
			s.kickEraser()
		})
	}
}

func (s *Store) pinned(id ObjectID) bool {
	s.pinsMu.Lock()
	defer s.pinsMu.Unlock()
	return s.pins[id] > 0
}

// chunkReader is an io.ReaderAt over prefix and then an object's chunks
// that keeps the last chunk it read, since readers mostly go forward in
// small steps.
type chunkReader struct {
	s      *Store
	id     ObjectID
	size   int64  // prefix and body
	prefix []byte // read from the object record first when lazy

	mu     sync.Mutex
	lazy   bool
	idx    int64
	chunk  []byte
	pooled bool // chunk comes from chunkPool and goes back at release
	closed bool
}

// chunkPool holds chunk buffers of OpenObject's bodies.
var chunkPool = sync.Pool{New: func() any { return new([]byte) }}

// release gives a pooled buffer back; the reader fails from then on.
func (c *chunkReader) release() {
	if !c.pooled {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.chunk != nil && cap(c.chunk) <= chunkSize {
		b := c.chunk[:0]
		chunkPool.Put(&b)
	}
	c.chunk, c.closed = nil, true
}

func (c *chunkReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("storage: negative offset")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, errors.New("storage: body read after Close")
	}
	if c.lazy {
		if err := c.loadPrefix(); err != nil {
			return 0, err
		}
	}
	n := 0
	for n < len(p) {
		if off >= c.size {
			return n, io.EOF
		}
		if off < int64(len(c.prefix)) {
			k := copy(p[n:], c.prefix[off:])
			n += k
			off += int64(k)
			continue
		}
		boff := off - int64(len(c.prefix))
		idx := boff / chunkSize
		if c.chunk == nil || c.idx != idx {
			if err := c.load(idx); err != nil {
				return n, err
			}
		}
		k := copy(p[n:], c.chunk[boff-idx*chunkSize:])
		if k == 0 {
			return n, fmt.Errorf("storage: object %d: chunk %d is short", c.id, idx)
		}
		n += k
		off += int64(k)
	}
	return n, nil
}

// loadPrefix reads the object's prefix for a reader opened without it.
func (c *chunkReader) loadPrefix() error {
	return c.s.view(func(txn *badger.Txn) error {
		rec, err := getObject(txn, c.id) // ErrNotFound: erased, the message was expunged
		if err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		c.prefix, c.lazy = rec.Prefix, false
		return nil
	})
}

func (c *chunkReader) load(idx int64) error {
	return c.s.view(func(txn *badger.Txn) error { return c.loadTxn(txn, idx) })
}

func (c *chunkReader) loadTxn(txn *badger.Txn, idx int64) error {
	it, err := txn.Get(keys.Chunk(uint64(c.id), uint32(idx)))
	if errors.Is(err, badger.ErrKeyNotFound) {
		err = ErrNotFound // erased: the message was expunged
	}
	if err != nil {
		return fmt.Errorf("storage: object %d chunk %d: %w", c.id, idx, err)
	}
	if c.chunk == nil && c.pooled {
		c.chunk = *chunkPool.Get().(*[]byte)
	}
	c.chunk, err = it.ValueCopy(c.chunk[:0])
	c.idx = idx
	return err
}
