package storage

// Backup stream of the store (used by appliance/backup, which adds the
// box's files, the encryption and the targets).
//
// Why not Badger's own DB.Backup: its Stream reads with one transaction
// per goroutine (several snapshots, so an account's counters could come
// from another moment than its messages), buffers up to 100 MiB per batch
// when loading, and an incremental one cannot say that a key was deleted
// once compaction has dropped the tombstone at the last level. Here:
//
//   - One read transaction: the backup is one consistent snapshot, and its
//     Summary (counts, UIDVALIDITY, UIDs, flags, message hashes) is taken
//     from that same snapshot while the stream passes.
//   - Records in key order: 'V' key+value for a key whose newest version
//     is at or after since, 'K' key alone for a key unchanged since then.
//     A full backup (since 0) is all 'V'. Applying a part makes the
//     database hold exactly the part's keys: keys absent from it are
//     deleted, so deletions need no tombstones, and a 'K' whose key is
//     missing means the chain is broken (a part missing or out of order).
//   - Bounded memory: values stream one at a time; restore commits every
//     few MiB.
//
// Format (all integers uvarint unless said):
//
//	"postroom-store\n" version(1) since until
//	{ 'V' keylen key vallen value | 'K' keylen key }*
//	'E' summarylen summary(JSON)
//
// appliance/backup wraps it in an age-encrypted, authenticated file, so
// corruption and truncation are caught there first; the 'E' record and
// the summary catch them again here.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

const (
	backupMagic   = "postroom-store\n"
	backupVersion = 1
	// sampleCount messages have their bodies hashed on both sides of a
	// verification: enough to notice damaged bodies, few enough to read
	// in a moment on an SD card.
	sampleCount = 32
	// restoreBatch bounds what one restore transaction holds.
	restoreBatch = 4 << 20
	maxKeyLen    = 64 << 10
	maxValueLen  = 64 << 20
)

// ErrBackupFormat: a backup stream that is not one, is damaged or was cut
// short, or comes from a newer program.
var ErrBackupFormat = errors.New("storage: not a readable backup stream")

// BackupSummary describes the snapshot a backup stream holds; it is the
// stream's last record, and a restore compares the restored database with
// it.
type BackupSummary struct {
	Since uint64 `json:"since"` // 0: a full backup
	Until uint64 `json:"until"` // the snapshot's version; the next incremental's since is Until+1
	Keys  int64  `json:"keys"`  // keys in the snapshot
	// Changed counts the 'V' records (all keys in a full backup), Bytes
	// their key and value bytes.
	Changed int64 `json:"changed"`
	Bytes   int64 `json:"bytes"`
	// Families: per key family (hex tag), the keys and a SHA-256 over
	// keys and values (keys only for bodies and their records, whose
	// values the samples check).
	Families  map[string]FamilySummary `json:"families"`
	Mailboxes []MailboxSummary         `json:"mailboxes"`
	Samples   []SampleSummary          `json:"samples"`
}

// FamilySummary is one key family's count and digest.
type FamilySummary struct {
	Keys   int64  `json:"keys"`
	Digest string `json:"digest"`
}

// MailboxSummary is one mailbox as the snapshot has it. Digest covers
// every message's UID, flags, keywords, dates and body reference.
type MailboxSummary struct {
	Account     string `json:"account"`
	Name        string `json:"name"`
	UIDValidity uint32 `json:"uidvalidity"`
	UIDNext     uint32 `json:"uidnext"`
	Messages    int64  `json:"messages"`
	Digest      string `json:"digest"`
}

// SampleSummary is one message whose body bytes were hashed.
type SampleSummary struct {
	Account string `json:"account"`
	Mailbox string `json:"mailbox"`
	UID     uint32 `json:"uid"`
	Key     []byte `json:"key"`
	Object  uint64 `json:"object"`
	SHA256  string `json:"sha256"`
}

