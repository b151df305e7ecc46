package sdimage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// The data partition is made by e2fsprogs' mke2fs, not by go-diskfs.
//
// go-diskfs v1.9.4 can write ext4, but not reproducibly: it draws the
// directory hash seed from crypto/rand with no way to pass one, and stamps
// the superblock and the root and lost+found inodes with time.Now; patching
// those afterwards means recomputing every metadata checksum. mke2fs takes
// the UUID (-U) and hash seed (-E hash_seed) on its command line and all its
// times from E2FSPROGS_FAKE_TIME, and writes straight into the image at the
// partition's offset. Two runs of the same e2fsprogs give the same bytes
// (TestBuildReproducible); another e2fsprogs version may choose other
// defaults, which is why `make deps` installs Debian's.

// Mke2fs is the mke2fs program Build runs; tests and callers may point it
// elsewhere. It is looked up in PATH and in /sbin and /usr/sbin, where
// Debian keeps it out of a normal user's PATH.
var Mke2fs = "mke2fs"

func mke2fsPath() (string, error) {
	if p, err := exec.LookPath(Mke2fs); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin/", "/sbin/"} {
		if p, err := exec.LookPath(dir + Mke2fs); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("data: %s not found: install e2fsprogs (make deps)", Mke2fs)
}

// writeData formats the span of img as ext4 labelled DataLabel.
func writeData(ctx context.Context, img string, sp span, diskID uint32, t time.Time) error {
	prog, err := mke2fsPath()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, prog,
		"-q", "-F", "-t", "ext4", "-b", "4096",
		"-L", DataLabel,
		"-U", derivedUUID(diskID, "data"),
		// nodiscard: never send TRIM to the file; the lazy-init settings
		// zero the tables now, so the board's kernel has nothing left to do
		// in the background on a fresh card.
		"-E", fmt.Sprintf("offset=%d,hash_seed=%s,nodiscard,lazy_itable_init=0,lazy_journal_init=0",
			sp.start, derivedUUID(diskID, "data hash seed")),
		img, strconv.FormatInt(sp.size>>10, 10)+"k")
	cmd.Env = append(os.Environ(),
		"E2FSPROGS_FAKE_TIME="+strconv.FormatInt(t.Unix(), 10),
		// A user's ~/.mke2fs.conf must not change what we build.
		"MKE2FS_CONFIG=/etc/mke2fs.conf",
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("data: mke2fs: %w: %s", err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}
