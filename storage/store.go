// Package storage is the mail store of Postroom: accounts, mailboxes,
// messages and their bodies in one Badger database on the attached disk.
//
// The map:
//
//	store.go      Open/Close, Badger options for a 512 MB board, transactions
//	accounts.go   accounts, argon2id passwords, addresses, aliases, quota
//	mailboxes.go  create/rename/delete/subscribe, UIDVALIDITY
//	deliver.go    Deliver and Append: body staging, one transaction per account
//	stage.go      two-phase delivery: Stage a body once, then Deliver and
//	              Enqueue references to it (trace fields beside it), or Close
//	messages.go   listing, flags, copy, move, expunge
//	body.go       reading stored bodies chunk by chunk
//	erase.go      freeing bodies nobody references, the start-up sweep, value-log GC
//	space.go      the disk: backing Badger's mapped files, the reserve, read-only open
//	reclaim.go    giving deleted mail's space back: flush, compact, GC when short
//	events.go     change events for IMAP IDLE, POP3 and the status panel
//	websessions.go  the web pages' login sessions (by token hash), password stamps
//	setup.go      how far the first set-up has come (SetupState, meta "setup")
//	check.go      Check: every invariant recomputed from scratch
//
// Every key is built in internal/keys. Protocol packages talk to the store only
// through the methods here; none of them sees Badger.
//
// Durability: the database is opened with SyncWrites, so a commit returns
// only after its data is fsynced. Badger's single writer goroutine gathers the
// commits that arrive while a sync is in flight into the next batch, so
// concurrent deliveries share one fsync (group commit) instead of queueing
// behind one each.
package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"postroom/storage/internal/keys"
)

// Options configures Open. Zero values are documented per field.
type Options struct {
	Dir    string       // data folder of the database (required)
	Logger *slog.Logger // nil: slog.Default()
	// MaxMessageSize bounds one message; 0 means 50 MiB.
	MaxMessageSize int64
	// MinFreeBytes is the free disk space kept in reserve: a delivery that
	// would go below it fails with ErrDiskFull. 0 means 64 MiB. It is never
	// less than the reserve file (space.go) plus 8 MiB: 74 MiB with the
	// default file sizes.
	MinFreeBytes int64
	// ValueLogFileSize is the size at which Badger starts a new value-log
	// file; 0 means 16 MiB, the least Badger allows is 1 MiB. Space.go
	// explains the choice; tests on a small disk use less.
	ValueLogFileSize int64
	// NoGC disables the idle value-log GC.
	NoGC bool
	// Now is the clock of app passwords' last use, of logins seen and of
	// the credential cache; nil means time.Now. For tests.
	Now func() time.Time
	// CredentialCacheTTL is how long a verified mail login is remembered
	// (credcache.go); 0 means 10 minutes, negative turns the cache off.
	CredentialCacheTTL time.Duration
	// CredentialCacheSize bounds the remembered logins; 0 means 1024.
	CredentialCacheSize int
	// TrimWhenIdle calls TrimMemory once whenever the store has been idle
	// for 30 seconds. For the appliance, where the store is most of the
	// process; off by default because it acts on the whole process.
	TrimWhenIdle bool
}

const (
	defaultMaxMessage = 50 << 20
	defaultMinFree    = 64 << 20
	defaultVLogFile   = 16 << 20
	schemaVersion     = 1
)

// Store is the Badger mail store. It is safe for concurrent use.
type Store struct {
	db      *badger.DB
	log     *slog.Logger
	dir     string
	maxSize int64
	minFree int64
	space   *space

	seqAcct, seqMbox, seqObj *badger.Sequence

	locksMu sync.Mutex
	locks   map[AccountID]*sync.Mutex // one writer per account
	queues  map[AccountID]*commitQueue

	pinsMu sync.Mutex
	pins   map[ObjectID]int // bodies being read: not erased until unpinned

	events eventHub

	eraseKick chan struct{}
	eraseMu   sync.Mutex    // one eraseQueued at a time
	authSem   chan struct{} // bounds concurrent argon2 hashing (memory)
	creds     *credCache    // verified mail logins (credcache.go)
	checks    atomic.Int64  // argon2id verifications run (PasswordChecks)
	now       func() time.Time
	logins    loginThrottle // logins.go: bounded writes of logins seen

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	lastWrite atomic.Int64 // unix nanos of the last commit, for idle GC
	bodyBytes atomic.Int64 // body chunk bytes handed to Badger (stage.go)

	// quotas holds the quota of each account that has one (accounts.go),
	// so that checking quota at RCPT and after DATA reads nothing for
	// the many accounts without one.
	quotaMu sync.RWMutex
	quotas  map[AccountID]int64

	closeOnce sync.Once
	closeErr  error
}

