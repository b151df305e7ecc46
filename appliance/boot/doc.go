// Package boot is Postroom's init: the first program the kernel starts on
// the board (PID 1, cmd/postroom-init). It mounts /proc, /sys, /dev and
// /tmp on the read-only squashfs root, brings up the loopback interface,
// chooses the data disk (ChooseData: a USB disk labelled postroom-data,
// else the SD card's fourth partition; a blank disk is never formatted
// without an administrator), mounts it on /data, and runs the appliance
// (/bin/postroom) under a Supervisor that restarts it with back-off.
//
// Why our own init and not the gokrazy runtime (github.com/gokrazy/gokrazy):
// gokrazy's init brings its own web interface on port 80 with its own
// password, its own update protocol (unsigned HTTP PUT of a root file
// system) and its own partition and path conventions (/gokrazy, /user,
// /perm). Postroom's web pages own port 80, its updates must be signed,
// checked and rolled back after a failed self-test, and its status page
// and LEDs must show crashes. What PID 1 must do for that is small (this
// package), and each piece can be tested off the board: the back-off on an
// injected clock, the disk choice over a fake /sys/block and /dev.
//
// Still to come (issue 14): kernel modules, DHCP and IPv6 set-up, NTP and
// the saved clock, mDNS, the hardware watchdog, zombie reaping for
// grandchildren, the A/B update with trial boot and rollback.
//
// Nothing here may import the image builder (image/): the board's binary
// must stay small.
package boot
