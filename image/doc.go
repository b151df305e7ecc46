// Package sdimage builds Postroom's SD-card image for arm64 Raspberry Pis
// (Pi 3, 4, 5, Zero 2 W). The layout, on an MBR with a fixed disk signature
// so that PARTUUIDs never change between builds:
//
//	p1  FAT32     boot: Pi firmware, kernel, DTBs, overlays, config.txt, cmdline.txt
//	p2  squashfs  root A: /init and our static binaries (read-only)
//	p3  (empty)   root B: an update writes the next root here, then boots it
//	p4  ext4      data: config.json, tls/ and the mail store
//
// The firmware and kernel come from two data-only Go modules pinned in go.mod
// (github.com/gokrazy/firmware, github.com/gokrazy/kernel.rpi) and are read
// from the module cache (ModuleDir), so one commit always takes the same
// files. Build is reproducible: every timestamp is Options.Time, entries are
// written in sorted order, and the identifiers a file system would pick at
// random (FAT volume id, ext4 UUID and hash seed) are derived from
// Options.DiskID.
//
// Only cmd/mkimage and tests import this package: the board's own binaries
// (cmd/postroom-init, cmd/postroom) must not link it.
//
// The package is named sdimage, not image: a package called image would
// collide with the standard library's image package, which the display code
// in hw uses.
package sdimage