// badgerOptions sizes Badger for a 512 MB board. Each choice and its reason:
func badgerOptions(dir string, log *slog.Logger, vlogFileSize int64) badger.Options {
	o := badger.DefaultOptions(dir)
	// "250 OK" means on disk: every commit is fsynced; concurrent commits
	// share the sync through Badger's write batching.
	o.SyncWrites = true
	// Two 16 MiB memtables instead of five of 64 MiB: the skiplist arenas are
	// heap memory, the largest fixed cost of an open database.
	o.MemTableSize = 16 << 20
	o.NumMemtables = 2
	// Flush and compact level 0 early so few tables stay in memory.
	o.NumLevelZeroTables = 2
	o.NumLevelZeroTablesStall = 8
	o.NumCompactors = 2 // the minimum Badger allows; the board has 4 small cores
	// Values of 1 KiB and more (body chunks, cached structures) go to the
	// value log; message metadata stays in the LSM tree, so listing 100,000
	// messages reads only small keys and values.
	o.ValueThreshold = 1 << 10
	// 16 MiB value-log files: GC reclaims space in small steps, the file
	// Badger is writing (which GC never touches) holds little deleted mail,
	// and backing it (twice its size, space.go) costs 32 MiB of disk.
	o.ValueLogFileSize = vlogFileSize
	// A small block cache; the page cache does the rest.
	o.BlockCacheSize = 8 << 20
	o.IndexCacheSize = 0 // table indexes are small for a mail store; keep them resident
	// No block compression: the LSM holds small metadata, and compaction's
	// compression buffers were the largest memory peak under load.
	o.Compression = options.None
	// Smaller tables: compaction allocates builder buffers of about twice
	// the table size for each parallel sub-compaction.
	o.BaseTableSize = 1 << 20
	o.MetricsEnabled = false
	o.Logger = badgerLogger{log}
	return o
}

// Open opens (creating if needed) the store in opts.Dir, sweeps what a crash
// left staged, and starts the background eraser and value-log GC.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("storage: Options.Dir is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = defaultMaxMessage
	}
	if opts.MinFreeBytes <= 0 {
		opts.MinFreeBytes = defaultMinFree
	}
	if opts.ValueLogFileSize <= 0 {
		opts.ValueLogFileSize = defaultVLogFile
	}
	log := opts.Logger.With("component", "storage")
	bo := badgerOptions(opts.Dir, log, opts.ValueLogFileSize)
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", opts.Dir, err)
	}
	sp := newSpace(opts.Dir, opts.MinFreeBytes, opts.ValueLogFileSize, bo.MemTableSize, log)
	db, err := sp.openDB(bo)
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", opts.Dir, err)
	}
	s := &Store{
		db: db, log: log, dir: opts.Dir, space: sp,
		maxSize: opts.MaxMessageSize, minFree: sp.minFree,
		locks:     map[AccountID]*sync.Mutex{},
		queues:    map[AccountID]*commitQueue{},
		pins:      map[ObjectID]int{},
		eraseKick: make(chan struct{}, 1),
		authSem:   make(chan struct{}, 2),
		quotas:    map[AccountID]int64{},
		creds:     newCredCache(opts.CredentialCacheTTL, opts.CredentialCacheSize),
		now:       opts.Now,
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.events.init()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if sp.readOnly {
		if err := s.loadQuotas(); err != nil {
			db.Close()
			return nil, err
		}
		return s, nil // nothing runs that would write
	}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.sweep(); err != nil {
		s.releaseSequences()
		db.Close()
		return nil, fmt.Errorf("storage: start-up sweep: %w", err)
	}
	if err := s.loadQuotas(); err != nil {
		s.releaseSequences()
		db.Close()
		return nil, err
	}
	sp.keepReserve()
	s.wg.Add(2)
	go s.eraseLoop()
	go s.spaceLoop()
	if !opts.NoGC || opts.TrimWhenIdle {
		s.wg.Add(1)
		go s.idleLoop(!opts.NoGC, opts.TrimWhenIdle)
	}
	return s, nil
}

// ErrSchemaNewer is Open's error for a store written by a newer program:
// after an update is rolled back, the appliance restores the snapshot the
// update took (appliance/run_update.go).
var ErrSchemaNewer = errors.New("the mail store was written by a newer version of Postroom")

