package appliance

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"postroom/appliance/admin"
	"postroom/appliance/boot"
	"postroom/appliance/status"
	"postroom/appliance/update"
	"postroom/storage"
)

// Updates with rollback (appliance/update has the file format and the A/B
// state; the init, appliance/boot, mounts the boot partition and counts a
// trial's starts):
//
//   - installUpdate (admin op update.install, from postroomctl update or
//     the web page's upload): check the file, write the spare root, take
//     a snapshot of the store, start the trial, restart the box.
//   - updateWorker, on the trial start: the self-test (run_update_selftest.go),
//     then update.Keep, or update.RollBack and a restart.
//   - restoreAfterRollback, at start: after a rollback, a store the old
//     programs cannot read (the new version changed its format) is
//     restored from the snapshot.
//
// The status Snapshot's System shows the versions, the last outcome, the
// boots, the data disk and the crashes the init counted.

// UpdateOptions is what the appliance knows of the box it runs on. nil
// (off the board): updates are refused, and the status page says why.
type UpdateOptions struct {
	Boot update.BootFS // the boot partition
	Root int           // the root partition running (update.RootA or RootB)
	// OpenTarget opens the spare root partition for writing.
	OpenTarget func() (update.Target, io.Closer, error)
	PublicKey  ed25519.PublicKey // updates must be signed with its key
	Release    update.Release    // the version running
	Trial      bool              // the init says this start is a trial
	Boots      int
	Crashes    int // crashes in a row before this start
	DataDisk   string
	Started    time.Time // when the machine started
	// Reboot restarts the box (on the board: SIGTERM to the init, which
	// stops the appliance cleanly and reboots).
	Reboot func() error
	// SelfTestTimeout bounds the trial's self-test (0: 3 minutes).
	SelfTestTimeout time.Duration
	// RebootDelay lets the answer to the person who asked reach them
	// before the box restarts (0: 2 s).
	RebootDelay time.Duration
	Now         func() time.Time

	mu   sync.Mutex
	busy bool
}

func (u *UpdateOptions) crashes() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.Crashes
}

func (u *UpdateOptions) now() time.Time {
	if u.Now != nil {
		return u.Now()
	}
	return time.Now()
}

// UpdateOptionsFromEnv reads what the init (appliance/boot) put in the
// environment and what the root file system says of itself under root
// ("/" on the board). It returns nil when not started by the init.
func UpdateOptionsFromEnv(root string) *UpdateOptions {
	part, err := strconv.Atoi(os.Getenv(boot.EnvRoot))
	if err != nil {
		return nil
	}
	u := &UpdateOptions{Root: part, Trial: os.Getenv(boot.EnvTrial) == "1", DataDisk: os.Getenv(boot.EnvDataDisk)}
	u.Boots, _ = strconv.Atoi(os.Getenv(boot.EnvBoots))
	u.Crashes, _ = strconv.Atoi(os.Getenv(boot.EnvCrashes))
	if b, err := os.ReadFile(filepath.Join(root, update.ReleaseFile)); err == nil {
		json.Unmarshal(b, &u.Release)
	}
	if b, err := os.ReadFile(filepath.Join(root, update.PublicKeyFile)); err == nil {
		u.PublicKey, _ = update.ParsePublicKey(b)
	}
	if b, err := os.ReadFile("/proc/uptime"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if secs, err := strconv.ParseFloat(f[0], 64); err == nil {
				u.Started = time.Now().Add(-time.Duration(secs * float64(time.Second))).Truncate(time.Second)
			}
		}
	}
	if dir := os.Getenv(boot.EnvBootDir); dir != "" {
		u.Boot = update.DirBoot(dir)
		dev := os.Getenv(boot.EnvOtherRoot)
		u.OpenTarget = func() (update.Target, io.Closer, error) { return openDevice(dev) }
	}
	u.Reboot = func() error { return syscall.Kill(1, syscall.SIGTERM) }
	return u
}

// openDevice opens a block device (or a file standing for one) to write
// a root to it.
func openDevice(path string) (update.Target, io.Closer, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return update.Target{}, nil, err
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return update.Target{}, nil, err
	}
	return update.Target{W: f, R: f, Size: size, Sync: f.Sync}, f, nil
}

// snapshotFile is where the store's snapshot goes, in the data folder;
// uploadDir where the web page spools an uploaded update file.
const (
	snapshotFile = "postroom-update/store-snapshot"
	uploadDir    = "postroom-update/upload"
)

