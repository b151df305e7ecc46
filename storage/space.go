package storage

// Disk space: why a full disk cannot crash the store, and how deleted mail
// gives its space back.
//
// Badger writes its value log (bodies) and its memtable log (the WAL of
// every commit) through memory maps of files it creates at twice their
// working size with ftruncate, which allocates nothing: the blocks are taken
// from the disk when a page is first written. When the disk is full at that
// moment, the kernel cannot back the page and sends SIGBUS, which no Go code
// can recover from (debug.SetPanicOnFault covers only the goroutine that
// sets it, and these writes run on Badger's own). Checking free space before
// a write does not close the gap: another file may take the space between the
// check and the write, and that is what crashed the box.
//
// The design, in three parts:
//
//  1. Backing. The store fallocates the newest value-log file over its whole
//     mapping and the newest memtable log over the most Badger ever writes
//     into it (see newSpace), right after Open and after every commit that
//     made Badger start a new file (one stat per commit finds out). A write
//     into a backed file cannot fault, whatever happens to the free space
//     meanwhile: that is the write already in flight when the disk fills.
//     Badger opens new files with O_EXCL, so they cannot be prepared before
//     it creates them; the writes between the creation and the backing go
//     to sparse pages, which is why every write needs writeFloor free. If
//     backing fails for lack of space, every write is refused (ErrDiskFull)
//     until it succeeds. A reserve file alone would not protect the write
//     in flight.
//  2. The reserve. MinFreeBytes stays free: additions (deliveries, appends,
//     the queue) are refused below it; deletions are refused only below
//     writeFloor. Part of the reserve is held as a real file, RESERVE in the
//     store's folder, so that another program filling the disk cannot take
//     it; the store counts it as free and gives it up when the file system
//     itself runs short (releaseBelow): to back the next files, to open
//     read-write on a full disk (and still delete mail), to flush, compact
//     and run GC, and to close. It is made again once there is room.
//  3. Reclaiming. Deleting keys frees nothing by itself: value-log GC only
//     rewrites a file once compaction has counted its deleted values, which
//     happens when the deletions leave the memtable, and a quiet box never
//     fills its memtable. So when the space runs short (and when idle) the
//     store flushes and compacts the deletions (reclaim.go), then runs GC.
//     Badger never collects the value-log file it is writing, so that file
//     is kept small (16 MiB).
//
// Open opens the database read-only when even the released reserve leaves
// too little to open read-write and then write (a store without its reserve
// file, or a disk filled again): mail can be read, nothing is written, and
// new mail is refused until the box restarts with space free. Close leaves
// the database unclosed rather than let Badger flush its memtable into a
// table on a full disk (the next Open replays the synced log).
//
// What is not covered: Badger writes its tables (memtable flushes,
// compactions) through memory maps too, in its own goroutines. The reserve
// and writeFloor give them room; a program that takes the last free block
// while such a table is being written can still crash the process.
//
// Space and SpaceChanged tell the status panel, at the moment it happens,
// that mail is being refused.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// reserveFile is the name of the held part of the reserve in the store's
// folder. Badger ignores files it does not know. Backups skip it.
const reserveFile = "RESERVE"

// Space is what the store knows about its disk, for the status panel.
type Space struct {
	// Free is the space left for mail: the file system's free bytes plus
	// the held reserve file.
	Free int64
	// Reserve is the free space kept (Options.MinFreeBytes).
	Reserve int64
	// Refusing is set while new mail is refused for lack of space: the
	// reserve is reached, a value-log file could not be backed, or the
	// store is read-only.
	Refusing bool
	// ReadOnly is set when Open found the disk too full to write at all.
	// It lasts until the store is opened again with space free.
	ReadOnly bool
	// Since is when Refusing last changed (zero: never).
	Since time.Time
	// ReclaimedBytes is how much space the last reclaim of deleted mail
	// gave back, at ReclaimedAt (zero: none yet).
	ReclaimedBytes int64
	ReclaimedAt    time.Time
}

// space is the Store's disk-space state. Its methods are safe for
// concurrent use.
type space struct {
	dir     string
	minFree int64
	log     interface{ Warn(string, ...any) }

	vlogBack    int64 // bytes backed in the newest value-log file
	walBack     int64 // bytes backed in the newest memtable log
	reserveSize int64 // size of the held reserve file

	readOnly bool
	writable atomic.Bool // newest files backed and not read-only

	mu         sync.Mutex
	vlogFid    int // newest value-log file, backed if writable
	memFid     int // newest memtable log, backed if writable
	reserveOn  bool
	refusing   bool
	since      time.Time
	reclaimed  int64
	reclaimAt  time.Time
	changed    chan struct{} // closed at the next change of Space
	erased     atomic.Int64  // bytes of bodies erased since the last reclaim
	shortKick  chan struct{} // asks the space loop to reclaim now
	checkingMu sync.Mutex    // one afterWrite scan at a time
	reclaimMu  sync.Mutex    // one Reclaim at a time
	flushed    bool          // a Reclaim has flushed since Open (under reclaimMu)
}

