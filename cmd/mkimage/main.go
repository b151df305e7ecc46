// Command mkimage builds Postroom's SD-card image for arm64 Raspberry Pis
// (see package sdimage in image/ for the layout):
//
//	go run ./cmd/mkimage [-o bin/postroom-arm64.img] [-gz=true] [-time UNIX] [-disk-id HEX] [-data-mib N]
//	                     [-update bin/postroom-arm64.update] [-key FILE] [-version V]
//
// With -update it also writes the signed update file of this build (root
// file system and boot files; appliance/update describes the format),
// which a running box installs from its web page or with postroomctl
// update. The signing key is -key, else the file named by
// $POSTROOM_UPDATE_KEY, else bin/update-dev.key, made on first use: a
// development key, never committed (bin/ is ignored), whose boxes accept
// only updates built on this machine. The image carries the public half
// (/etc/postroom/update.pub) and its version (/etc/postroom/release.json).
//
// It cross-compiles the board's programs (CGO_ENABLED=0 GOOS=linux
// GOARCH=arm64: /init from cmd/postroom-init, /bin/postroom and
// /bin/postroomctl), takes the firmware and kernel from the modules pinned
// in go.mod, and writes the image and a gzip copy of it. Two runs on the
// same commit write the same bytes: every time in the image is the last
// commit's time (or -time, or SOURCE_DATE_EPOCH).
//
// Run it from the repository (make image does); it needs the go command
// and mke2fs (e2fsprogs).
package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"postroom/appliance/update"
	sdimage "postroom/image"
)

// defaultDiskID is the MBR signature of every Postroom image. Any fixed
// value would do; what matters is that it never changes, so that
// cmdline.txt's root=PARTUUID=... stays valid across updates.
const defaultDiskID = 0x50727231

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	out := flags.String("o", "bin/postroom-arm64.img", "image `file` to write")
	gz := flags.Bool("gz", true, "also write FILE.gz, for Raspberry Pi Imager and downloads")
	epoch := flags.Int64("time", 0, "Unix `time` for every timestamp (default: SOURCE_DATE_EPOCH, else the last commit's time)")
	diskID := flags.String("disk-id", strconv.FormatUint(defaultDiskID, 16), "MBR disk signature, 8 hex digits")
	dataMiB := flags.Int64("data-mib", sdimage.DefaultLayout.DataMiB, "size of the data partition in MiB (a multiple of 4)")
	goCmd := flags.String("go", "go", "the go `command`")
	updateOut := flags.String("update", "", "also write the signed update `file` of this build")
	keyFile := flags.String("key", os.Getenv("POSTROOM_UPDATE_KEY"), "ed25519 private key `file` (hex seed) that signs updates (default: $POSTROOM_UPDATE_KEY, else bin/update-dev.key, made if missing)")
	version := flags.String("version", "", "version for people (default: the build time, 2006.01.02-1504)")
	fault := flags.String("selftest-fault", "", "for tests only: build an appliance whose update self-test fails with this `text` (a build made to be rolled back)")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	id, err := strconv.ParseUint(*diskID, 16, 32)
	if err != nil {
		return fmt.Errorf("-disk-id %q: %w", *diskID, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	t, err := buildTime(ctx, *epoch)
	if err != nil {
		return err
	}
	began := time.Now()
	key, err := signingKey(*keyFile, "bin/update-dev.key")
	if err != nil {
		return err
	}
	rel := update.Release{Version: *version, Serial: t.Unix(), Arch: "arm64"}
	if rel.Version == "" {
		rel.Version = t.Format("2006.01.02-1504")
	}
	relJSON, err := json.Marshal(rel)
	if err != nil {
		return err
	}
	firmware, err := sdimage.ModuleDir(ctx, *goCmd, sdimage.FirmwareModule)
	if err != nil {
		return err
	}
	kernel, err := sdimage.ModuleDir(ctx, *goCmd, sdimage.KernelModule)
	if err != nil {
		return err
	}
	bins, err := os.MkdirTemp("", "mkimage")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bins)
	if err := buildBinaries(ctx, *goCmd, bins, *fault); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	layout := sdimage.DefaultLayout
	layout.DataMiB = *dataMiB
	err = sdimage.Build(ctx, sdimage.Options{
		Output:      *out,
		DiskID:      uint32(id),
		Time:        t,
		Layout:      layout,
		FirmwareDir: firmware,
		KernelDir:   kernel,
		Root: []sdimage.File{
			{Path: "init", Mode: 0o755, Src: filepath.Join(bins, "postroom-init")},
			{Path: "bin/postroom", Mode: 0o755, Src: filepath.Join(bins, "postroom")},
			{Path: "bin/postroomctl", Mode: 0o755, Src: filepath.Join(bins, "postroomctl")},
			{Path: sdimage.ReleasePath, Data: append(relJSON, '\n')},
			{Path: sdimage.PublicKeyPath, Data: update.FormatPublicKey(key.Public().(ed25519.PublicKey))},
			// The init mounts the DNS servers from DHCP over this file
			// (appliance/boot/net_linux.go): the root is read-only.
			{Path: "etc/resolv.conf", Mode: 0o644, Data: []byte("# no DHCP lease yet\n")},
		},
	})
	if err != nil {
		return err
	}
	fmt.Printf("mkimage: wrote %s (%s, root=PARTUUID=%s)\n", *out, size(*out), sdimage.PartUUID(uint32(id), sdimage.PartRootA))
	if *gz {
		if err := gzipFile(*out, *out+".gz", t); err != nil {
			return err
		}
		fmt.Printf("mkimage: wrote %s (%s)\n", *out+".gz", size(*out+".gz"))
	}
	if *updateOut != "" {
		m := update.Manifest{Version: rel.Version, Serial: rel.Serial, Arch: rel.Arch}
		if err := writeUpdate(*updateOut, *out, m, key); err != nil {
			return err
		}
		fmt.Printf("mkimage: wrote %s (%s, version %s)\n", *updateOut, size(*updateOut), rel.Version)
	}
	fmt.Printf("mkimage: took %s\n", time.Since(began).Round(100*time.Millisecond))
	return nil
}