// updateSpool is the web page's upload folder ("" when this machine
// takes no updates).
func (r *runner) updateSpool() string {
	u := r.opts.Update
	dataDir, err := filepath.Abs(r.cfg.DataDir)
	if u == nil || u.Boot == nil || err != nil {
		return ""
	}
	return filepath.Join(dataDir, uploadDir)
}

// clearUpdateSpool removes uploads left in the spool folder: the web page
// removes each after its install, so one still there was cut short by a
// power cut or crash (tens of MB each, on the data disk).
func (r *runner) clearUpdateSpool() {
	dir := r.updateSpool()
	if dir == "" {
		return
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range left {
		if err := os.RemoveAll(f); err != nil {
			r.log.Warn("update: remove an old upload", "file", f, "err", err)
			continue
		}
		r.log.Info("update: removed an upload left by a power cut or crash", "file", f)
	}
}

// systemStatus is the Snapshot's System from the options and the state.
func (r *runner) systemStatus() status.System {
	u := r.opts.Update
	if u == nil {
		return status.System{}
	}
	sys := status.System{
		Version: u.Release.Version, Boots: u.Boots, DataDisk: u.DataDisk,
		Started: u.Started, Crashes: u.crashes(),
		Updatable: u.Boot != nil && u.OpenTarget != nil && u.PublicKey != nil,
	}
	if sys.Version == "" {
		sys.Version = "unknown"
	}
	if u.Boot == nil {
		return sys
	}
	st, err := update.ReadState(u.Boot, u.Root)
	if err != nil {
		sys.LastUpdate = "the update state cannot be read: " + err.Error()
		return sys
	}
	if rel, ok := st.Roots[update.Other(u.Root)]; ok {
		sys.OtherVersion = rel.Version
	}
	sys.LastUpdate = st.Last.Summary()
	sys.LastUpdateAt = st.Last.Time
	sys.LastUpdateFailed = st.Last.Result == update.ResultRolledBack
	if st.Last.Result == "" {
		sys.LastUpdate = ""
	}
	return sys
}

func (r *runner) publishSystem() {
	sys := r.systemStatus()
	r.update(func(s *status.Snapshot) {
		sys.Updating = s.System.Updating
		s.System = sys
	})
}

// setUpdating shows what an update does now ("" when done), with the
// phase "updating" (the green LED blinks, the display says Updating)
// while it does; prev is the phase to go back to.
func (r *runner) setUpdating(what string, prev *status.Phase) {
	r.update(func(s *status.Snapshot) {
		s.System.Updating = what
		switch {
		case what != "" && s.Phase != status.PhaseUpdating:
			*prev = s.Phase
			s.Phase = status.PhaseUpdating
		case what == "" && s.Phase == status.PhaseUpdating:
			s.Phase = *prev
		}
	})
}

// installUpdate is admin.Options.Update.
func (r *runner) installUpdate(ctx context.Context, st *storage.Store, file string, by admin.Actor) (admin.UpdateResult, error) {
	var res admin.UpdateResult
	u := r.opts.Update
	if u == nil || u.Boot == nil || u.OpenTarget == nil {
		return res, &admin.UpdateRefused{Err: errors.New("this machine does not install updates: only a box started from its SD card does")}
	}
	if u.PublicKey == nil {
		return res, &admin.UpdateRefused{Err: errors.New("this box has no update key (" + update.PublicKeyFile + "): it cannot check an update")}
	}
	u.mu.Lock()
	if u.busy {
		u.mu.Unlock()
		return res, &admin.UpdateRefused{Err: update.ErrUpdateActive}
	}
	u.busy = true
	u.mu.Unlock()
	done := false
	defer func() {
		if !done { // a restart follows a success: the flag stays
			u.mu.Lock()
			u.busy = false
			u.mu.Unlock()
		}
	}()
	if s, err := update.ReadState(u.Boot, u.Root); err != nil {
		return res, err
	} else if s.Trial != 0 {
		return res, &admin.UpdateRefused{Err: update.ErrUpdateActive}
	}

	f, err := os.Open(file)
	if err != nil {
		return res, &admin.UpdateRefused{Err: fmt.Errorf("cannot read the update file: %w", err)}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return res, err
	}
	o, err := update.Open(f, fi.Size(), u.PublicKey, u.Release.Arch, u.Release)
	if err != nil {
		r.log.Warn("update refused", "file", file, "by", by, "err", err)
		if isRefusal(err) {
			return res, &admin.UpdateRefused{Err: err}
		}
		return res, err
	}
	to := o.Manifest.Release()
	r.log.Info("update: installing", "version", to.Version, "running", u.Release.Version, "by", by)

	var prev status.Phase
	defer func() {
		if !done { // after a success the LEDs say "updating" until the restart
			r.setUpdating("", &prev)
		}
	}()
	r.setUpdating("checking and writing version "+to.Version, &prev)
	tgt, closer, err := u.OpenTarget()
	if err != nil {
		return res, fmt.Errorf("open the spare root partition: %w", err)
	}
	// Before the first byte overwrites the spare root (Install checks
	// the file first, and a refused file changes nothing), the state
	// says an install is under way, so that a power cut during the write
	// is reported at the next start.
	begun := false
	tgt.W = &beforeFirstWrite{w: tgt.W, before: func() error {
		begun = true
		err := update.BeginInstall(u.Boot, u.Root, u.Release, to, u.now())
		r.publishSystem()
		if err == nil {
			r.log.Info("update: writing the new root", "version", to.Version)
		}
		return err
	}}
	failed := func(err error) error {
		if begun {
			if ferr := update.InstallFailed(u.Boot, u.Root, err.Error(), u.now()); ferr != nil {
				r.log.Error("update: record the failed install", "err", ferr)
			}
			r.publishSystem()
		}
		return err
	}
	err = update.Install(ctx, o, tgt, u.Boot)
	if cerr := closer.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		failed(err)
		if isRefusal(err) {
			return res, &admin.UpdateRefused{Err: err}
		}
		return res, err
	}
	r.setUpdating("saving a copy of the mail store", &prev)
	snap, err := r.snapshotStore(ctx, st)
	if err != nil {
		return res, failed(err)
	}
	if err := update.BeginTrial(u.Boot, u.Root, u.Release, to, snap, u.now()); err != nil {
		return res, failed(err)
	}
	r.publishSystem()
	r.setUpdating("restarting to try version "+to.Version, &prev)
	r.log.Warn("update: restarting to try the new version", "version", to.Version)
	done = true
	r.rebootSoon(u, "update")
	res.Version = to.Version
	res.Note = fmt.Sprintf("Version %s is installed. The box restarts now to try it; if its self-test fails it goes back to %s by itself.", to.Version, u.Release.Version)
	return res, nil
}

