// Package boot is Postroom's init: the first program the kernel starts on
// the board (PID 1, cmd/postroom-init). It mounts /proc, /sys, /dev and
// /tmp on the read-only squashfs root, brings up the loopback interface,
// arms the hardware watchdog, waits for the USB bus to settle, chooses the
// data disk (ChooseData: a USB disk labelled postroom-data, else the SD
// card's fourth partition; a blank disk is never formatted without an
// administrator, and without a usable disk it says why and looks again),
// mounts it on /data, counts the boot and sets a 1970 clock forward to the
// last known time (State), and runs the appliance (/bin/postroom) under a
// Supervisor that restarts it with back-off. On SIGTERM it stops the
// appliance, saves the clock and unmounts the data disk.
//
// Kernel modules: none to load. The kernel.rpi kernel has everything a
// wired box needs built in (ext4, squashfs, vfat, usb-storage, uas, the
// Ethernet of every supported Pi: smsc95xx, lan78xx, genet, macb; I2C and
// the bcm2835 watchdog); only Wi-Fi and Bluetooth are modules.
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
// Updates (trial.go, trial_linux.go; the format and the A/B state are
// appliance/update's): the init mounts the boot partition on /boot, counts
// a trial root's starts (a second start without a verdict rolls back and
// reboots), ends a trial whose appliance crashes TrialCrashes times in a
// row, and tells the appliance in its environment which root runs, the
// spare root's device, the trial, the boot count, the data disk and the
// crashes in a row (for the status page and the red LED).
//
// The network (net.go, net_linux.go): DHCPv4 on every wired interface,
// with a link-local address when no server answers; IPv6 comes from the
// kernel's autoconfiguration once the link is up. The clock (ntp.go,
// ntp_linux.go): SNTP against the time servers the DHCP lease names
// (option 42), then public pools, stepped and marked synchronised.
// A fixed address set on the web page (netconfig.go, netconfig_linux.go):
// once the data disk is mounted, the network section of its config.json
// may switch the first wired interface from DHCP to a fixed address.
//
// A bigger SD card (grow.go, grow_linux.go): when the data partition is
// the card's and the last one, and the card has room after it, the init
// extends it in the MBR to the end of the card before mounting it and
// grows the ext4 online afterwards (EXT4_IOC_RESIZE_FS); a partition
// table that is not the image's own layout is left alone.
//
// mDNS (mdns.go, mdns_linux.go): the box answers as postroom.local on each
// wired interface, with the addresses it has at the moment.
//
// Orphans (reap.go, reap_linux.go): PID 1 waits for every orphaned process
// as it exits, on SIGCHLD, but never for a child it started itself and
// waits for (the supervised appliance): those are started through the
// children registry, which the reaper consults under the same lock.
//
// Nothing here may import the image builder (image/): the board's binary
// must stay small.
package boot
