package sdimage

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBootUnderQemu boots the test image, with the real init
// (cmd/postroom-init) and a stand-in appliance (testdata/fakeappliance;
// the real one takes minutes to cross-compile), on an emulated arm64
// machine: the kernel.rpi kernel must mount root A by its PARTUUID and run
// /init, which must mount the data partition and start the appliance, and
// start it again after it crashes. The Pi's bootloader cannot be emulated
// (FIRMWARE.md): qemu loads the kernel itself, with the command line the
// Pi would read from cmdline.txt, but with qemu's serial port.
func TestBootUnderQemu(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a virtual machine")
	}
	qemu, err := exec.LookPath("qemu-system-aarch64")
	if err != nil {
		t.Skip("qemu-system-aarch64 not installed (make deps installs qemu-system-arm)")
	}
	img, o := sharedImage(t)
	want := []string{
		fmt.Sprintf("postroom-init: root file system is partition 2 of disk %08x", o.DiskID),
		"postroom-init: data disk /dev/vda4 (SD card) mounted on /data",
		"fake-appliance: first start, wrote /data/postroom/fake-appliance-probe and crashing on purpose",
		"fake-appliance: restarted after a crash",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu,
		"-M", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", "512",
		"-nographic", "-monitor", "none", "-no-reboot", "-nic", "none",
		"-kernel", filepath.Join(o.KernelDir, "vmlinuz"),
		"-append", "console=ttyAMA0 root=PARTUUID="+PartUUID(o.DiskID, PartRootA)+
			" rootfstype=squashfs ro rootwait init=/init panic=-1",
		// -snapshot: writes go to a temporary overlay, so the shared
		// image stays as built and every boot is a first boot.
		"-snapshot", "-drive", "file="+img+",if=none,format=raw,id=sd",
		"-device", "virtio-blk-pci,drive=sd")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()

	var console []string
	found := 0
	sc := bufio.NewScanner(stdout)
	for found < len(want) && sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		console = append(console, line)
		if strings.Contains(line, want[found]) {
			t.Logf("%5.1fs %s", time.Since(start).Seconds(), line)
			found++
		}
	}
	if found < len(want) {
		tail := console[max(0, len(console)-40):]
		t.Fatalf("the console never showed %q (ctx: %v); its last lines:\n%s", want[found], ctx.Err(), strings.Join(tail, "\n"))
	}
}
