//go:build linux

package boot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Run does PID 1's work: mount /proc, /sys, /dev and /tmp, bring up the
// loopback interface, mount the data file system, and run the appliance
// under a Supervisor until ctx ends; then it unmounts the data and returns.
// When it cannot go on (a data disk the kernel will not mount, say), it
// says why on the console and waits for ctx, the watchdog still petted:
// a box that rebooted in a loop would show nothing and help no one. The
// caller (cmd/postroom-init) reboots afterwards: PID 1 must not exit.
func Run(ctx context.Context, cfg Config) error {
	err := run(ctx, &cfg)
	if err != nil && ctx.Err() == nil {
		cfg.Say("cannot go on: %v", err)
		cfg.Say("waiting: fix the cause and restart the box")
		<-ctx.Done()
	}
	return err
}

func run(ctx context.Context, cfg *Config) error {
	if cfg.Program == "" {
		cfg.Program = "/bin/postroom"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "/data"
	}
	if cfg.Args == nil {
		cfg.Args = []string{"-data", filepath.Join(cfg.DataDir, "postroom")}
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if err := MountEssentials(); err != nil {
		return err
	}
	reopenConsole()
	// Orphans come to PID 1: wait for them as they exit (reap_linux.go),
	// for as long as this process lives.
	go Reap(context.Background(), log)
	if err := unix.Sethostname([]byte("postroom")); err != nil {
		log.Warn("set host name", "err", err)
	}
	if err := loopbackUp(); err != nil {
		// Not fatal: the appliance still serves the LAN, and its own
		// loopback self-tests will say what is wrong.
		log.Error("bring up lo", "err", err)
	}
	nets := startNetwork(ctx, *cfg, log) // net_linux.go: in the background, the appliance does not wait for it
	// The watchdog is petted for as long as this process lives (the
	// reboot, or a hung shutdown, resets the board).
	startWatchdog(context.Background(), *cfg)
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return fmt.Errorf("read kernel command line: %w", err)
	}
	root, err := ParseRoot(string(cmdline))
	if err != nil {
		return err
	}
	cfg.Say("root file system is partition %d of disk %08x", root.Partition, root.DiskID)
	// A USB disk appears seconds after the SD card: wait until the USB
	// bus and the disks have not changed for a second (at most 10 s).
	if !WaitSettled(ctx, []string{"/sys/bus/usb/devices", "/sys/block"}, time.Second, 10*time.Second, nil) {
		cfg.Say("USB devices still changing after 10 s; choosing the data disk now")
	}
	choice, err := waitForData(ctx, *cfg, root)
	if err != nil {
		return err
	}
	for _, b := range choice.BlankUSB {
		cfg.Say("blank USB disk %s: an administrator can prepare it for backups or for the mail on the Backups web page", b)
	}
	for _, o := range choice.Others {
		cfg.Say("another Postroom data disk %s is not used", o)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil && !errors.Is(err, unix.EROFS) {
		return err
	}
	// grow_linux.go: a card bigger than the image gets a bigger data
	// partition (the file system grows once mounted).
	partBytes := growDataPartition(*cfg, root, choice)
	fsBlocks, blockSize, fsErr := dataFSBlocks(choice.Device)
	if err := unix.Mount(choice.Device, cfg.DataDir, "ext4", unix.MS_NOATIME|unix.MS_NODEV|unix.MS_NOSUID, ""); err != nil {
		return fmt.Errorf("mount %s on %s: %w", choice.Device, cfg.DataDir, err)
	}
	// move_linux.go: a USB disk prepared for the mail gets it copied
	// from the SD card before anything writes on it (or the SD card is
	// mounted in its place, and the status page says why).
	if choice, err = moveData(ctx, *cfg, choice); err != nil {
		return err
	}
	where := "SD card"
	if choice.USB {
		where = "USB disk"
	}
	cfg.Say("data disk %s (%s) mounted on %s", choice.Device, where, cfg.DataDir)
	if fsErr == nil {
		growDataFS(*cfg, cfg.DataDir, partBytes, fsBlocks, blockSize)
	} else if partBytes > 0 {
		cfg.Say("data file system not grown: %v", fsErr)
	}
	nets.useConfig(ctx, appConfigPath(*cfg), cfg.Say) // netconfig_linux.go: a fixed address set on the web page
	state := State{Dir: filepath.Join(cfg.DataDir, "postroom-init")}
	boots, err := state.CountBoot()
	if err != nil {
		log.Error("boot count", "err", err)
	} else {
		cfg.Say("boot number %d", boots)
	}
	// trial_linux.go: the boot partition, and an update's trial boot.
	upd, rollBack := prepareUpdate(*cfg, root, boots, choice, log)
	if rollBack {
		unix.Sync()
		unix.Unmount(bootMount, 0)
		return unix.Unmount(cfg.DataDir, 0) // and main reboots
	}
	restoreClock(*cfg, state, log)
	clockCtx, stopClock := context.WithCancel(ctx)
	defer stopClock()
	go saveClockEvery(clockCtx, state, 10*time.Minute, log)

	go SayAddresses(ctx, *cfg, 5*time.Second)
	supCtx, stopSup := context.WithCancel(ctx)
	defer stopSup()
	sup := &Supervisor{
		Path:   cfg.Program,
		Args:   cfg.Args,
		Env:    append(os.Environ(), upd.Environ()...),
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Log:    log,
	}
	sup.OnExit = func(e Exit) {
		if cfg.OnExit != nil {
			cfg.OnExit(e)
		}
		// The next start learns the crashes in a row (the status page
		// and the red LED show them); a trial that keeps crashing ends.
		upd.Crashes = e.Crashes
		sup.Env = append(os.Environ(), upd.Environ()...)
		if trialCrashed(*cfg, upd, e, log) {
			stopSup()
		}
	}
	cfg.Say("starting %s %s", cfg.Program, strings.Join(cfg.Args, " "))
	runErr := sup.Run(supCtx)
	stopClock()
	if err := state.SaveClock(time.Now()); err != nil {
		log.Error("save the clock", "err", err)
	}
	cfg.Say("stopping: unmounting %s", cfg.DataDir)
	unix.Sync()
	if upd.BootDir != "" {
		unix.Unmount(upd.BootDir, 0)
	}
	if err := unix.Unmount(cfg.DataDir, 0); err != nil {
		return fmt.Errorf("unmount %s: %w", cfg.DataDir, err)
	}
	if errors.Is(runErr, context.Canceled) {
		return nil
	}
	return runErr
}

// MountEssentials mounts the kernel's file systems on the read-only root's
// empty mount points. One already mounted (the kernel mounts devtmpfs on
// /dev itself when built with DEVTMPFS_MOUNT) is not an error.
func MountEssentials() error {
	mounts := []struct {
		source, target, fstype string
		flags                  uintptr
		data                   string
	}{
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
		{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777,size=64m"},
	}
	for _, m := range mounts {
		err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data)
		if err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
		}
	}
	return nil
}

