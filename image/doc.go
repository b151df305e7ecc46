// Package sdimage will build Postroom's SD-card image: the partition layout
// (FAT32 boot with firmware, kernel and DTBs; two squashfs roots A and B for
// safe updates; an ext4 data partition), the A/B update switch and the qemu
// boot test. None of it exists yet: the image builder comes with its own
// issue, and cmd/mkimage with it.
//
// The package is named sdimage, not image: a package called image would
// collide with the standard library's image package, which the display code
// in hw uses.
package sdimage
