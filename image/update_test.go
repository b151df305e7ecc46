package sdimage

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postroom/appliance/update"
	"postroom/appliance/update/updatetest"
)

// TestTrialOnImage runs the A/B walks (updatetest) on the boot partition
// of a copy of the test image, through go-diskfs: cmdline.txt and the
// state file are rewritten in the FAT file system the Pi's firmware reads,
// and fsck.fat must still find it clean afterwards.
func TestTrialOnImage(t *testing.T) {
	img, _ := sharedImage(t)
	updatetest.RunTrialCases(t, func(t *testing.T, cmdline string) update.BootFS {
		cp := filepath.Join(t.TempDir(), "walk.img")
		copySparse(t, img, cp)
		b, err := OpenBoot(cp, true)
		if err != nil {
			t.Fatal(err)
		}
		// The walks start from the test's own command line (disk id
		// 50727231), not the test image's.
		if err := b.WriteFile("cmdline.txt", []byte(cmdline)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Error(err)
			}
			fsckBoot(t, cp)
		})
		return b
	})
}

// fsckBoot runs fsck.fat -n on the boot partition of img, if installed.
func fsckBoot(t *testing.T, img string) {
	t.Helper()
	if _, err := exec.LookPath("fsck.fat"); err != nil {
		t.Log("fsck.fat not installed (make deps installs dosfstools)")
		return
	}
	out, err := exec.Command("fsck.fat", "-n", extract(t, img, PartBoot)).CombinedOutput()
	if err != nil {
		t.Errorf("fsck.fat -n: %v\n%s", err, out)
	}
}

// testUpdate writes an update file made from img, signed with priv.
func testUpdate(t *testing.T, img string, priv ed25519.PrivateKey, serial int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "postroom.update")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := update.Manifest{Version: "test-" + time.Unix(serial, 0).UTC().Format("20060102"), Serial: serial, Arch: "arm64"}
	if err := WriteUpdate(f, img, m, priv); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUpdateOnImage installs an update made from the test image into root
// B of a copy of it, as the box does on its SD card: the written partition
// must hold the same squashfs as root A (unsquashfs reads it), cmdline.txt
// must name root B for the trial, and a kept trial puts the staged boot
// files in place.
func TestUpdateOnImage(t *testing.T) {
	img, _ := sharedImage(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	upd := testUpdate(t, img, priv, testTime.Unix()+1)
	fi, _ := os.Stat(upd)
	t.Logf("update file: %.1f MiB", float64(fi.Size())/(1<<20))

	box := filepath.Join(t.TempDir(), "box.img")
	copySparse(t, img, box)
	disk, err := os.OpenFile(box, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	start, size, err := PartitionSpan(disk, PartRootB)
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(upd)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	running := update.Release{Version: "test", Serial: testTime.Unix(), Arch: "arm64"}
	o, err := update.Open(in, fi.Size(), pub, "arm64", running)
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenBoot(box, true)
	if err != nil {
		t.Fatal(err)
	}
	tgt := update.Target{W: io.NewOffsetWriter(disk, start), R: io.NewSectionReader(disk, start, size), Size: size, Sync: disk.Sync}
	if err := update.Install(context.Background(), o, tgt, b); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := update.BeginTrial(b, PartRootA, running, o.Manifest.Release(), "", now); err != nil {
		t.Fatal(err)
	}
	cl, _ := b.ReadFile("cmdline.txt")
	if !strings.Contains(string(cl), "root=PARTUUID="+PartUUID(testDiskID, PartRootB)+" ") {
		t.Errorf("cmdline.txt for the trial: %q", cl)
	}
	// The old kernel stays until the trial is kept.
	if _, err := b.ReadFile(update.StagedDir + "/vmlinuz"); err != nil {
		t.Errorf("kernel not staged: %v", err)
	}
	if got, _, _ := update.AtBoot(b, PartRootB, now); got != update.BootTrial {
		t.Fatalf("AtBoot on root B: %v", got)
	}
	if _, err := update.Keep(b, PartRootB, now); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	a, err := RootSquashfs(disk, PartRootA)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := RootSquashfs(disk, PartRootB)
	if err != nil {
		t.Fatal(err)
	}
	if a.Size() != rb.Size() || fileHash(t, a) != fileHash(t, rb) {
		t.Error("root B does not hold root A's squashfs")
	}
	if _, err := exec.LookPath("unsquashfs"); err == nil {
		if out, err := exec.Command("unsquashfs", "-s", extract(t, box, PartRootB)).CombinedOutput(); err != nil {
			t.Errorf("unsquashfs -s on root B: %v\n%s", err, out)
		}
	}
	fsckBoot(t, box)
}

func fileHash(t *testing.T, r io.Reader) [32]byte {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// BenchmarkInstallUpdate is the time to apply an update on this machine:
// open and check the file, verify every payload, write the root to a
// file standing for root B, read it back, stage the boot files in a
// folder (the board's mounted /boot). The file is the test image's
// update, or a make-image one:
//
//	POSTROOM_UPDATE_FILE=$PWD/bin/postroom-arm64.update POSTROOM_UPDATE_PUB=<hex key> \
//	  go test -run '^$' -bench InstallUpdate -benchtime 3x ./image
func BenchmarkInstallUpdate(b *testing.B) {
	path, pubHex := os.Getenv("POSTROOM_UPDATE_FILE"), os.Getenv("POSTROOM_UPDATE_PUB")
	var pub ed25519.PublicKey
	if path == "" {
		img, _ := sharedImage(b)
		var priv ed25519.PrivateKey
		pub, priv, _ = ed25519.GenerateKey(rand.Reader)
		path = filepath.Join(b.TempDir(), "bench.update")
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := WriteUpdate(f, img, update.Manifest{Version: "bench", Serial: 2, Arch: "arm64"}, priv); err != nil {
			b.Fatal(err)
		}
		f.Close()
	} else {
		var err error
		if pub, err = update.ParsePublicKey([]byte(pubHex)); err != nil {
			b.Fatal(err)
		}
	}
	in, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	fi, _ := in.Stat()
	b.SetBytes(fi.Size())
	target := filepath.Join(b.TempDir(), "rootB")
	for b.Loop() {
		o, err := update.Open(in, fi.Size(), pub, "arm64", update.Release{Serial: 1})
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.OpenFile(target, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		tgt := update.Target{W: f, R: f, Size: DefaultLayout.RootMiB << 20, Sync: f.Sync}
		if err := update.Install(context.Background(), o, tgt, update.DirBoot(b.TempDir())); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
