package sdimage

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// vm is an emulated arm64 machine booting an image: the Pi's bootloader
// cannot be emulated (FIRMWARE.md), so qemu loads the kernel itself, with
// the command line the Pi would read from cmdline.txt but qemu's serial
// port. -snapshot sends every write to a temporary overlay: the image stays
// as built, and every boot is a first boot.
type vm struct {
	cmd   *exec.Cmd
	start time.Time
	next  int    // waitFor's place in lines
	last  string // the line waitFor found last

	mu    sync.Mutex
	lines []string      // the console so far
	ended bool          // qemu closed the console
	more  chan struct{} // closed when a line comes or the console ends
}

func startVM(t *testing.T, ctx context.Context, img, kernelDir string, diskID uint32, appendArgs string, net ...string) *vm {
	return startVMWith(t, ctx, img, kernelDir, diskID, PartRootA, appendArgs, true, net...)
}

// startVMWith is startVM, with -snapshot only if snapshot is true (a test
// that checks what the box wrote boots a copy of its own), from root
// partition rootPart (an update test plays the Pi's firmware: it reads
// cmdline.txt before each boot).
func startVMWith(t *testing.T, ctx context.Context, img, kernelDir string, diskID uint32, rootPart int, appendArgs string, snapshot bool, net ...string) *vm {
	t.Helper()
	qemu, err := exec.LookPath("qemu-system-aarch64")
	if err != nil {
		t.Skip("qemu-system-aarch64 not installed (make deps installs qemu-system-arm)")
	}
	// One CPU: it boots as fast here as two (faster under load) and leaves
	// the host's other core to the tests that run beside it.
	args := []string{
		"-M", "virt", "-cpu", "cortex-a72", "-smp", "1", "-m", "512",
		"-nographic", "-monitor", "none", "-no-reboot",
		"-kernel", filepath.Join(kernelDir, "vmlinuz"),
		"-append", "console=ttyAMA0 root=PARTUUID=" + PartUUID(diskID, rootPart) +
			" rootfstype=squashfs ro rootwait init=/init panic=-1 " + appendArgs,
		"-drive", "file=" + img + ",if=none,format=raw,id=sd",
		"-device", "virtio-blk-pci,drive=sd",
	}
	if snapshot {
		args = append(args, "-snapshot")
	}
	if len(net) == 0 {
		args = append(args, "-nic", "none")
	}
	args = append(args, net...)
	cmd := exec.CommandContext(ctx, qemu, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	v := &vm{cmd: cmd, start: time.Now(), more: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// One reader for the machine's life, so that qemu never blocks on a
	// full pipe and a test can wait for more lines at any time.
	go func() {
		console := bufio.NewScanner(stdout)
		for console.Scan() {
			v.mu.Lock()
			v.lines = append(v.lines, strings.TrimRight(console.Text(), "\r"))
			close(v.more)
			v.more = make(chan struct{})
			v.mu.Unlock()
		}
		v.mu.Lock()
		v.ended = true
		close(v.more)
		v.mu.Unlock()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return v
}

// waitFor waits until each of want has appeared on the console, in order,
// after what the last waitFor found; it fails the test if the console
// ends first (qemu exits when the test's context ends).
func (v *vm) waitFor(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		for found := false; !found; {
			v.mu.Lock()
			for ; v.next < len(v.lines) && !found; v.next++ {
				found = strings.Contains(v.lines[v.next], w)
				if found {
					v.last = v.lines[v.next]
				}
			}
			ended, more := v.ended, v.more
			v.mu.Unlock()
			switch {
			case found:
				t.Logf("%5.1fs %s", time.Since(v.start).Seconds(), v.last)
			case ended:
				t.Fatalf("the console never showed %q; its last lines:\n%s", w, v.tail(40))
			default:
				<-more
			}
		}
	}
}

// waitForWithin is waitFor, ending the machine (and so the test) if the
// lines have not all come within bound.
func (v *vm) waitForWithin(t *testing.T, bound time.Duration, want ...string) {
	t.Helper()
	timer := time.AfterFunc(bound, func() { v.cmd.Process.Kill() })
	defer timer.Stop()
	v.waitFor(t, want...)
}

// tail returns the console's last n lines.
func (v *vm) tail(n int) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return strings.Join(v.lines[max(0, len(v.lines)-n):], "\n")
}

// TestBootUnderQemu boots the test image, with the real init
// (cmd/postroom-init) and a stand-in appliance (testdata/fakeappliance;
// the real one takes minutes to cross-compile): the kernel.rpi kernel must
// mount root A by its PARTUUID and run /init, which must mount the data
// partition and start the appliance, and start it again after it crashes.
func TestBootUnderQemu(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a virtual machine")
	}
	img, o := sharedImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	v := startVM(t, ctx, img, o.KernelDir, o.DiskID, "")
	v.waitFor(t,
		fmt.Sprintf("postroom-init: root file system is partition 2 of disk %08x", o.DiskID),
		"postroom-init: data disk /dev/vda4 (SD card) mounted on /data",
		"postroom-init: boot number 1",
		"fake-appliance: first start, wrote /data/postroom/fake-appliance-probe and crashing on purpose",
		"fake-appliance: restarted after a crash",
	)
}

