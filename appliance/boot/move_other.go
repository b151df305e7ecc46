//go:build !linux

package boot

import (
	"errors"
	"os"
)

// The move runs only on the board; these keep move.go building elsewhere.

func freeBytes(string) (int64, error) {
	return 0, errors.New("boot: free space is known only on Linux")
}

func dropCache(*os.File) {}