func newSpace(dir string, minFree, vlogFileSize, memTableSize int64, log interface{ Warn(string, ...any) }) *space {
	sp := &space{
		dir: dir, minFree: minFree, log: log,
		// Badger maps a value-log file at twice ValueLogFileSize and may
		// fill it: a request is written whole before it looks at the size,
		// and a GC rewrite request can be large.
		vlogBack: 2 * vlogFileSize,
		// Badger starts a new memtable once its log reaches MemTableSize,
		// checked before each request; a request is at most 15% of
		// MemTableSize by Badger's estimate, and the log's entry headers
		// add at most as much again.
		walBack:   memTableSize + memTableSize/2,
		changed:   make(chan struct{}),
		shortKick: make(chan struct{}, 1),
	}
	// The reserve file holds what a read-write open on a full disk needs
	// (backing its new files) and the write floor, so that mail can still
	// be deleted after such an open.
	sp.reserveSize = sp.vlogBack + sp.walBack + writeFloor + (2 << 20)
	// The reserve file is part of the free-space reserve, counted as free:
	// were it larger, a disk filled by someone else would still take mail.
	sp.minFree = max(minFree, sp.reserveSize+(8<<20))
	return sp
}

// writeFloor is the least free space (the file system's own, not counting
// the reserve file) with which the store writes at all: the first writes
// into a file Badger has just started, before it is backed, and small
// memtable flushes. Below it every write is refused.
const writeFloor = 8 << 20

// releaseBelow is the free space under which the reserve file is given up
// for headroom: the backing of the next value-log file and memtable log.
func (sp *space) releaseBelow() int64 { return sp.vlogBack + sp.walBack + (1 << 20) }

// fsFree is the file system's free space for unprivileged writers.
func (sp *space) fsFree() (int64, error) { return diskFree(sp.dir) }

// free is fsFree plus the held reserve.
func (sp *space) free() (int64, error) {
	f, err := sp.fsFree()
	if err != nil {
		return 0, err
	}
	sp.mu.Lock()
	if sp.reserveOn {
		f += sp.reserveSize
	}
	sp.mu.Unlock()
	return f, nil
}

// openNeed is the free space a read-write open needs: backing the two new
// files Badger creates, a flush of the memtable logs left from the last
// run, and a little for tables and the manifest.
func (sp *space) openNeed() int64 {
	need := sp.vlogBack + sp.walBack + 1<<20
	ents, _ := os.ReadDir(sp.dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".mem") {
			if fi, err := e.Info(); err == nil {
				need += allocated(fi)
			}
		}
	}
	return need
}

// findReserve notes a reserve file left by the last run; one of another
// size (other options, a crash while making it) is removed, to be made again.
func (sp *space) findReserve() {
	path := filepath.Join(sp.dir, reserveFile)
	fi, err := os.Stat(path)
	on := err == nil && allocated(fi) >= sp.reserveSize
	if err == nil && !on {
		os.Remove(path)
	}
	sp.mu.Lock()
	sp.reserveOn = on
	sp.mu.Unlock()
}

// releaseReserve deletes the reserve file so that its space is really free.
func (sp *space) releaseReserve(why string) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if !sp.reserveOn {
		return
	}
	if err := os.Remove(filepath.Join(sp.dir, reserveFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		sp.log.Warn("release the disk reserve", "err", err)
		return
	}
	sp.reserveOn = false
	sp.log.Warn("released the disk reserve for headroom", "why", why, "bytes", sp.reserveSize)
}

// keepReserve makes the reserve file again when the file system has room
// for it and some to spare.
func (sp *space) keepReserve() {
	sp.mu.Lock()
	on := sp.reserveOn
	sp.mu.Unlock()
	if on || sp.readOnly || sp.reserveSize <= 0 {
		return
	}
	f, err := sp.fsFree()
	if err != nil || f < sp.reserveSize+sp.releaseBelow()+(8<<20) {
		return
	}
	path := filepath.Join(sp.dir, reserveFile)
	if err := allocateFile(path, sp.reserveSize); err != nil {
		os.Remove(path)
		if !errors.Is(err, errNoAllocate) {
			sp.log.Warn("keep a disk reserve", "err", err)
		}
		return
	}
	sp.mu.Lock()
	sp.reserveOn = true
	sp.mu.Unlock()
}

