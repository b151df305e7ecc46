package appliance

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"filippo.io/age"

	"postroom/appliance/admin"
	"postroom/appliance/backup"
	"postroom/appliance/config"
	"postroom/appliance/status"
	"postroom/storage"
)

// Backups on the running box (appliance/backup): the Manager over the live
// store, the daily schedule as a worker, its progress in the Snapshot (the
// page, the display, the red LED on a failed backup or restore test), and
// the whole-box restore as an offline step.

// configPath is config.json of this box.
func (r *runner) configPath() string {
	if r.opts.ConfigPath != "" {
		return r.opts.ConfigPath
	}
	dir, err := filepath.Abs(r.cfg.DataDir)
	if err != nil {
		dir = r.cfg.DataDir
	}
	return filepath.Join(dir, config.ConfigFile)
}

// backupManager returns this start's backup Manager, made on first use.
// It reads config.json at each backup, so that a target or key set on
// the Backups page counts at once, without a restart.
func (r *runner) backupManager(st *storage.Store) (*backup.Manager, error) {
	if r.backups != nil {
		return r.backups, nil
	}
	dataDir, err := filepath.Abs(r.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	path := r.configPath()
	m, err := backup.New(backup.Options{
		Store: st, DataDir: dataDir, Logger: r.log,
		Config: func() config.Config {
			c, err := config.Load(path)
			if err != nil {
				return r.cfg
			}
			return c
		},
		Progress: r.backupProgress,
		USB:      r.opts.USB,
	})
	if err != nil {
		return nil, err
	}
	r.backups = m
	r.backupProgress(m.Progress())
	return m, nil
}

// backupProgress puts a backup's progress into the Snapshot.
func (r *runner) backupProgress(p backup.Progress) {
	r.update(func(s *status.Snapshot) {
		b := status.Backup{Verified: p.LastVerified}
		if p.Running {
			b.Running = p.Step
			if p.Total > 0 && p.Step == "saving" {
				b.Percent = int(min(99, p.Done*100/p.Total))
			}
		}
		if p.Last != nil {
			b.Last, b.LastName = p.Last.Started, p.Last.Name
			switch {
			case p.Running:
			case p.Last.Error != "":
				s.BackupError = p.Last.Error
			case p.Last.VerifyError != "":
				s.BackupError = "its restore test failed: " + p.Last.VerifyError
			default:
				s.BackupError = ""
			}
		}
		s.Backup = b
	})
}

// backupWorker runs the schedule: a tick a minute, a backup when due.
func (r *runner) backupWorker(st *storage.Store) {
	m, err := r.backupManager(st)
	if err != nil {
		r.log.Error("backups are off", "err", err)
		return
	}
	r.addWorker("backup", func(ctx context.Context) error {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		return m.Run(ctx, t.C)
	})
}

// restoreBox is admin.Options.RestoreBox: it asks for an offline step that
// restores the whole box from the backup target into a new folder beside
// the live one, and swaps them only when the restore has proven itself.
// What was there before stays in DATA/before-restore-TIME.
func (r *runner) restoreBox(key *age.X25519Identity, name string, by admin.Actor) (string, error) {
	path := r.configPath()
	cfg, err := config.Load(path)
	if err != nil {
		return "", err
	}
	err = r.opts.Maintenance.Offline("restoring backup", string(by), func(ctx context.Context, dataDir string) error {
		return restoreInto(ctx, dataDir, cfg.Backup, key, name, r)
	})
	if err != nil {
		return "", err
	}
	return "the box stops, restores the backup and starts again with it; the status page shows the outcome", nil
}

// restoreInto is the offline step of restoreBox.
func restoreInto(ctx context.Context, dataDir string, bc config.BackupConfig, key age.Identity, name string, r *runner) error {
	t, err := backup.OpenTargetOn(ctx, dataDir, bc, r.opts.USB)
	if err != nil {
		return err
	}
	defer t.Close()
	tmp := filepath.Join(dataDir, ".restoring")
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	res, err := backup.RestoreBox(ctx, backup.RestoreOptions{DataDir: tmp, Target: t, Key: key, Name: name, Logger: r.log})
	if err != nil {
		os.RemoveAll(tmp)
		return err
	}
	old := filepath.Join(dataDir, "before-restore-"+time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Mkdir(old, 0o700); err != nil {
		return err
	}
	// config.json comes back too: the domains, host name and settings of
	// the box that made the backup (its backup section names the same
	// target and recovery key).
	for _, f := range append([]string{"store"}, res.Files...) {
		top := filepath.Join(dataDir, firstElem(f))
		if _, err := os.Lstat(top); err == nil {
			if err := os.Rename(top, filepath.Join(old, firstElem(f))); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("moving the old %s aside: %w", firstElem(f), err)
			}
		}
	}
	for _, f := range append([]string{"store"}, res.Files...) {
		src := filepath.Join(tmp, firstElem(f))
		if _, err := os.Lstat(src); err != nil {
			continue
		}
		if err := os.Rename(src, filepath.Join(dataDir, firstElem(f))); err != nil {
			return fmt.Errorf("putting the restored %s in place: %w", firstElem(f), err)
		}
	}
	os.RemoveAll(tmp)
	// A restored box starts a new chain of backups.
	os.Remove(filepath.Join(dataDir, "backup", "state.json"))
	r.log.Info("box restored", "backup", res.Backup.Name, "accounts", res.Accounts, "messages", res.Messages, "kept", old)
	return nil
}

func firstElem(p string) string {
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return p
}