// rebootSoon restarts the box after u.RebootDelay, so that the answer to
// the person who asked reaches them first; why names the asker in the log.
func (r *runner) rebootSoon(u *UpdateOptions, why string) {
	delay := u.RebootDelay
	if delay <= 0 {
		delay = 2 * time.Second
	}
	time.AfterFunc(delay, func() {
		if err := u.Reboot(); err != nil {
			r.log.Error(why+": restart the box", "err", err)
		}
	})
}

// restartBox is admin.Options.Restart (box.restart): the update's reboot
// path. Only set when the init started the appliance (Options.Update):
// off the board, PID 1 is the developer's own init.
func (r *runner) restartBox(by admin.Actor) (string, error) {
	u := r.opts.Update
	r.log.Warn("restarting the box", "by", by)
	r.rebootSoon(u, "box.restart")
	return "The box restarts now. Mail stops for about a minute; senders try again, nothing is lost. Reload this page in a minute or two.", nil
}

// beforeFirstWrite calls before once, ahead of the first write to w; its
// error stops the write.
type beforeFirstWrite struct {
	w      io.WriterAt
	before func() error
	err    error
	done   bool
}

func (b *beforeFirstWrite) WriteAt(p []byte, off int64) (int, error) {
	if !b.done {
		b.done, b.err = true, b.before()
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.w.WriteAt(p, off)
}

// isRefusal tells a file refused for what it is from a failure of the box.
func isRefusal(err error) bool {
	for _, e := range []error{update.ErrNotUpdate, update.ErrTruncated, update.ErrSignature, update.ErrArch,
		update.ErrNotNewer, update.ErrDamaged, update.ErrTooBig, update.ErrBadManifest, update.ErrUpdateActive} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// snapshotStore writes the store's backup stream to the data disk and
// returns its path. It replaces the last update's snapshot.
func (r *runner) snapshotStore(ctx context.Context, st *storage.Store) (string, error) {
	dataDir, err := filepath.Abs(r.cfg.DataDir)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dataDir, snapshotFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("store snapshot: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("store snapshot: %w", err)
	}
	defer os.Remove(tmp)
	_, err = st.Backup(ctx, f, 0)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("store snapshot: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("store snapshot: %w", err)
	}
	return path, nil
}

// restoreAfterRollback runs before the store opens. After a rollback the
// old programs look at the store once: if it was written by the newer
// version (storage.ErrSchemaNewer), it is moved aside and the snapshot
// taken before the update is restored. Mail that came in during the
// failed trial is then only in the moved-aside folder (the log says
// where).
func (r *runner) restoreAfterRollback(ctx context.Context, storeDir string) error {
	u := r.opts.Update
	if u == nil || u.Boot == nil {
		return nil
	}
	s, err := update.ReadState(u.Boot, u.Root)
	if err != nil || !s.RestorePending || s.Trial != 0 {
		return nil
	}
	st, err := storage.Open(storage.Options{Dir: storeDir, Logger: r.log, NoGC: true})
	if err == nil {
		if err := st.Close(); err != nil {
			return err
		}
		r.log.Info("update rolled back: the mail store is unchanged in format, nothing to restore")
		return update.Restored(u.Boot, u.Root)
	}
	if !errors.Is(err, storage.ErrSchemaNewer) {
		return nil // the normal open says what is wrong
	}
	aside := fmt.Sprintf("%s.newer-%d", storeDir, u.now().Unix())
	r.log.Warn("update rolled back: the new version changed the mail store; restoring the copy taken before the update",
		"snapshot", s.Snapshot, "newer_store_kept_in", aside)
	if err := os.Rename(storeDir, aside); err != nil {
		return fmt.Errorf("restore the mail store: %w", err)
	}
	if err := restoreSnapshot(ctx, storeDir, s.Snapshot, r); err != nil {
		os.RemoveAll(storeDir)
		if rerr := os.Rename(aside, storeDir); rerr != nil {
			r.log.Error("put the newer store back", "err", rerr)
		}
		return fmt.Errorf("restore the mail store from %s: %w", s.Snapshot, err)
	}
	return update.Restored(u.Boot, u.Root)
}

func restoreSnapshot(ctx context.Context, dir, snapshot string, r *runner) error {
	f, err := os.Open(snapshot)
	if err != nil {
		return err
	}
	defer f.Close()
	rs, err := storage.NewRestore(dir, r.log)
	if err != nil {
		return err
	}
	sum, err := rs.Apply(ctx, f)
	if err == nil {
		err = rs.Verify(ctx, sum)
	}
	if cerr := rs.Close(); err == nil {
		err = cerr
	}
	return err
}

// crashesForgiven is how long the appliance must run before the crashes
// before its start are no longer a problem: the supervisor's
// (appliance/boot) DefaultBackoff.Stable.
const crashesForgiven = 10 * time.Minute

// updateWorker publishes the System status and, on a trial start, runs
// the self-test once the services serve, and keeps or rolls back the
// update.
func (r *runner) updateWorker(st *storage.Store, services []*service) {
	r.publishSystem()
	u := r.opts.Update
	if u == nil {
		return
	}
	r.addWorker("update", func(ctx context.Context) error {
		if u.crashes() > 0 {
			t := time.AfterFunc(crashesForgiven, func() {
				u.mu.Lock()
				u.Crashes = 0
				u.mu.Unlock()
				r.update(func(s *status.Snapshot) { s.System.Crashes = 0 })
			})
			defer t.Stop()
		}
		if u.Trial && u.Boot != nil {
			if s, err := update.ReadState(u.Boot, u.Root); err == nil && s.Trial == u.Root {
				if err := r.trial(ctx, st, services); err != nil {
					return err
				}
			}
		}
		<-ctx.Done()
		return nil
	})
}

// trial runs the self-test and decides the trial.
func (r *runner) trial(ctx context.Context, st *storage.Store, services []*service) error {
	u := r.opts.Update
	var prev status.Phase
	r.setUpdating("testing the new version", &prev)
	timeout := u.SelfTestTimeout
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	err := r.selfTest(tctx, st, services) // run_update_selftest.go
	cancel()
	if ctx.Err() != nil {
		// Stopped during the test: no verdict; the next start counts
		// as the trial's second and rolls back.
		return nil
	}
	if err == nil {
		if _, kerr := update.Keep(u.Boot, u.Root, u.now()); kerr != nil {
			err = fmt.Errorf("keep the new version: %w", kerr)
		} else {
			r.log.Info("update: the self-test passed; the new version is kept", "version", u.Release.Version)
			r.publishSystem()
			r.setUpdating("", &prev)
			return nil
		}
	}
	r.log.Error("update: the self-test failed; going back to the previous version", "err", err)
	if _, rerr := update.RollBack(u.Boot, u.Root, "its self-test failed: "+err.Error(), u.now()); rerr != nil {
		r.log.Error("update: roll back", "err", rerr)
		return fmt.Errorf("roll back the update: %w", rerr)
	}
	r.publishSystem()
	r.setUpdating("going back to the previous version", &prev)
	if err := u.Reboot(); err != nil {
		r.log.Error("update: restart the box", "err", err)
	}
	return nil
}