// reopenConsole gives PID 1 standard input, output and error on
// /dev/console when the kernel could not (no /dev/console in the root
// before devtmpfs was mounted).
func reopenConsole() {
	var st unix.Stat_t
	if unix.Fstat(1, &st) == nil {
		return
	}
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return
	}
	for _, to := range []int{0, 1, 2} {
		unix.Dup3(fd, to, 0)
	}
	if fd > 2 {
		unix.Close(fd)
	}
}

// loopbackUp sets the IFF_UP flag of lo, which nothing else does on a box
// without a network manager; the appliance's own connections use it.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// watchdogTimeout is what the init asks of the hardware watchdog: the
// Pi's bcm2835 watchdog allows at most about 15 s. It is petted three
// times per timeout.
const watchdogTimeout = 15

// startWatchdog arms the board's watchdog, if it has one, and pets it in
// the background until ctx ends.
func startWatchdog(ctx context.Context, cfg Config) {
	var dev *os.File
	for _, name := range []string{"/dev/watchdog0", "/dev/watchdog"} {
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err == nil {
			dev = f
			break
		}
	}
	if dev == nil {
		cfg.Say("no hardware watchdog")
		return
	}
	timeout := watchdogTimeout
	if err := unix.IoctlSetPointerInt(int(dev.Fd()), unix.WDIOC_SETTIMEOUT, timeout); err != nil {
		if t, gerr := unix.IoctlGetInt(int(dev.Fd()), unix.WDIOC_GETTIMEOUT); gerr == nil && t > 0 {
			timeout = t
		}
	}
	cfg.Say("hardware watchdog %s armed (%d s)", dev.Name(), timeout)
	w := &Watchdog{Dev: dev, Interval: time.Duration(timeout) * time.Second / 3}
	go func() {
		if err := w.Run(ctx); err != nil {
			cfg.Say("%v: the board will reset", err)
		}
	}()
}

// restoreClock sets the system clock forward to the last known time when
// it is behind it (a Pi without a real-time clock boots in 1970).
func restoreClock(cfg Config, state State, log *slog.Logger) {
	last, err := state.LastClock()
	if err != nil {
		log.Error("read the last known time", "err", err)
		return
	}
	if !ClockBehind(time.Now(), last) {
		return
	}
	tv := unix.NsecToTimeval(last.UnixNano())
	if err := unix.Settimeofday(&tv); err != nil {
		log.Error("set the clock to the last known time", "err", err)
		return
	}
	cfg.Say("clock set forward to the last known time, %s (not yet synchronised)", last.UTC().Format(time.RFC3339))
}

// saveClockEvery records the time on the data disk every interval until
// ctx ends, so that a power cut loses at most that much of the clock.
func saveClockEvery(ctx context.Context, state State, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := state.SaveClock(time.Now()); err != nil {
			log.Error("save the clock", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// waitForData chooses the data disk, and while there is none it says why
// once and looks again every 5 s (someone may plug in the USB disk),
// rather than reboot in a loop. It never formats anything.
func waitForData(ctx context.Context, cfg Config, root Root) (DataChoice, error) {
	said := ""
	for {
		choice, err := ChooseData("/sys/block", "/dev", root)
		if err == nil || (!errors.Is(err, ErrNoDataDisk) && !errors.Is(err, ErrDataUnformatted)) {
			return choice, err
		}
		if err.Error() != said {
			cfg.Say("cannot start the mail service: %v; looking again every 5 s", err)
			said = err.Error()
		}
		if err := realSleep(ctx, 5*time.Second); err != nil {
			return DataChoice{}, err
		}
	}
}