// TestBootBadDataDisk boots copies of the test image whose data partition
// is blank or damaged: the init must say so on the console and keep
// waiting, and must not format or write the partition.
func TestBootBadDataDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("boots virtual machines")
	}
	img, o := sharedImage(t)
	spans, _, _ := testLayout.spans()
	data := spans[PartData-1]
	cases := []struct {
		name   string
		damage func(f *os.File) error
		want   []string
	}{
		{
			name:   "blank",
			damage: func(f *os.File) error { _, err := f.WriteAt(make([]byte, 4096), data.start); return err },
			want:   []string{"postroom-init: cannot start the mail service: /dev/vda4: the data partition holds no Postroom file system; looking again every 5 s"},
		},
		{
			// The label is still there, but the kernel refuses a block
			// size of 2^(10+64): the mount fails.
			name:   "damaged",
			damage: func(f *os.File) error { _, err := f.WriteAt([]byte{64, 0, 0, 0}, data.start+1024+24); return err },
			want:   []string{"postroom-init: cannot go on: mount /dev/vda4 on /data", "postroom-init: waiting"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			copyPath := filepath.Join(t.TempDir(), "bad.img")
			copySparse(t, img, copyPath)
			f, err := os.OpenFile(copyPath, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.damage(f); err != nil {
				t.Fatal(err)
			}
			before := make([]byte, 64<<10)
			if _, err := f.ReadAt(before, data.start); err != nil {
				t.Fatal(err)
			}
			f.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			v := startVMWith(t, ctx, copyPath, o.KernelDir, o.DiskID, PartRootA, "", false)
			v.waitFor(t, c.want...)
			v.cmd.Process.Kill()
			v.cmd.Wait()
			after := make([]byte, len(before))
			f, err = os.Open(copyPath)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.ReadAt(after, data.start); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Error("the init wrote to the data partition it could not use")
			}
		})
	}
}

// copySparse copies an image, leaving its zero MiBs as holes.
func copySparse(t *testing.T, from, to string) {
	t.Helper()
	fi, err := os.Stat(from)
	if err != nil {
		t.Fatal(err)
	}
	copySpanSparse(t, from, to, 0, fi.Size())
}

// copySpanSparse copies size bytes of from at offset off (a partition) to
// a new file to, leaving its zero MiBs as holes.
func copySpanSparse(t *testing.T, from, to string, off, size int64) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	buf := make([]byte, 1<<20)
	for n := int64(0); n < size; n += int64(len(buf)) {
		chunk := buf[:min(int64(len(buf)), size-n)]
		if _, err := in.ReadAt(chunk, off+n); err != nil {
			t.Fatal(err)
		}
		if !allZero(chunk) {
			if _, err := out.WriteAt(chunk, n); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := out.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

// TestBootImageSMTP boots an image made by make image, the real appliance
// in it, and measures the time from qemu's start to the SMTP banner on the
// host's side of a forwarded port. It runs only when told which image:
//
//	POSTROOM_BOOT_IMAGE=$PWD/bin/postroom-arm64.img go test -run TestBootImageSMTP -v ./image
//
// The kernel's own DHCP client (ip=dhcp) configures the network until the
// init has one of its own.
func TestBootImageSMTP(t *testing.T) {
	img := os.Getenv("POSTROOM_BOOT_IMAGE")
	if img == "" {
		t.Skip("set POSTROOM_BOOT_IMAGE to an image made by make image")
	}
	_, k := moduleDirs(t)
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	diskID := uint32(0x50727231) // cmd/mkimage's
	v := startVM(t, ctx, img, k, diskID, "ip=dhcp",
		"-netdev", "user,id=n,restrict=on,hostfwd=tcp:127.0.0.1:"+strconv.Itoa(port)+"-:25",
		"-device", "virtio-net-pci,netdev=n,romfile=")
	v.waitFor(t, "postroom-init: data disk", "postroom is running")
	for ctx.Err() == nil {
		banner, err := readBanner(ctx, port)
		if err == nil && strings.HasPrefix(banner, "220 ") {
			t.Logf("%5.1fs SMTP banner from the host's side: %q", time.Since(v.start).Seconds(), banner)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatal("no SMTP banner before the deadline")
}

func readBanner(ctx context.Context, port int) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// freePort finds a loopback port for qemu's forwarding rule. (qemu cannot
// be handed a listener; another process could take the port in between,
// which would fail this opt-in test, not hide a fault.)
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