// Backup writes the store's snapshot to w as a backup stream: every
// record when since is 0, else those changed at or after version since
// (the previous summary's Until+1) and the keys of the others. Mail keeps
// flowing meanwhile: a read transaction blocks no writer.
func (s *Store) Backup(ctx context.Context, w io.Writer, since uint64) (*BackupSummary, error) {
	var sum *BackupSummary
	err := s.view(func(txn *badger.Txn) error {
		bw := bufio.NewWriterSize(w, 64<<10)
		hdr := append([]byte(backupMagic), backupVersion)
		hdr = binary.AppendUvarint(hdr, since)
		hdr = binary.AppendUvarint(hdr, txn.ReadTs())
		if _, err := bw.Write(hdr); err != nil {
			return err
		}
		var err error
		sum, err = summarize(ctx, txn, since, rand.New(rand.NewPCG(txn.ReadTs(), 0x706f7374)), bw)
		if err != nil {
			return err
		}
		js, err := json.Marshal(sum)
		if err != nil {
			return err
		}
		rec := binary.AppendUvarint([]byte{'E'}, uint64(len(js)))
		if _, err := bw.Write(append(rec, js...)); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return nil, fmt.Errorf("storage: backup: %w", err)
	}
	return sum, nil
}

// bigValues are the families whose values a summary does not read: the
// bodies (chunks) and the body records with their cached structure, both
// mostly in the value log. The samples hash bodies instead.
func bigValues(tag byte) bool { return tag == keys.TagObject || tag == keys.TagChunk }

// summarize walks the whole snapshot in key order and, when out is not
// nil, writes the stream's records. rng picks the samples (reservoir).
func summarize(ctx context.Context, txn *badger.Txn, since uint64, rng *rand.Rand, out io.Writer) (*BackupSummary, error) {
	sum := &BackupSummary{Since: since, Until: txn.ReadTs(), Families: map[string]FamilySummary{}}
	fams := map[byte]hash.Hash{}
	famKeys := map[byte]int64{}
	acctNames := map[uint64]string{}
	mboxes := map[[2]uint64]int{} // (acct, mbox) -> index in sum.Mailboxes
	var curMbox = -1
	var curKey [2]uint64
	var mboxHash hash.Hash
	var seen int64 // messages, for the reservoir
	finishMbox := func() {
		if curMbox >= 0 {
			sum.Mailboxes[curMbox].Digest = hex.EncodeToString(mboxHash.Sum(nil))
		}
		curMbox = -1
	}
	var rec []byte
	// One value buffer for the whole walk: a copy per key (400,000 of
	// them, body chunks of 64 KiB among them) was a third of a proof's
	// heap as garbage. Nothing keeps val past its key: the decoders copy
	// what they keep, and out copies what it is given.
	var buf []byte
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		item := it.Item()
		k := item.Key()
		if len(k) == 0 {
			continue
		}
		tag := k[0]
		sum.Keys++
		changed := since == 0 || item.Version() >= since
		var val []byte
		if changed || !bigValues(tag) {
			v, err := item.ValueCopy(buf[:0])
			if err != nil {
				return nil, fmt.Errorf("key %x: %w", k, err)
			}
			val, buf = v, v
		}
		if out != nil {
			rec = rec[:0]
			if changed {
				rec = append(rec, 'V')
			} else {
				rec = append(rec, 'K')
			}
			rec = binary.AppendUvarint(rec, uint64(len(k)))
			rec = append(rec, k...)
			if changed {
				rec = binary.AppendUvarint(rec, uint64(len(val)))
				sum.Changed++
				sum.Bytes += int64(len(k) + len(val))
			}
			if _, err := out.Write(rec); err != nil {
				return nil, err
			}
			if changed {
				if _, err := out.Write(val); err != nil {
					return nil, err
				}
			}
		}
		h := fams[tag]
		if h == nil {
			h = sha256.New()
			fams[tag] = h
		}
		famKeys[tag]++
		writeLV(h, k)
		if !bigValues(tag) {
			writeLV(h, val)
		}
		switch tag {
		case keys.TagAccount:
			id, err := keys.ParseAccount(k)
			if err == nil {
				rec := &accountRecord{}
				if decodeJSON(vAccount, val, rec) == nil {
					acctNames[id] = rec.Name
				}
			}
		case keys.TagMailbox:
			acct, id, err := keys.ParseMailbox(k)
			if err == nil {
				mb, err := decodeMailbox(MailboxID(id), val)
				if err == nil {
					mboxes[[2]uint64{acct, id}] = len(sum.Mailboxes)
					sum.Mailboxes = append(sum.Mailboxes, MailboxSummary{
						Account: acctNames[acct], Name: mb.Name,
						UIDValidity: mb.UIDValidity, UIDNext: mb.UIDNext,
					})
				}
			}
		case keys.TagMessage:
			acct, mbox, uid, err := keys.ParseMessage(k)
			if err != nil {
				break
			}
			if cur := [2]uint64{acct, mbox}; curMbox < 0 || cur != curKey {
				finishMbox()
				curKey = cur
				i, ok := mboxes[cur]
				if !ok { // a message without its mailbox: Check's business
					i = len(sum.Mailboxes)
					mboxes[cur] = i
					sum.Mailboxes = append(sum.Mailboxes, MailboxSummary{Account: acctNames[acct], Name: fmt.Sprintf("(missing mailbox %d)", mbox)})
				}
				curMbox, mboxHash = i, sha256.New()
			}
			sum.Mailboxes[curMbox].Messages++
			writeLV(mboxHash, k)
			writeLV(mboxHash, val)
			m, err := decodeMessage(uid, val)
			if err != nil {
				break
			}
			seen++
			smp := SampleSummary{
				Account: sum.Mailboxes[curMbox].Account, Mailbox: sum.Mailboxes[curMbox].Name,
				UID: uid, Key: bytes.Clone(k), Object: uint64(m.Object),
			}
			if len(sum.Samples) < sampleCount {
				sum.Samples = append(sum.Samples, smp)
			} else if j := rng.Int64N(seen); j < sampleCount {
				sum.Samples[j] = smp
			}
		default:
			if curMbox >= 0 && tag > keys.TagMessage {
				finishMbox()
			}
		}
	}
	finishMbox()
	for tag, h := range fams {
		sum.Families[hex.EncodeToString([]byte{tag})] = FamilySummary{Keys: famKeys[tag], Digest: hex.EncodeToString(h.Sum(nil))}
	}
	sort.Slice(sum.Samples, func(i, j int) bool { return bytes.Compare(sum.Samples[i].Key, sum.Samples[j].Key) < 0 })
	for i := range sum.Samples {
		d, err := bodyHash(txn, sum.Samples[i].Object)
		if err != nil {
			return nil, err
		}
		sum.Samples[i].SHA256 = d
	}
	return sum, nil
}

