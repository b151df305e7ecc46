// Command fakeappliance stands in for /bin/postroom in the qemu boot test
// (image/qemu_test.go), which would otherwise spend minutes cross-compiling
// the real one. It takes the same -data flag. On its first start it
// writes a file there and crashes on purpose; started again by the init's
// supervisor, it finds the file, says so, and runs until stopped.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	data := flag.String("data", "", "data folder")
	flag.Parse()
	probe := filepath.Join(*data, "fake-appliance-probe")
	if _, err := os.Stat(probe); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(*data, 0o700); err != nil {
			fmt.Println("fake-appliance: mkdir:", err)
			os.Exit(1)
		}
		if err := os.WriteFile(probe, []byte("written by the first start\n"), 0o600); err != nil {
			fmt.Println("fake-appliance: write:", err)
			os.Exit(1)
		}
		syscall.Sync()
		fmt.Println("fake-appliance: first start, wrote", probe, "and crashing on purpose")
		os.Exit(3)
	}
	fmt.Printf("fake-appliance: restarted after a crash as pid %d, found %s\n", os.Getpid(), probe)
	// Run until the init stops it. A bare select{} with no other goroutine
	// is a deadlock Go ends at once, and the init would restart it forever.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	fmt.Println("fake-appliance: stopped")
}
