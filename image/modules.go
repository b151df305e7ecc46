package sdimage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
)

// The modules the boot partition's files come from. Their versions are the
// ones go.mod requires (pins.go keeps them there).
const (
	FirmwareModule = "github.com/gokrazy/firmware"
	KernelModule   = "github.com/gokrazy/kernel.rpi"
)

// ModuleDir downloads module mod at the version go.mod requires (a no-op
// when it is in the module cache already) and returns its folder there.
// It runs the go command gocmd from the current folder, which must be
// inside this module.
func ModuleDir(ctx context.Context, gocmd, mod string) (string, error) {
	cmd := exec.CommandContext(ctx, gocmd, "mod", "download", "-json", mod)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", fmt.Errorf("go mod download %s: %s", mod, info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w: %s", mod, err, bytes.TrimSpace(stderr.Bytes()))
	}
	if info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: no folder in %q", mod, out)
	}
	return info.Dir, nil
}
