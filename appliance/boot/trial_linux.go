//go:build linux

package boot

import (
	"errors"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"postroom/appliance/update"
)

// bootMount is where the init mounts the boot partition: the update
// state and cmdline.txt live there (appliance/update).
const bootMount = "/boot"

// prepareUpdate mounts the boot partition and takes the update state's
// first look at this start (update.AtBoot): a trial root counts its
// start, and one started once too often without a verdict points
// cmdline.txt back at the old root (rollBack: the caller reboots). Without
// a boot partition the box runs on, but cannot be updated.
func prepareUpdate(cfg Config, root Root, boots int, data DataChoice, log *slog.Logger) (env UpdateEnv, rollBack bool) {
	env = UpdateEnv{Root: root.Partition, Boots: boots, DataDisk: data.Device + " (SD card)"}
	if data.USB {
		env.DataDisk = data.Device + " (USB disk)"
	}
	if data.Note != "" {
		env.DataDisk += ". " + data.Note
	}
	dev, err := BootDiskPart("/sys/block", "/dev", root, 1)
	if err == nil {
		env.OtherRoot, err = BootDiskPart("/sys/block", "/dev", root, update.Other(root.Partition))
	}
	if err == nil {
		err = mountBoot(dev)
	}
	if err != nil {
		cfg.Say("no boot partition (%v): updates are not possible", err)
		return env, false
	}
	env.BootDir = bootMount
	what, st, err := update.AtBoot(update.DirBoot(bootMount), root.Partition, time.Now())
	if err != nil {
		// A damaged state file must not keep the mail down: run, and
		// let the status page say that updates need a look.
		log.Error("update state", "err", err)
		cfg.Say("update state unreadable: %v", err)
		return env, false
	}
	switch what {
	case update.BootTrial:
		env.Trial = true
		cfg.Say("trying version %s (start %d of %d): it runs its self-test", st.Roots[root.Partition].Version, st.Tries, update.MaxTrialBoots)
	case update.BootInterrupted:
		cfg.Say("the update to version %s was cut short while being written; version %s runs on", st.Last.To, st.Last.From)
	case update.BootRollBack:
		cfg.Say("update failed, rolled back: %s; restarting with the previous version", st.Last.Reason)
		return env, true
	}
	if st.Last.Result == update.ResultRolledBack && st.RestorePending {
		cfg.Say("update failed, rolled back: %s", st.Last.Reason)
	}
	return env, false
}

// mountBoot mounts the FAT boot partition read-write: the update writes
// cmdline.txt and its state there. It is small and written seldom.
func mountBoot(dev string) error {
	if err := os.MkdirAll(bootMount, 0o755); err != nil && !errors.Is(err, unix.EROFS) && !errors.Is(err, os.ErrExist) {
		return err
	}
	err := unix.Mount(dev, bootMount, "vfat", unix.MS_NOATIME|unix.MS_NODEV|unix.MS_NOSUID|unix.MS_NOEXEC, "")
	if errors.Is(err, unix.EBUSY) {
		return nil
	}
	return err
}

// trialCrashed ends a trial whose appliance crashed TrialCrashes times in
// a row: cmdline.txt points back at the old root, and it returns true so
// that the init stops and reboots. A trial already decided (kept by the
// self-test) is left alone.
func trialCrashed(cfg Config, env UpdateEnv, e Exit, log *slog.Logger) bool {
	if !env.Trial || env.BootDir == "" || e.Crashes < TrialCrashes {
		return false
	}
	b := update.DirBoot(env.BootDir)
	st, err := update.ReadState(b, env.Root)
	if err != nil || st.Trial != env.Root {
		return false
	}
	if _, err := update.RollBack(b, env.Root, "the new version crashed again and again", time.Now()); err != nil {
		log.Error("roll back the update", "err", err)
		return false
	}
	cfg.Say("update failed, rolled back: the new version crashed %d times in a row; restarting with the previous version", e.Crashes)
	return true
}