// openDB opens Badger read-write when the disk has room for what that
// writes, else read-only; a read-write open whose new files cannot be
// backed is closed again (it wrote nothing yet) and reopened read-only.
func (sp *space) openDB(bo badger.Options) (*badger.DB, error) {
	sp.findReserve()
	need := sp.openNeed()
	free, err := sp.fsFree()
	if err != nil {
		return nil, err
	}
	if free < need {
		sp.releaseReserve("open on a full disk")
		if free, err = sp.fsFree(); err != nil {
			return nil, err
		}
	}
	// Read-write only with room to write afterwards: mail can be deleted.
	if free >= need+writeFloor {
		db, err := badger.Open(bo)
		if err != nil {
			return nil, err
		}
		sp.newestFids()
		if sp.back() {
			return db, nil
		}
		if err := db.Close(); err != nil {
			return nil, err
		}
	}
	sp.readOnly = true
	sp.writable.Store(false)
	sp.refusing, sp.since = true, time.Now()
	sp.log.Warn("the disk is full: the mail store is open read-only, and mail is refused until it opens with space free",
		"free", free, "need", need)
	bo.ReadOnly = true
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("the disk is full (%d bytes free), and a read-only open failed: %w", free, err)
	}
	return db, nil
}

// newestFids finds the newest value-log file and memtable log by listing
// the folder (at open).
func (sp *space) newestFids() {
	ents, _ := os.ReadDir(sp.dir)
	for _, e := range ents {
		name := e.Name()
		if n, ok := strings.CutSuffix(name, ".vlog"); ok {
			if id, err := strconv.Atoi(n); err == nil && id > sp.vlogFid {
				sp.vlogFid = id
			}
		}
		if n, ok := strings.CutSuffix(name, ".mem"); ok {
			if id, err := strconv.Atoi(n); err == nil && id > sp.memFid {
				sp.memFid = id
			}
		}
	}
}

func (sp *space) vlogPath(fid int) string {
	return filepath.Join(sp.dir, fmt.Sprintf("%06d.vlog", fid))
}

func (sp *space) memPath(fid int) string {
	return filepath.Join(sp.dir, fmt.Sprintf("%05d.mem", fid))
}

// back backs the newest files, releasing the reserve when the disk has no
// room for them. It reports whether they are backed now.
func (sp *space) back() bool {
	sp.mu.Lock()
	err := sp.backLocked()
	sp.mu.Unlock()
	if err != nil && errors.Is(err, syscall.ENOSPC) {
		sp.releaseReserve("back a new database file")
		sp.mu.Lock()
		err = sp.backLocked()
		sp.mu.Unlock()
	}
	ok := err == nil
	if was := sp.writable.Swap(ok); was != ok {
		if !ok {
			sp.log.Warn("the disk is full: cannot reserve space for the database's next writes; writes are refused", "err", err)
		}
		sp.note()
	}
	return ok
}

func (sp *space) backLocked() error {
	if sp.vlogFid > 0 {
		if err := backFile(sp.vlogPath(sp.vlogFid), sp.vlogBack); err != nil {
			return err
		}
	}
	if sp.memFid > 0 {
		if err := backFile(sp.memPath(sp.memFid), sp.walBack); err != nil {
			return err
		}
	}
	return nil
}

// afterWrite runs after every commit: when Badger started a new value-log
// file or memtable log, back it before more is written into it.
func (sp *space) afterWrite() {
	if sp.readOnly || !sp.checkingMu.TryLock() {
		return // another commit is looking already
	}
	defer sp.checkingMu.Unlock()
	sp.mu.Lock()
	moved := false
	for n := 0; n < 8 && exists(sp.vlogPath(sp.vlogFid+1)); n++ {
		sp.vlogFid++
		moved = true
	}
	for n := 0; n < 8 && exists(sp.memPath(sp.memFid+1)); n++ {
		sp.memFid++
		moved = true
	}
	sp.mu.Unlock()
	if moved {
		sp.back()
	}
}

// gate refuses every write while the newest files are not backed or the
// store is read-only, and when the file system is down to writeFloor even
// after the reserve file is given up. It runs before every write.
func (sp *space) gate() error {
	if !sp.writable.Load() {
		if sp.readOnly {
			return fmt.Errorf("%w: the store is read-only because the disk was full when it opened", ErrDiskFull)
		}
		if !sp.back() {
			return fmt.Errorf("%w: no space to reserve for the database's next writes", ErrDiskFull)
		}
	}
	f, err := sp.fsFree()
	if err != nil || f >= sp.releaseBelow() {
		return nil
	}
	sp.releaseReserve("keep room for the database's next files")
	if f, err = sp.fsFree(); err == nil && f < writeFloor {
		sp.observe(0, 0)
		return fmt.Errorf("%w: %d bytes free, too few to write safely", ErrDiskFull, f)
	}
	return nil
}

