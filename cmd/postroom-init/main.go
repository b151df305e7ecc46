// Command postroom-init is the board's init (PID 1): the kernel starts it
// from the read-only root as /init (cmdline.txt: init=/init). It mounts
// what the appliance needs, runs /bin/postroom under a supervisor, and
// reboots when told to stop (SIGTERM) or when it cannot go on.
//
// It refuses to run as any other process: it mounts file systems and
// reboots the machine. See package appliance/boot.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"postroom/appliance/boot"
)

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "postroom-init: this is the board's init and runs only as process 1 (see appliance/boot)")
		os.Exit(2)
	}
	cfg := boot.Config{Log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	cfg.Say("Postroom is starting")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := boot.Run(ctx, cfg)
	stop()
	if err != nil {
		// The box cannot serve mail (no data disk, a corrupt one, ...):
		// say so, and reboot slowly rather than spin, since PID 1 must
		// never exit.
		cfg.Say("cannot go on: %v", err)
		cfg.Say("restarting in 60 seconds")
		time.Sleep(60 * time.Second)
	}
	reboot()
}
