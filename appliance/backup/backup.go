// Package backup makes, proves and restores backups of the whole box: the
// mail store, config.json, the TLS and DKIM keys (accounts' settings live
// in the store). PRODUCT.md journey 6: nothing is lost.
//
// The map:
//
//	backup.go    Manager: one backup (full or incremental), its state, rotation
//	format.go    the file: plain header, age-encrypted records
//	keys.go      the office's recovery key and the box's verification key
//	verify.go    the proof: read the file back, restore into scratch, compare
//	restore.go   restore of the whole box into a fresh data folder
//	target.go    Target; Folder (any mounted folder); sftp.go the SFTP
//	             target; usb.go a USB disk, mounted for each use
//	rotate.go    which backups to keep (7 daily, 4 weekly, 6 monthly)
//	schedule.go  the daily run at a quiet hour
//
// Memory stays bounded whatever the store's size: the store streams
// through storage.Backup (one snapshot, one record at a time) into age's
// 64 KiB chunks; the verification and the restore apply it in batches of
// a few MiB. Mail keeps flowing: the snapshot is a read transaction,
// which blocks no writer.
package backup

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"

	"postroom/appliance/config"
	"postroom/appliance/usbdisk"
	"postroom/internal/atomicfile"
	"postroom/storage"
)

// Options configures a Manager. Store, DataDir and Config are required.
type Options struct {
	Store   *storage.Store
	DataDir string
	// Config returns the current configuration (host name, backup section).
	Config func() config.Config
	// Logger: nil is slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Progress is told what a backup does, as it happens; nil: nobody.
	Progress func(Progress)
	// OpenTarget makes the target of a backup section; nil: OpenTargetOn
	// with USB.
	OpenTarget func(ctx context.Context, dataDir string, c config.BackupConfig) (Target, error)
	// USB is the box's USB disks, for the target "usb" (usb.go); nil:
	// the box sees none (a developer's machine).
	USB *usbdisk.Host
	// Scratch is the folder the verification restores into (emptied after
	// each); "": DATA/backup/scratch. It must have room for a copy of the
	// store; the verification checks before it starts.
	Scratch string
	// KeepScratchFree: the proven scratch restore is kept for the next
	// incremental backup's proof (verify.go) only while this much stays
	// free on the scratch disk beside it, and at least twice its size;
	// 0 means 2 GiB; negative: never kept (every proof restores the
	// whole chain, as before).
	KeepScratchFree int64
}

// Progress is what a backup is doing.
type Progress struct {
	Running bool   `json:"running"`
	Step    string `json:"step,omitempty"` // in words: "saving", "testing the restore"
	Done    int64  `json:"done"`           // bytes written so far
	Total   int64  `json:"total"`          // about how many the store holds
	// Last is the result of the last backup, once one finished.
	Last *Result `json:"last,omitempty"`
	// LastVerified is when a backup last proved it restores.
	LastVerified time.Time `json:"last_verified,omitzero"`
}

