// Package update installs signed updates on the box's spare root partition
// and runs the trial boot that keeps them or rolls them back (issue 14,
// PRODUCT.md journey 7).
//
// The map:
//
//	format.go   the update file: header, signed manifest, payloads; Write
//	            (mkimage signs) and Open/Verify (the box checks), the
//	            refusals (ErrTruncated, ErrSignature, ErrArch, ...)
//	install.go  Install: verify every byte, stream the root to the inactive
//	            partition, read it back, stage the boot files; DirBoot
//	trial.go    the A/B state on the boot partition and its transitions:
//	            BeginInstall, InstallFailed, BeginTrial, AtBoot, Keep,
//	            RollBack
//
// Before the first byte of a new root is written, the state says an
// install is under way and the spare root holds nothing usable
// (BeginInstall): a power cut in the write is found by the next start
// (AtBoot answers BootInterrupted) and reported as "not installed".
//
// How a root is chosen. The Pi's firmware reads cmdline.txt from the boot
// partition and the kernel mounts the root it names (root=PARTUUID=
// DISKID-02 or -03). An update writes the inactive root, records a trial
// in postroom-update.json beside cmdline.txt, and points cmdline.txt at
// the new root. The new root's init counts its start (AtBoot): a second
// start without a verdict means the first crashed, hung (the watchdog
// reset the board) or lost power, and it points cmdline.txt back and
// reboots. The appliance's self-test decides the trial: Keep, or RollBack
// and reboot. The same works on every supported board (the firmware's own
// one-shot "tryboot" exists only on the Pi 4 and 5). Under qemu -M virt,
// which loads the kernel itself, the test harness plays the firmware: it
// reads cmdline.txt from the image's boot partition before each boot.
//
// What it does not cover: a new kernel that cannot start the init at all.
// Boot files (kernel, device trees) are therefore staged and installed
// only when the trial is kept, so a trial always runs the kernel that
// booted the box before; a new kernel takes effect at the next restart.
package update
