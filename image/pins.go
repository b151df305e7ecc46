//go:build modpins

package sdimage

// These imports are never built (no build uses the modpins tag). They keep
// the firmware and kernel modules, which hold data and an empty package,
// required in go.mod with go.sum entries, so `go mod tidy` does not drop
// them and ModuleDir finds the pinned version.
import (
	_ "github.com/gokrazy/firmware"
	_ "github.com/gokrazy/kernel.rpi"
)