// buildTime is the one time stamped everywhere in the image.
func buildTime(ctx context.Context, flagEpoch int64) (time.Time, error) {
	if flagEpoch > 0 {
		return time.Unix(flagEpoch, 0).UTC(), nil
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	b, err := exec.CommandContext(ctx, "git", "log", "-1", "--format=%ct").Output()
	if err != nil {
		return time.Time{}, fmt.Errorf("no -time, no SOURCE_DATE_EPOCH, and git log failed: %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("git log -1 --format=%%ct: %w", err)
	}
	return time.Unix(n, 0).UTC(), nil
}

// buildBinaries cross-compiles the board's programs into dir, reproducibly:
// no paths of this machine (-trimpath), no build id, no VCS stamp that a
// dirty tree would change.
func buildBinaries(ctx context.Context, goCmd, dir, fault string) error {
	ldflags := "-s -w -buildid="
	if fault != "" {
		ldflags += " -X 'postroom/appliance.selfTestFault=" + strings.ReplaceAll(fault, "'", "") + "'"
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-buildvcs=false",
		"-ldflags="+ldflags, "-o", dir+string(filepath.Separator),
		"./cmd/postroom-init", "./cmd/postroom", "./cmd/postroomctl")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build for linux/arm64: %w", err)
	}
	return nil
}

// gzipFile writes a gzip copy of src with a fixed header (name and time),
// so that it too is the same in every build.
func gzipFile(src, dst string, t time.Time) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, err := gzip.NewWriterLevel(bw, gzip.DefaultCompression)
	if err != nil {
		f.Close()
		return err
	}
	zw.Name = filepath.Base(src)
	zw.ModTime = t
	_, err = io.Copy(zw, bufio.NewReaderSize(in, 1<<20))
	for _, step := range []func() error{zw.Close, bw.Flush, f.Sync, f.Close} {
		if err == nil {
			err = step()
		}
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return os.Rename(tmp, dst)
}

func size(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB", float64(fi.Size())/(1<<20))
}

// signingKey reads the update signing key from path, or, when path is
// empty, from devPath, making a new development key there if there is
// none. The private key never goes into the image or the repository.
func signingKey(path, devPath string) (ed25519.PrivateKey, error) {
	if path == "" {
		path = devPath
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			_, k, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return nil, err
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(path, update.FormatPrivateKey(k), 0o600); err != nil {
				return nil, err
			}
			fmt.Printf("mkimage: made a development signing key %s (keep it: boxes built with it accept only updates signed by it)\n", path)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	k, err := update.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return k, nil
}

// writeUpdate writes the signed update file of the image img.
func writeUpdate(out, img string, m update.Manifest, key ed25519.PrivateKey) error {
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	bw := bufio.NewWriterSize(f, 1<<20)
	err = sdimage.WriteUpdate(bw, img, m, key)
	for _, step := range []func() error{bw.Flush, f.Sync, f.Close} {
		if err == nil {
			err = step()
		}
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", out, err)
	}
	return os.Rename(tmp, out)
}