// roomToClose gives up the reserve file if need be so that Close can
// flush a full memtable, and reports whether there is room for that.
func (sp *space) roomToClose() bool {
	need := sp.walBack + (4 << 20)
	if f, err := sp.fsFree(); err != nil || f >= need {
		return true
	}
	sp.releaseReserve("close")
	f, err := sp.fsFree()
	return err != nil || f >= need
}

// observe records a reading of the free space (counting the reserve
// file). Mail counts as refused once the free space is within a small
// message of the reserve, or a write of an ordinary message's size
// (refused, at most 1 MiB; -1 for none) was just refused; it counts as
// accepted again only with a few MiB to spare, so that the status does not
// flicker at the edge.
func (sp *space) observe(free, refused int64) {
	sp.mu.Lock()
	refusing := sp.refusing
	switch {
	case sp.readOnly || !sp.writable.Load() || free < sp.minFree+(1<<20):
		refusing = true
	case refused >= 0 && refused <= 1<<20:
		refusing = true
	case free >= sp.minFree+(4<<20):
		refusing = false
	}
	changed := refusing != sp.refusing
	if changed {
		sp.refusing, sp.since = refusing, time.Now()
	}
	sp.mu.Unlock()
	if changed {
		if refusing {
			sp.log.Warn("mail is being refused: the disk is full", "free", free, "reserve", sp.minFree)
			sp.kick()
		} else {
			sp.log.Warn("the disk has room again: mail is accepted", "free", free)
		}
		sp.note()
	}
}

// short reports whether space should be reclaimed now.
func (sp *space) short(free int64) bool { return free < sp.minFree+sp.minFree/4+(2<<20) }

func (sp *space) kick() {
	select {
	case sp.shortKick <- struct{}{}:
	default:
	}
}

// note wakes everyone waiting on SpaceChanged.
func (sp *space) note() {
	sp.mu.Lock()
	close(sp.changed)
	sp.changed = make(chan struct{})
	sp.mu.Unlock()
}

func (sp *space) reclaimedNow(n int64) {
	sp.mu.Lock()
	sp.reclaimed, sp.reclaimAt = n, time.Now()
	sp.mu.Unlock()
	sp.note()
}

// Space reads the free space now and returns the store's view of its disk.
func (s *Store) Space() Space {
	sp := s.space
	free, err := sp.free()
	if err == nil {
		sp.observe(free, -1)
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return Space{
		Free: free, Reserve: sp.minFree,
		Refusing: sp.refusing, ReadOnly: sp.readOnly, Since: sp.since,
		ReclaimedBytes: sp.reclaimed, ReclaimedAt: sp.reclaimAt,
	}
}

// SpaceChanged returns a channel that is closed when Space changes: mail
// starts or stops being refused for space, or space was reclaimed. Take a
// new channel after each change.
func (s *Store) SpaceChanged() <-chan struct{} {
	s.space.mu.Lock()
	defer s.space.mu.Unlock()
	return s.space.changed
}

// CheckDiskSpace fails with ErrDiskFull when writing size more bytes would
// leave less than the reserve free, or when nothing can be written at all.
func (s *Store) CheckDiskSpace(size int64) error {
	if err := s.space.gate(); err != nil {
		s.space.observe(0, size)
		return err
	}
	free, err := s.space.free()
	if err != nil {
		return fmt.Errorf("storage: disk space: %w", err)
	}
	// Bodies are written once to the value log and may be rewritten once by
	// value-log GC: count twice.
	if free-2*size < s.minFree {
		s.space.observe(free, size)
		s.space.kick()
		return ErrDiskFull
	}
	s.space.observe(free, -1)
	return nil
}

func diskFree(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// mapDiskErr turns "no space left on device" from deep inside Badger into
// ErrDiskFull, which the protocols answer with a temporary error.
func mapDiskErr(err error) error {
	if err != nil && errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: %v", ErrDiskFull, err)
	}
	return err
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// allocated is the space a file takes on disk.
func allocated(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}

// backFile allocates the first n bytes of an existing file (never changing
// its size), so that writes through a memory map of them cannot fault.
func backFile(path string, n int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // deleted meanwhile (an emptied memtable log)
		}
		return err
	}
	defer f.Close()
	if err := preallocate(f, n, true); err != nil && !errors.Is(err, errNoAllocate) {
		return fmt.Errorf("back %s: %w", filepath.Base(path), err)
	}
	return nil
}

// allocateFile creates path with n allocated bytes and syncs it.
func allocateFile(path string, n int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := preallocate(f, n, false); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