func writeLV(h hash.Hash, b []byte) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
	h.Write(b)
}

// bodyHash is the SHA-256 over a stored body's chunks in order.
func bodyHash(txn *badger.Txn, obj uint64) (string, error) {
	h := sha256.New()
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: keys.ChunkPrefix(obj)})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if err := it.Item().Value(func(v []byte) error { h.Write(v); return nil }); err != nil {
			return "", fmt.Errorf("body %d: %w", obj, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Restore rebuilds a store from backup streams into a folder. The parts
// are applied in order with Apply (the full backup first, then each
// incremental of its chain), and Verify compares the result with the last
// part's summary. The folder is not a running store: no delivery, no
// sweep, until Close and a normal Open.
type Restore struct {
	db   *badger.DB
	log  *slog.Logger
	last *BackupSummary
}

// NewRestore opens (creating) the database in dir for a restore. A
// restore into a folder that already holds a store is refused: restores
// go into a fresh folder, so that a failed one harms nothing.
func NewRestore(dir string, log *slog.Logger) (*Restore, error) {
	if log == nil {
		log = slog.Default()
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("storage: restore into %s: the folder is not empty; a restore needs a fresh one", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: restore: %w", err)
	}
	db, err := badger.Open(restoreOptions(dir, log))
	if err != nil {
		return nil, fmt.Errorf("storage: restore into %s: %w", dir, err)
	}
	return &Restore{db: db, log: log}, nil
}

// restoreOptions are the store's Badger options with half the memtable:
// a backup's proof runs a restore beside the live store, and the
// memtables' arenas of the two databases were most of its heap
// (BENCHMARKS.md). A restore writes in batches and syncs once at the end.
func restoreOptions(dir string, log *slog.Logger) badger.Options {
	bo := badgerOptions(dir, log.With("component", "restore"), defaultVLogFile)
	bo.SyncWrites = false // synced once at the end (Close)
	bo.MemTableSize = 8 << 20
	return bo
}

// Apply reads one backup stream and makes the database hold exactly its
// snapshot; it returns the stream's summary. Parts must come in chain
// order: an incremental whose since is not the previous part's Until+1 is
// refused before anything is written.
func (r *Restore) Apply(ctx context.Context, in io.Reader) (*BackupSummary, error) {
	br := bufio.NewReaderSize(in, 64<<10)
	magic := make([]byte, len(backupMagic)+1)
	if _, err := io.ReadFull(br, magic); err != nil || string(magic[:len(backupMagic)]) != backupMagic {
		return nil, fmt.Errorf("%w: it does not start like one", ErrBackupFormat)
	}
	if magic[len(backupMagic)] != backupVersion {
		return nil, fmt.Errorf("%w: store format %d is newer than this program's (%d); use a newer Postroom to restore it", ErrBackupFormat, magic[len(backupMagic)], backupVersion)
	}
	since, err1 := binary.ReadUvarint(br)
	until, err2 := binary.ReadUvarint(br)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrBackupFormat, err)
	}
	switch {
	case since == 0:
	case r.last == nil:
		return nil, fmt.Errorf("%w: an incremental backup (changes since version %d) needs its full backup applied first", ErrBackupFormat, since)
	case since != r.last.Until+1:
		return nil, fmt.Errorf("%w: this incremental backup follows version %d, but the previous part ends at %d: a part of the chain is missing or out of order", ErrBackupFormat, since-1, r.last.Until)
	}

	// The keys before this part, to delete those it does not hold.
	rtxn := r.db.NewTransaction(false)
	defer rtxn.Discard()
	old := rtxn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
	defer old.Close()
	old.Rewind()

	wb := &restoreWriter{db: r.db}
	var key, val []byte
	var sum *BackupSummary
	for sum == nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		typ, err := br.ReadByte()
		if err != nil {
			return nil, fmt.Errorf("%w: it ends before its last record (cut short?)", ErrBackupFormat)
		}
		if typ == 'E' {
			js, err := readLV(br, &val, 16<<20)
			if err != nil {
				return nil, err
			}
			sum = &BackupSummary{}
			if err := json.Unmarshal(js, sum); err != nil {
				return nil, fmt.Errorf("%w: summary: %v", ErrBackupFormat, err)
			}
			break
		}
		if typ != 'V' && typ != 'K' {
			return nil, fmt.Errorf("%w: unknown record %q", ErrBackupFormat, typ)
		}
		k, err := readLV(br, &key, maxKeyLen)
		if err != nil {
			return nil, err
		}
		// Delete the old keys that sort before k: this part does not hold them.
		found := false
		for ; old.Valid(); old.Next() {
			c := bytes.Compare(old.Item().Key(), k)
			if c > 0 {
				break
			}
			if c == 0 {
				found = true
				old.Next()
				break
			}
			if err := wb.delete(old.Item().KeyCopy(nil)); err != nil {
				return nil, err
			}
		}
		if typ == 'K' {
			if !found {
				return nil, fmt.Errorf("%w: the incremental backup expects record %x from an earlier part, and it is missing: a part of the chain is missing", ErrBackupFormat, k)
			}
			continue
		}
		v, err := readLV(br, &val, maxValueLen)
		if err != nil {
			return nil, err
		}
		if err := wb.set(bytes.Clone(k), bytes.Clone(v)); err != nil {
			return nil, err
		}
	}
	for ; old.Valid(); old.Next() {
		if err := wb.delete(old.Item().KeyCopy(nil)); err != nil {
			return nil, err
		}
	}
	if err := wb.flush(); err != nil {
		return nil, err
	}
	if sum.Since != since || sum.Until != until {
		return nil, fmt.Errorf("%w: the summary does not match the header", ErrBackupFormat)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the last record", ErrBackupFormat)
	}
	r.last = sum
	return sum, nil
}

