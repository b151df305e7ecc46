//go:build !linux

package boot

import (
	"context"
	"errors"
)

// Run is PID 1's work, which exists only on Linux (the board).
func Run(ctx context.Context, cfg Config) error {
	return errors.New("boot: the init runs only on Linux")
}
