package boot

import (
	"fmt"
	"io"
	"log/slog"
	"os"
)

// Config says what Run starts and where. The zero value is the board's.
type Config struct {
	Program string   // the appliance ("" = /bin/postroom)
	Args    []string // nil = -data <DataDir>/postroom
	DataDir string   // where the data file system is mounted ("" = /data)
	// Console receives the lines a person reads on the serial console.
	Console io.Writer
	Log     *slog.Logger
	// OnExit, if set, is told about each run of the appliance.
	OnExit func(Exit)
}

// Say writes one "postroom-init: ..." line to the console. The qemu boot
// test waits for these lines.
func (c Config) Say(format string, args ...any) {
	w := c.Console
	if w == nil {
		w = os.Stdout
	}
	fmt.Fprintf(w, "postroom-init: "+format+"\n", args...)
}