func readLV(br *bufio.Reader, buf *[]byte, max uint64) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, fmt.Errorf("%w: cut short in a record", ErrBackupFormat)
	}
	if n > max {
		return nil, fmt.Errorf("%w: a record of %d bytes is larger than any the store writes", ErrBackupFormat, n)
	}
	if uint64(cap(*buf)) < n {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, fmt.Errorf("%w: cut short in a record", ErrBackupFormat)
	}
	return b, nil
}

// restoreWriter commits every restoreBatch bytes, so a restore holds a few
// MiB however large the store.
type restoreWriter struct {
	db   *badger.DB
	txn  *badger.Txn
	size int
}

func (w *restoreWriter) do(k []byte, fn func(txn *badger.Txn) error, size int) error {
	if w.txn == nil {
		w.txn = w.db.NewTransaction(true)
	}
	err := fn(w.txn)
	if errors.Is(err, badger.ErrTxnTooBig) {
		if err := w.flush(); err != nil {
			return err
		}
		w.txn = w.db.NewTransaction(true)
		err = fn(w.txn)
	}
	if err != nil {
		return fmt.Errorf("storage: restore %x: %w", k, err)
	}
	w.size += size
	if w.size >= restoreBatch {
		return w.flush()
	}
	return nil
}

func (w *restoreWriter) set(k, v []byte) error {
	return w.do(k, func(txn *badger.Txn) error { return txn.Set(k, v) }, len(k)+len(v))
}

