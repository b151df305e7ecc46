// Command postroom-init is the board's init (PID 1): the kernel starts it
// from the read-only root as /init (cmdline.txt: init=/init). It mounts
// what the appliance needs, runs /bin/postroom under a supervisor, and
// reboots when told to stop (SIGTERM). When it cannot go on, it says why
// on the serial console and waits rather than reboot in a loop.
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
	// Run returns when told to stop; when it cannot go on it says why and
	// waits for that too. Either way PID 1 must never exit: reboot.
	boot.Run(ctx, cfg)
	stop()
	cfg.Say("restarting")
	reboot()
}
