//go:build !linux

package usbdisk

import (
	"errors"
	"os"
)

var errNoMount = errors.New("disks are mounted only on the board (Linux)")

func mount(dev, dir, fstype, data string) error { return errNoMount }
func unmountOnce(dir string) error              { return errNoMount }
func isBusy(err error) bool                     { return false }
func syncFS(dir string)                         {}
func reReadPartitions(f *os.File)               {}

func usedBytes(dir string) (int64, error) { return 0, errNoMount }