// Result is one backup's outcome.
type Result struct {
	Name     string        `json:"name"`
	Kind     string        `json:"kind"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
	Size     int64         `json:"size"`
	// Records are the store's records in the snapshot, Changed those
	// written (all of them in a full backup).
	Records int64 `json:"records"`
	Changed int64 `json:"changed"`
	// Verified is when the restore test passed; zero when it did not run
	// or failed (VerifyError).
	Verified    time.Time `json:"verified,omitzero"`
	VerifyError string    `json:"verify_error,omitempty"`
	// Proof is how it was proven: ProofWhole (the whole chain restored)
	// or ProofIncrement (the new part applied to the kept restore of the
	// chain before it).
	Proof   string   `json:"proof,omitempty"`
	Removed []string `json:"removed,omitempty"` // by the rotation
	Error   string   `json:"error,omitempty"`   // the backup itself failed
}

// OK says whether the backup was written and proven.
func (r *Result) OK() bool { return r.Error == "" && r.VerifyError == "" && !r.Verified.IsZero() }

// state is DATA/backup/state.json: where the chain stands, and the recent
// results for the page. It is not in the backups: a restored box starts a
// new chain with a full backup.
type state struct {
	Target       string    `json:"target"`
	Chain        []string  `json:"chain,omitempty"` // the current chain, full first
	Until        uint64    `json:"until"`           // the chain's last store version
	LastRun      time.Time `json:"last_run,omitzero"`
	LastVerified time.Time `json:"last_verified,omitzero"`
	History      []Result  `json:"history,omitempty"` // newest last
}

const (
	stateFile   = "backup/state.json"
	historySize = 30
)

// ErrBusy: a backup is already running.
var ErrBusy = errors.New("a backup is running already")

// ErrNoTarget: backups are not set up.
var ErrNoTarget = errors.New("backups are not set up: choose a target and make a recovery key on the Backups page")

// Manager makes backups. It is safe for concurrent use; one backup runs
// at a time.
type Manager struct {
	o    Options
	log  *slog.Logger
	run  sync.Mutex // held by the running backup
	mu   sync.Mutex // guards st and prog
	st   state
	prog Progress
	done atomic.Int64
	kick chan struct{}
}

// New returns a Manager; it reads the saved state.
func New(o Options) (*Manager, error) {
	if o.Store == nil || o.DataDir == "" || o.Config == nil {
		return nil, errors.New("backup: Store, DataDir and Config are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OpenTarget == nil {
		o.OpenTarget = func(ctx context.Context, dataDir string, c config.BackupConfig) (Target, error) {
			return OpenTargetOn(ctx, dataDir, c, o.USB)
		}
	}
	if o.Scratch == "" {
		o.Scratch = filepath.Join(o.DataDir, "backup", "scratch")
	}
	m := &Manager{o: o, log: o.Logger.With("component", "backup"), kick: make(chan struct{}, 1)}
	b, err := os.ReadFile(filepath.Join(o.DataDir, stateFile))
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &m.st); err != nil {
			m.log.Warn("the backup state is unreadable; the next backup is a full one", "err", err)
			m.st = state{}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("backup: %w", err)
	}
	m.prog.LastVerified = m.st.LastVerified
	if n := len(m.st.History); n > 0 {
		last := m.st.History[n-1]
		m.prog.Last = &last
	}
	return m, nil
}

// OpenTarget makes the target a backup section names, on a box that sees
// no USB disks (OpenTargetOn sees them).
func OpenTarget(ctx context.Context, dataDir string, c config.BackupConfig) (Target, error) {
	switch c.Target {
	case "usb":
		return nil, ErrNoUSB
	case "folder":
		return Folder{Dir: c.Folder}, nil
	case "sftp":
		return DialSFTP(ctx, dataDir, c.SFTP)
	}
	return nil, ErrNoTarget
}

// Progress returns what the Manager is doing, and the last result.
func (m *Manager) Progress() Progress {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.prog
	p.Done = m.done.Load()
	return p
}

// History returns the recent results, newest first.
func (m *Manager) History() []Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := slices.Clone(m.st.History)
	slices.Reverse(h)
	return h
}

func (m *Manager) setProgress(fn func(p *Progress)) {
	m.mu.Lock()
	fn(&m.prog)
	p := m.prog
	m.mu.Unlock()
	p.Done = m.done.Load()
	if m.o.Progress != nil {
		m.o.Progress(p)
	}
}

func (m *Manager) saveState() error {
	m.mu.Lock()
	b, err := json.MarshalIndent(m.st, "", "  ")
	m.mu.Unlock()
	if err != nil {
		return err
	}
	p := filepath.Join(m.o.DataDir, stateFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, b, 0o600)
}

// Now runs one backup at once: writes it, proves it by a restore, and
// rotates the old ones. The Result tells what happened; the error is
// non-nil when the backup or its proof failed (the Result says which).
func (m *Manager) Now(ctx context.Context) (Result, error) {
	if !m.run.TryLock() {
		return Result{}, ErrBusy
	}
	defer m.run.Unlock()
	res := Result{Started: m.o.Now()}
	m.done.Store(0)
	total := int64(0)
	if s, err := m.o.Store.Stats(); err == nil {
		total = s.LSMBytes + s.VLogBytes
	}
	m.setProgress(func(p *Progress) { p.Running, p.Step, p.Total = true, "saving", total })
	err := m.backup(ctx, &res)
	if err != nil {
		if res.Error == "" {
			res.Error = err.Error()
		}
		m.log.Error("backup failed", "name", res.Name, "err", err)
	}
	res.Duration = m.o.Now().Sub(res.Started)
	m.mu.Lock()
	m.st.LastRun = res.Started
	if !res.Verified.IsZero() {
		m.st.LastVerified = res.Verified
	}
	m.st.History = append(m.st.History, res)
	if len(m.st.History) > historySize {
		m.st.History = m.st.History[len(m.st.History)-historySize:]
	}
	m.mu.Unlock()
	if serr := m.saveState(); serr != nil {
		m.log.Error("save the backup state", "err", serr)
		if err == nil {
			err = fmt.Errorf("saving the backup state: %w", serr)
			res.Error = err.Error()
		}
	}
	r := res
	m.setProgress(func(p *Progress) {
		p.Running, p.Step, p.Last = false, "", &r
		if !res.Verified.IsZero() {
			p.LastVerified = res.Verified
		}
	})
	if err == nil {
		m.log.Info("backup written and proven by a restore", "name", res.Name, "kind", res.Kind, "bytes", res.Size, "took", res.Duration.Round(time.Millisecond), "removed", len(res.Removed))
	}
	return res, err
}

// fileName is a backup's name: the box, the time (UTC, so names sort in
// time order) and the kind.
func fileName(host string, t time.Time, kind string) string {
	h := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, host)
	return "postroom-" + h + "-" + t.UTC().Format("20060102T150405Z") + "-" + kind + Ext
}

func (m *Manager) backup(ctx context.Context, res *Result) error {
	cfg := m.o.Config()
	bc := cfg.Backup
	if bc.Target == "" || bc.Recipient == "" {
		return ErrNoTarget
	}
	office, err := age.ParseX25519Recipient(strings.TrimSpace(bc.Recipient))
	if err != nil {
		return fmt.Errorf("backup.recipient in config.json is not a recovery key's public half: %w", err)
	}
	boxID, err := boxIdentity(m.o.DataDir)
	if err != nil {
		return err
	}
	t, err := m.o.OpenTarget(ctx, m.o.DataDir, bc)
	if err != nil {
		return err
	}
	defer t.Close()
	list, err := t.List(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	st := m.st
	m.mu.Unlock()
	kind, since, parent := KindFull, uint64(0), ""
	if st.Target == t.String() && len(st.Chain) > 0 && len(st.Chain) < bc.FullEvery && allListed(list, st.Chain) {
		kind, since, parent = KindIncremental, st.Until+1, st.Chain[len(st.Chain)-1]
	}
	res.Kind = kind
	// Two backups in one second (or a clock set back) take the next
	// free second for their name: a name is never reused.
	name := fileName(cfg.Hostname, res.Started, kind)
	for i := 1; slices.ContainsFunc(list, func(e Entry) bool { return e.Name == name }) || name == parent; i++ {
		name = fileName(cfg.Hostname, res.Started.Add(time.Duration(i)*time.Second), kind)
	}
	res.Name = name
	h := Header{Format: FormatVersion, Box: cfg.Hostname, Name: name, Created: res.Started.UTC(), Kind: kind, Since: since, Parent: parent}

	up, err := t.Create(ctx, name)
	if err != nil {
		return err
	}
	sum, files, size, err := m.write(ctx, up, h, office, boxID.Recipient())
	if err != nil {
		up.Abort()
		if noSpace(err) {
			free, _ := t.Free(ctx)
			return fmt.Errorf("%w (%s): the backup needed more than the %s left; remove old files from it or use a larger one", ErrTargetFull, t, sizeWords(free))
		}
		if gone(err) {
			return fmt.Errorf("the backup disk went away during the backup (%s): plug it in again; the earlier backups on it are as they were: %w", t, err)
		}
		return fmt.Errorf("writing the backup to %s: %w", t, err)
	}
	if err := up.Commit(); err != nil {
		if noSpace(err) {
			return fmt.Errorf("%w (%s)", ErrTargetFull, t)
		}
		return fmt.Errorf("writing the backup to %s: %w", t, err)
	}
	res.Size, res.Records, res.Changed = size, sum.Keys, sum.Changed

	chain := []string{name}
	if kind == KindIncremental {
		chain = append(slices.Clone(st.Chain), name)
	}
	m.setProgress(func(p *Progress) { p.Step = "testing the restore" })
	proof, err := m.verify(ctx, t, chain, boxID, sum, files)
	res.Proof = proof
	if err != nil {
		res.VerifyError = err.Error()
		// The chain does not go on from a backup that did not prove
		// itself: the next one is full.
		m.mu.Lock()
		m.st.Target, m.st.Chain, m.st.Until = t.String(), nil, 0
		m.mu.Unlock()
		return fmt.Errorf("the backup %s was written but its restore test failed: %w", name, err)
	}
	res.Verified = m.o.Now()
	m.mu.Lock()
	m.st.Target, m.st.Chain, m.st.Until = t.String(), chain, sum.Until
	m.mu.Unlock()
	// Save the chain before the rotation removes anything.
	if err := m.saveState(); err != nil {
		return fmt.Errorf("saving the backup state: %w", err)
	}
	removed, err := m.rotate(ctx, t, cfg, bc)
	res.Removed = removed
	if err != nil {
		m.log.Warn("rotation of old backups", "err", err)
	}
	return nil
}

func allListed(list []Entry, names []string) bool {
	for _, n := range names {
		if !slices.ContainsFunc(list, func(e Entry) bool { return e.Name == n }) {
			return false
		}
	}
	return true
}

// countWriter counts the bytes that reach the target, for the progress.
type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// write writes the whole file to up.
func (m *Manager) write(ctx context.Context, up io.Writer, h Header, to ...age.Recipient) (*storage.BackupSummary, map[string]string, int64, error) {
	cw := countWriter{w: up, n: &m.done}
	if err := writeHeader(cw, h); err != nil {
		return nil, nil, 0, err
	}
	enc, err := age.Encrypt(cw, to...)
	if err != nil {
		return nil, nil, 0, err
	}
	p := &payloadWriter{w: bufio.NewWriterSize(enc, 64<<10), files: map[string]string{}}
	p.w.WriteString(payloadMagic)
	hj, _ := json.Marshal(h)
	p.w.WriteByte('M')
	p.lv(hj)
	if err := m.addFiles(p); err != nil {
		return nil, nil, 0, err
	}
	p.w.WriteByte('S')
	ch := &chunker{p: p}
	sum, err := m.o.Store.Backup(ctx, ch, h.Since)
	if err != nil {
		return nil, nil, 0, err
	}
	if err := ch.flush(); err != nil {
		return nil, nil, 0, err
	}
	p.w.WriteByte(0)
	tj, _ := json.Marshal(Trailer{Until: sum.Until, Files: p.files})
	p.w.WriteByte('Z')
	p.lv(tj)
	if err := p.w.Flush(); err != nil {
		return nil, nil, 0, err
	}
	if err := enc.Close(); err != nil {
		return nil, nil, 0, err
	}
	return sum, p.files, m.done.Load(), nil
}

// boxFiles are the data folder's parts a backup carries beside the store.
var boxFiles = []string{config.ConfigFile, "tls", "dkim"}

func (m *Manager) addFiles(p *payloadWriter) error {
	for _, top := range boxFiles {
		root := filepath.Join(m.o.DataDir, top)
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if fi.Size() > maxFile {
				return fmt.Errorf("%s is larger than a box's file should be (%d bytes)", path, fi.Size())
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(m.o.DataDir, path)
			if err != nil {
				return err
			}
			p.file(filepath.ToSlash(rel), uint32(fi.Mode().Perm()), b)
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading the box's files: %w", err)
		}
	}
	return nil
}

// rotate removes the backups the policy no longer keeps; only this box's,
// whose headers it can read.
func (m *Manager) rotate(ctx context.Context, t Target, cfg config.Config, bc config.BackupConfig) ([]string, error) {
	list, err := t.List(ctx)
	if err != nil {
		return nil, err
	}
	var items []Item
	for _, e := range list {
		h, err := readHeaderOf(ctx, t, e.Name)
		if err != nil || h.Box != cfg.Hostname {
			continue
		}
		items = append(items, Item{Name: e.Name, Time: h.Created, Parent: h.Parent})
	}
	var removed []string
	for _, name := range Rotate(items, Policy{Daily: bc.Daily, Weekly: bc.Weekly, Monthly: bc.Monthly}, time.Local) {
		if err := t.Remove(ctx, name); err != nil {
			return removed, fmt.Errorf("removing %s: %w", name, err)
		}
		removed = append(removed, name)
	}
	if len(removed) > 0 {
		m.log.Info("old backups removed by the rotation", "removed", removed)
	}
	return removed, nil
}

// readHeaderOf reads the plain header of a file on t.
func readHeaderOf(ctx context.Context, t Target, name string) (Header, error) {
	rc, err := t.Open(ctx, name)
	if err != nil {
		return Header{}, err
	}
	defer rc.Close()
	return readHeader(bufio.NewReaderSize(rc, 4<<10))
}

// sizeWords is a size for people.
func sizeWords(n int64) string {
	switch {
	case n < 0:
		return "space"
	case n >= 10<<30:
		return fmt.Sprintf("%d GB", n>>30)
	case n >= 10<<20:
		return fmt.Sprintf("%d MB", n>>20)
	default:
		return fmt.Sprintf("%d KB", n>>10)
	}
}
