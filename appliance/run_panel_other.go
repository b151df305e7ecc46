//go:build !linux

package appliance

import "errors"

var errNotLinux = errors.New("only read on Linux")

func diskSpace(dir string) (free, total uint64, err error) { return 0, 0, errNotLinux }

func kernelClockSynced() (bool, error) { return false, errNotLinux }