func (w *restoreWriter) delete(k []byte) error {
	return w.do(k, func(txn *badger.Txn) error { return txn.Delete(k) }, len(k))
}

func (w *restoreWriter) flush() error {
	if w.txn == nil {
		return nil
	}
	err := w.txn.Commit()
	w.txn, w.size = nil, 0
	if err != nil {
		return fmt.Errorf("storage: restore: %w", mapDiskErr(err))
	}
	return nil
}

// Verify compares the restored database with the summary of the last
// part applied (or want, when not nil): every family's keys and digest,
// every mailbox's UIDVALIDITY, UIDNEXT, message count and UID/flags
// digest, and the sampled bodies byte for byte. The error says what
// differs, in words.
func (r *Restore) Verify(ctx context.Context, want *BackupSummary) error {
	if want == nil {
		want = r.last
	}
	if want == nil {
		return errors.New("storage: verify: nothing was restored")
	}
	return r.db.View(func(txn *badger.Txn) error {
		got, err := summarize(ctx, txn, 0, rand.New(rand.NewPCG(1, 1)), nil)
		if err != nil {
			return fmt.Errorf("storage: verify: %w", err)
		}
		return CompareSummaries(txn, want, got)
	})
}

// CompareSummaries is Verify's comparison; txn (the restored database)
// reads the sampled messages.
func CompareSummaries(txn *badger.Txn, want, got *BackupSummary) error {
	var diffs []string
	add := func(f string, a ...any) {
		if len(diffs) < 20 {
			diffs = append(diffs, fmt.Sprintf(f, a...))
		}
	}
	if want.Keys != got.Keys {
		add("%d records in the backup, %d restored", want.Keys, got.Keys)
	}
	for tag, f := range want.Families {
		if g := got.Families[tag]; g != f {
			add("record family %s: %d records in the backup, %d restored, or their contents differ", tag, f.Keys, g.Keys)
		}
	}
	gm := map[[2]string]MailboxSummary{}
	for _, m := range got.Mailboxes {
		gm[[2]string{m.Account, m.Name}] = m
	}
	for _, w := range want.Mailboxes {
		g, ok := gm[[2]string{w.Account, w.Name}]
		switch {
		case !ok:
			add("mailbox %s of %s is missing", w.Name, w.Account)
		case g.UIDValidity != w.UIDValidity || g.UIDNext != w.UIDNext:
			add("mailbox %s of %s: UIDVALIDITY %d and UIDNEXT %d in the backup, %d and %d restored", w.Name, w.Account, w.UIDValidity, w.UIDNext, g.UIDValidity, g.UIDNext)
		case g.Messages != w.Messages:
			add("mailbox %s of %s: %d messages in the backup, %d restored", w.Name, w.Account, w.Messages, g.Messages)
		case g.Digest != w.Digest:
			add("mailbox %s of %s: the messages' UIDs, flags or keywords differ", w.Name, w.Account)
		}
		delete(gm, [2]string{w.Account, w.Name})
	}
	for k := range gm {
		add("mailbox %s of %s was restored but is not in the backup", k[1], k[0])
	}
	if txn != nil {
		for _, s := range want.Samples {
			it, err := txn.Get(s.Key)
			if err != nil {
				add("message %d in %s of %s is missing", s.UID, s.Mailbox, s.Account)
				continue
			}
			v, err := it.ValueCopy(nil)
			if err != nil {
				return err
			}
			m, err := decodeMessage(s.UID, v)
			if err != nil || uint64(m.Object) != s.Object {
				add("message %d in %s of %s: its record differs", s.UID, s.Mailbox, s.Account)
				continue
			}
			d, err := bodyHash(txn, s.Object)
			if err != nil {
				return err
			}
			if d != s.SHA256 {
				add("message %d in %s of %s: its bytes differ from the live store's", s.UID, s.Mailbox, s.Account)
			}
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("storage: the restored store differs from the backup: %s", joinDiffs(diffs))
	}
	return nil
}

func joinDiffs(d []string) string {
	var b bytes.Buffer
	for i, s := range d {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(s)
	}
	return b.String()
}

// Close syncs and closes the restored database; Open may then open it.
func (r *Restore) Close() error {
	if err := r.db.Sync(); err != nil {
		r.db.Close()
		return fmt.Errorf("storage: restore: %w", err)
	}
	return r.db.Close()
}