func (s *Store) init() error {
	err := s.update(func(txn *badger.Txn) error {
		k := keys.Meta("schema")
		it, err := txn.Get(k)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set(k, []byte{schemaVersion})
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			if len(v) != 1 || v[0] > schemaVersion {
				return fmt.Errorf("storage: schema %v, this program reads %d: %w", v, schemaVersion, ErrSchemaNewer)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	// Sequences lease IDs in blocks; a crash skips the rest of a block,
	// which is harmless for IDs that only need to be unique.
	if s.seqAcct, err = s.db.GetSequence(keys.Meta("seq/account"), 16); err != nil {
		return err
	}
	if s.seqMbox, err = s.db.GetSequence(keys.Meta("seq/mailbox"), 64); err != nil {
		return err
	}
	if s.seqObj, err = s.db.GetSequence(keys.Meta("seq/object"), 1000); err != nil {
		return err
	}
	return nil
}

func (s *Store) releaseSequences() {
	for _, q := range []*badger.Sequence{s.seqAcct, s.seqMbox, s.seqObj} {
		if q != nil {
			if err := q.Release(); err != nil {
				s.log.Warn("release sequence", "err", err)
			}
		}
	}
}

// next returns a fresh nonzero ID from a sequence.
func next(q *badger.Sequence) (uint64, error) {
	if q == nil { // read-only: no sequences were leased
		return 0, fmt.Errorf("%w: the store is read-only", ErrDiskFull)
	}
	v, err := q.Next()
	// A new lease is a write: while a reclaim's DropPrefix blocks writes
	// for a moment, wait for it as update does.
	for i := 0; i < 1000 && errors.Is(err, badger.ErrBlockedWrites); i++ {
		time.Sleep(10 * time.Millisecond)
		v, err = q.Next()
	}
	return v + 1, err
}

// Close stops background work and closes the database. Open bodies and
// watchers must be closed first by their owners; Close does not wait for them.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.wg.Wait()
		s.events.closeAll()
		s.releaseSequences()
		if !s.space.readOnly && !s.space.roomToClose() {
			// Badger's Close flushes the memtable into a new table
			// through a memory map, which would fault. What the
			// memtable holds is in its (synced) log, which the next
			// Open replays; the files stay open until the process ends.
			s.log.Error("the disk is full: the database is left for the next start to recover from its log")
			s.closeErr = fmt.Errorf("storage: close: %w: the database was not closed", ErrDiskFull)
			return
		}
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// Dir is the database folder.
func (s *Store) Dir() string { return s.dir }

// MaxMessageSize is the largest message Deliver and Append accept.
func (s *Store) MaxMessageSize() int64 { return s.maxSize }

// update runs fn in a read-write transaction and commits (with fsync),
// retrying a few times when Badger reports a conflict with a concurrent
// transaction on a shared record (object reference counts).
//
// Every write passes the space gate first: while Badger's newest files
// are not backed (space.go) nothing is written. A reclaim (reclaim.go)
// blocks writes for a moment; they wait for it.
func (s *Store) update(fn func(txn *badger.Txn) error) error {
	if err := s.space.gate(); err != nil {
		return err
	}
	defer s.space.afterWrite()
	var err error
	blocked := 0
	for attempt := 0; attempt < 10; attempt++ {
		err = s.db.Update(fn)
		s.lastWrite.Store(time.Now().UnixNano())
		if errors.Is(err, badger.ErrBlockedWrites) && blocked < 1000 {
			blocked++
			attempt--
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !errors.Is(err, badger.ErrConflict) {
			return mapDiskErr(err)
		}
	}
	return err
}

// view runs fn in a read-only snapshot.
func (s *Store) view(fn func(txn *badger.Txn) error) error { return s.db.View(fn) }

// accountLock returns the writer lock of acct (STYLE.md convention 4: one
// writer per account; commit, publish, unlock; no I/O but the disk under it).
func (s *Store) accountLock(acct AccountID) *sync.Mutex {
	s.locksMu.Lock()
	defer s.locksMu.Unlock()
	m := s.locks[acct]
	if m == nil {
		m = &sync.Mutex{}
		s.locks[acct] = m
	}
	return m
}

// Stats summarises the store for postroomctl stats and the status page.
type Stats struct {
	Accounts  int
	Messages  int64
	Bytes     int64 // message bytes counted per reference
	Objects   int64 // distinct stored bodies
	LSMBytes  int64
	VLogBytes int64
	DiskFree  int64
}

// Stats reads the account counters and Badger's sizes.
func (s *Store) Stats() (Stats, error) {
	var st Stats
	accts, err := s.Accounts()
	if err != nil {
		return st, err
	}
	st.Accounts = len(accts)
	for _, a := range accts {
		st.Messages += a.Messages
		st.Bytes += a.Usage
	}
	err = s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: keys.Prefix(keys.TagObject)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			st.Objects++
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	st.LSMBytes, st.VLogBytes = s.db.Size()
	st.DiskFree, _ = diskFree(s.dir)
	return st, nil
}

// badgerLogger sends Badger's own messages to slog, its chatter at debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error("badger: " + fmt.Sprintf(f, a...)) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn("badger: " + fmt.Sprintf(f, a...)) }
func (b badgerLogger) Infof(f string, a ...any)    { b.l.Debug("badger: " + fmt.Sprintf(f, a...)) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.l.Debug("badger: " + fmt.Sprintf(f, a...)) }

// IsLocked reports whether Open failed because another process (a running
// appliance) holds the database's directory lock.
func IsLocked(err error) bool {
	if err == nil {
		return false
	}
	return errors.Is(err, syscall.EWOULDBLOCK) || strings.Contains(err.Error(), "Cannot acquire directory lock")
}
