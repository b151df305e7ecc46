package boot

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"postroom/appliance/usbdisk"
	"postroom/storage"
)

// The move's tests: two temporary folders stand for the SD card's data
// file system (src) and the new USB disk (dst). The source holds a real
// store with mail delivered through storage, the settings files around
// it, and what else a data disk holds; the copy is opened as a store and
// must show the same accounts, mailboxes, UIDs, flags and bodies.

const srcUUID = "0f3c5a4e-8d1b-4c2a-9e7f-1a2b3c4d5e6f"

// dataDisk fills src as a box's data file system and returns the
// store's picture (dumpStore).
func dataDisk(t *testing.T, src string) string {
	t.Helper()
	app := filepath.Join(src, "postroom")
	st, err := storage.Open(storage.Options{Dir: filepath.Join(app, "store")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	date := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	for i, name := range []string{"anna@office.example", "ben@office.example"} {
		a, err := st.CreateAccount(name, "correct horse battery staple")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateMailbox(a.ID, "Projects", ""); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 5+i; j++ {
			body := fmt.Sprintf("From: c%d@example.org\r\nTo: %s\r\nSubject: note %d\r\n\r\n%s\r\n", j, name, j, strings.Repeat("line of the letter\r\n", 200*j))
			mbox := "INBOX"
			if j%3 == 2 {
				mbox = "Projects"
			}
			if _, err := st.Append(ctx, a.ID, mbox, 0, nil, date.Add(time.Duration(j)*time.Hour), strings.NewReader(body)); err != nil {
				t.Fatal(err)
			}
		}
		mb, err := st.Mailbox(a.ID, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetFlags(a.ID, mb.ID, []uint32{1, 2}, storage.FlagsAdd, storage.FlagSeen|storage.FlagFlagged, []string{"$Work"}); err != nil {
			t.Fatal(err)
		}
	}
	want := dumpStore(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"postroom/config.json":        `{"domain": "office.example"}`,
		"postroom/tls/cert.pem":       "-----BEGIN CERTIFICATE-----\n",
		"postroom/tls/key.pem":        "-----BEGIN PRIVATE KEY-----\n",
		"postroom/dkim/2026.key":      "dkim key",
		"postroom/backup/state.json":  `{"last": "2026-12-01"}`,
		"postroom-init/boots":         "41\n",
		"postroom-init/clock":         "1796000000\n",
		"lost+found/#12":              "not the mail's",
		"postroom/tls/empty-file.txt": "",
	}
	for name, text := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("tls/cert.pem", filepath.Join(app, "cert-link")); err != nil {
		t.Fatal(err)
	}
	// A control socket a crashed appliance left: not copied.
	l, err := net.Listen("unix", filepath.Join(app, "c.sock"))
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	return want
}

// dumpStore pictures a store: accounts, mailboxes with UIDVALIDITY and
// UIDNEXT, messages with UID, flags, size and the body's SHA-256.
func dumpStore(t *testing.T, st *storage.Store) string {
	t.Helper()
	var b strings.Builder
	accts, err := st.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accts {
		fmt.Fprintf(&b, "account %s %v usage=%d messages=%d\n", a.Name, a.Addresses, a.Usage, a.Messages)
		mbs, err := st.Mailboxes(a.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, mb := range mbs {
			fmt.Fprintf(&b, "  mailbox %s validity=%d next=%d modseq=%d\n", mb.Name, mb.UIDValidity, mb.UIDNext, mb.HighestModSeq)
			msgs, err := st.Messages(a.ID, mb.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				body, err := st.OpenBody(m.Object)
				if err != nil {
					t.Fatal(err)
				}
				h := sha256.New()
				io.Copy(h, body.Reader())
				body.Close()
				fmt.Fprintf(&b, "    uid %d flags %v size %d sha %x\n", m.UID, m.AllFlags(), m.Size, h.Sum(nil)[:8])
			}
		}
	}
	return b.String()
}

// newDisk makes dst a freshly formatted data disk with the marker.
func newDisk(t *testing.T, dst, from string) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(dst, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}
	m := usbdisk.MoveMarker{FromUUID: from, FromDevice: "/dev/mmcblk0p4", At: time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC), By: "anna@office.example"}
	if err := usbdisk.WriteMoveMarker(dst, m); err != nil {
		t.Fatal(err)
	}
}

// checkCopy opens the copied store (its Check runs) and compares it and
// the files around it with the source.
func checkCopy(t *testing.T, src, dst, want string) {
	t.Helper()
	st, err := storage.Open(storage.Options{Dir: filepath.Join(dst, "postroom", "store")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Check(context.Background()); err != nil {
		t.Errorf("the copied store: %v", err)
	}
	if got := dumpStore(t, st); got != want {
		t.Errorf("the copied store differs:\n--- got\n%s--- want\n%s", got, want)
	}
	for _, name := range []string{"postroom/config.json", "postroom/tls/key.pem", "postroom/dkim/2026.key", "postroom/backup/state.json", "postroom-init/boots", "postroom-init/clock", "postroom/tls/empty-file.txt"} {
		a, _ := os.ReadFile(filepath.Join(src, name))
		b, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || string(a) != string(b) {
			t.Errorf("%s: copied %q (%v), source %q", name, b, err, a)
		}
		sa, _ := os.Stat(filepath.Join(src, name))
		sb, _ := os.Stat(filepath.Join(dst, name))
		if sa.Mode() != sb.Mode() || !sa.ModTime().Equal(sb.ModTime()) {
			t.Errorf("%s: mode %v time %v, source %v %v", name, sb.Mode(), sb.ModTime(), sa.Mode(), sa.ModTime())
		}
	}
	if l, err := os.Readlink(filepath.Join(dst, "postroom", "cert-link")); err != nil || l != "tls/cert.pem" {
		t.Errorf("link: %q %v", l, err)
	}
	for _, name := range []string{"postroom/c.sock", "lost+found/#12", usbdisk.MoveFile} {
		if _, err := os.Lstat(filepath.Join(dst, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is on the new disk: %v", name, err)
		}
	}
	if _, ok, err := usbdisk.ReadMoveMarker(dst); ok || err != nil {
		t.Errorf("the marker is still there: %v", err)
	}
}

func TestMove(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	want := dataDisk(t, src)
	newDisk(t, dst, srcUUID)
	before := treeSums(t, src)
	var console strings.Builder
	mv := &Mover{Src: src, Dst: dst, Say: func(f string, a ...any) { fmt.Fprintf(&console, f+"\n", a...) }}
	n, err := mv.Run(context.Background())
	if err != nil {
		t.Fatalf("move: %v\n%s", err, console.String())
	}
	if n == 0 {
		t.Error("nothing copied")
	}
	for _, line := range []string{"not copied (neither file, folder nor link): postroom/c.sock", "copying the mail and settings to the new disk: ", "copied 100%", "checking the copy", "the mail and settings are on the new disk"} {
		if !strings.Contains(console.String(), line) {
			t.Errorf("console lacks %q:\n%s", line, console.String())
		}
	}
	if !regexp.MustCompile(`new disk: \d+ files, \d+ MB, about 1 minute\n`).MatchString(console.String()) {
		t.Errorf("console lacks the size and time:\n%s", console.String())
	}
	// Each tenth is said once, in order.
	last := 0
	for _, m := range regexp.MustCompile(`copied (\d+)%`).FindAllStringSubmatch(console.String(), -1) {
		n, _ := strconv.Atoi(m[1])
		if n <= last {
			t.Errorf("progress %d%% after %d%%:\n%s", n, last, console.String())
		}
		last = n
	}
	checkCopy(t, src, dst, want)
	if after := treeSums(t, src); after != before {
		t.Errorf("the source changed:\n%s\n%s", before, after)
	}
	// A second run finds no marker and does nothing.
	if _, err := mv.Run(context.Background()); err == nil {
		t.Error("a move without a marker ran")
	}
}

// TestMoveCutShort: the power goes after a few files (the hook stops the
// copy, leaving what a power cut leaves); the marker is still there, the
// next start clears the partial copy, starts over and ends equal.
func TestMoveCutShort(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	want := dataDisk(t, src)
	newDisk(t, dst, srcUUID)
	cut := errors.New("power cut")
	for _, after := range []int{1, 4} {
		mv := &Mover{Src: src, Dst: dst, AfterFile: func(n int) error {
			if n == after {
				return cut
			}
			return nil
		}}
		if _, err := mv.Run(context.Background()); !errors.Is(err, cut) {
			t.Fatalf("cut after %d files: %v", after, err)
		}
		if _, ok, err := usbdisk.ReadMoveMarker(dst); !ok || err != nil {
			t.Fatalf("the marker went with the cut copy: %v", err)
		}
	}
	// A half-written file and a stray one, as a cut may leave them.
	os.WriteFile(filepath.Join(dst, "postroom", "store", "000001.vlog"), []byte("half"), 0o600)
	os.WriteFile(filepath.Join(dst, "stray"), []byte("x"), 0o600)
	if _, err := (&Mover{Src: src, Dst: dst}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkCopy(t, src, dst, want)
	if _, err := os.Stat(filepath.Join(dst, "stray")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the partial copy was not cleared: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dst, "lost+found")); err != nil {
		t.Errorf("lost+found went: %v", err)
	}
}

// TestMoveRefuses: a disk too small, a damaged copy, no marker. The
// marker stays, so the next start tries again; nothing is written on
// the source.
func TestMoveRefuses(t *testing.T) {
	src := t.TempDir()
	dataDisk(t, src)
	before := treeSums(t, src)
	t.Run("too small", func(t *testing.T) {
		dst := t.TempDir()
		newDisk(t, dst, srcUUID)
		mv := &Mover{Src: src, Dst: dst, Free: func(string) (int64, error) { return 70 << 20, nil }}
		_, err := mv.Run(context.Background())
		if !errors.Is(err, ErrMoveTooSmall) || !strings.Contains(err.Error(), "the disk has 73 MB free") {
			t.Fatalf("move: %v", err)
		}
		if _, ok, _ := usbdisk.ReadMoveMarker(dst); !ok {
			t.Error("the marker went")
		}
		if des, _ := os.ReadDir(dst); len(des) != 2 {
			t.Errorf("the disk holds %v", des)
		}
	})
	t.Run("no marker", func(t *testing.T) {
		dst := t.TempDir()
		os.WriteFile(filepath.Join(dst, "mail"), []byte("someone's"), 0o600)
		if _, err := (&Mover{Src: src, Dst: dst}).Run(context.Background()); err == nil {
			t.Fatal("a disk without a marker was cleared")
		}
		if b, _ := os.ReadFile(filepath.Join(dst, "mail")); string(b) != "someone's" {
			t.Error("a disk without a marker was written")
		}
	})
	t.Run("damaged marker", func(t *testing.T) {
		dst := t.TempDir()
		os.WriteFile(filepath.Join(dst, usbdisk.MoveFile), []byte("{\"version\": 1, \"from_"), 0o600)
		if _, err := (&Mover{Src: src, Dst: dst}).Run(context.Background()); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Fatalf("move: %v", err)
		}
	})
	t.Run("damaged copy", func(t *testing.T) {
		// The disk gives back other bytes than were written: the check
		// finds it, and the marker stays.
		dst := t.TempDir()
		newDisk(t, dst, srcUUID)
		mv := &Mover{Src: src, Dst: dst, AfterFile: func(int) error {
			p := filepath.Join(dst, "postroom", "config.json")
			if b, err := os.ReadFile(p); err == nil && b[0] == '{' {
				b[0] = '['
				os.WriteFile(p, b, 0o600)
			}
			return nil
		}}
		if _, err := mv.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "the copy of postroom/config.json differs") {
			t.Fatalf("move: %v", err)
		}
		if _, ok, _ := usbdisk.ReadMoveMarker(dst); !ok {
			t.Error("the marker went")
		}
	})
	t.Run("shut down", func(t *testing.T) {
		dst := t.TempDir()
		newDisk(t, dst, srcUUID)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := (&Mover{Src: src, Dst: dst}).Run(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("move: %v", err)
		}
		if _, ok, _ := usbdisk.ReadMoveMarker(dst); !ok {
			t.Error("the marker went")
		}
	})
	if after := treeSums(t, src); after != before {
		t.Errorf("the source changed")
	}
}

// treeSums lists every file under dir with its SHA-256 and mode.
func treeSums(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d", p, info.Mode(), info.ModTime().UnixNano())
		if info.Mode().IsRegular() {
			d, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %x", sha256.Sum256(d))
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
