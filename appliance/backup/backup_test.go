package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"postroom/appliance/config"
	"postroom/appliance/usbdisk"
	"postroom/internal/testutil"
	"postroom/storage"
	"postroom/storage/storagetest"
)

var ctx = context.Background()

// box is a data folder with a live store, its files, and a Manager backing
// it up to a folder target with a fresh recovery key.
type box struct {
	t       *testing.T
	dir     string
	st      *storage.Store
	cfg     config.Config
	key     *age.X25519Identity
	target  string
	m       *Manager
	clock   *testutil.Clock
	wrap    func(Target) Target // tests' target wrappers
	usb     *usbdisk.Host       // the USB disks the box sees (usb_test.go)
	mu      sync.Mutex
	lastSum []Progress
}

func newBox(t *testing.T) *box {
	t.Helper()
	b := &box{t: t, dir: t.TempDir(), target: t.TempDir(), clock: testutil.NewClock(time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC))}
	b.st = b.openStore()
	// The store open at the end (a test may close and reopen it) is
	// checked and closed.
	t.Cleanup(func() {
		if err := b.st.Check(ctx); err != nil {
			t.Errorf("store check after test: %v", err)
		}
		b.st.Close()
	})
	secret, public, err := NewRecoveryKey()
	if err != nil {
		t.Fatal(err)
	}
	if b.key, err = ParseRecoveryKey(secret); err != nil {
		t.Fatal(err)
	}
	b.cfg = config.DevDefault(b.dir)
	b.cfg.Hostname = "mail.example.com"
	b.cfg.Backup.Target, b.cfg.Backup.Folder, b.cfg.Backup.Recipient = "folder", b.target, public
	if err := b.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"config.json":       `{"hostname": "mail.example.com"}` + "\n",
		"tls/cert.pem":      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
		"tls/key.pem":       "-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n",
		"dkim/ed25519.pem":  "ed25519 key\n",
		"dkim/rsa.pem":      "rsa key\n",
		"dev-outbox/x.eml":  "not part of a backup\n",
		"backup/other.json": "the box's own state: not in a backup\n",
	} {
		p := filepath.Join(b.dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b.m = b.manager()
	return b
}

func (b *box) openStore() *storage.Store {
	b.t.Helper()
	st, err := storage.Open(storage.Options{Dir: filepath.Join(b.dir, "store"), NoGC: true,
		Logger: slog.New(slog.NewTextHandler(testutil.LogWriter{TB: b.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		b.t.Fatal(err)
	}
	return st
}

func (b *box) manager() *Manager {
	b.t.Helper()
	m, err := New(Options{
		Store: b.st, DataDir: b.dir,
		Config: func() config.Config { b.mu.Lock(); defer b.mu.Unlock(); return b.cfg },
		Logger: slog.New(slog.NewTextHandler(testutil.LogWriter{TB: b.t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Now:    b.clock.Now,
		Progress: func(p Progress) {
			b.mu.Lock()
			b.lastSum = append(b.lastSum, p)
			b.mu.Unlock()
		},
		OpenTarget: func(ctx context.Context, dataDir string, c config.BackupConfig) (Target, error) {
			t, err := OpenTargetOn(ctx, dataDir, c, b.usb)
			if err == nil && b.wrap != nil {
				t = b.wrap(t)
			}
			return t, err
		},
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return m
}

// backup runs one backup a day after the last (so the rotation keeps
// each), and wants it proven.
func (b *box) backup() Result {
	b.t.Helper()
	b.clock.Set(b.clock.Now().Add(24 * time.Hour))
	res, err := b.m.Now(ctx)
	if err != nil {
		b.t.Fatalf("backup: %v", err)
	}
	if !res.OK() {
		b.t.Fatalf("backup not proven: %+v", res)
	}
	return res
}

func (b *box) deliver(acct storage.AccountID, mailbox, body string) storage.Delivered {
	b.t.Helper()
	out, err := b.st.Deliver(ctx, storage.Delivery{Recipients: []storage.Recipient{{Account: acct, Mailbox: mailbox}}}, strings.NewReader(body))
	if err != nil {
		b.t.Fatalf("deliver: %v", err)
	}
	return out[0]
}

// fill gives the store many shapes: accounts with aliases, a catch-all
// and a quota; folders (nested, special-use, unsubscribed); flags and
// keywords; a large message; broken ones (no header end, bare LF and CR,
// NUL, a "From " line); 8-bit text; a body shared by two accounts; an
// expunged message and a deleted folder.
func (b *box) fill() {
	t := b.t
	alice := storagetest.Account(t, b.st, "alice@example.com")
	bob := storagetest.Account(t, b.st, "bob@example.com")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.st.AddAddress("alice@example.com", "info@example.com"))
	must(b.st.AddAddress("bob@example.com", "@example.org"))
	must(b.st.SetQuota("bob@example.com", 50<<20))
	must(b.st.SetAdmin("alice@example.com", true))
	for _, name := range []string{"Kunden", "Kunden/2025", "Projekte/Büro"} {
		if _, err := b.st.CreateMailbox(alice.ID, name, ""); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 30; i++ {
		b.deliver(alice.ID, "", fmt.Sprintf("From: x%d@example.net\r\nSubject: %d\r\n\r\nbody %d\r\n", i, i, i))
	}
	big := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 50000) // 3.2 MB
	b.deliver(alice.ID, "Archive", "Subject: big\r\n\r\n"+big)
	for _, broken := range []string{
		"no header end and no line end",
		"Subject: bare LF\nline\n\nbody\n",
		"Subject: bare CR\rline\r\rbody",
		"Subject: nul\r\n\r\nA\x00B\r\n",
		"Subject: from line\r\n\r\nFrom me to you\r\n>From quoted\r\n",
		"Subject: =?utf-8?q?B=C3=BCro?=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus dem Büro, ½ € \xff\xfe\r\n",
	} {
		b.deliver(alice.ID, "Projekte/Büro", broken)
	}
	out, err := b.st.Deliver(ctx, storage.Delivery{Recipients: []storage.Recipient{{Account: alice.ID}, {Account: bob.ID, Flags: storage.FlagFlagged}}}, strings.NewReader("Subject: to both\r\n\r\nshared body\r\n"))
	must(err)
	_ = out
	in, err := b.st.Mailbox(alice.ID, "INBOX")
	must(err)
	_, err = b.st.SetFlags(alice.ID, in.ID, []uint32{1, 2, 3}, storage.FlagsAdd, storage.FlagSeen|storage.FlagAnswered, []string{"$Work", "Projekt-X"})
	must(err)
	_, err = b.st.Expunge(alice.ID, in.ID, []uint32{4})
	must(err)
	_, err = b.st.CreateMailbox(bob.ID, "Gone", "")
	must(err)
	must(b.st.DeleteMailbox(bob.ID, "Gone"))
	must(b.st.SetSubscribed(alice.ID, "Kunden/2025", false))
}

// dump describes a store for comparison: accounts with their addresses,
// quotas and flags; mailboxes with UIDVALIDITY, UIDNEXT, special use and
// subscription; messages with UID, flags, keywords, date, size and the
// hash of their bytes.
func dump(t *testing.T, st *storage.Store) string {
	t.Helper()
	var w strings.Builder
	accts, err := st.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accts {
		slices.Sort(a.Addresses)
		fmt.Fprintf(&w, "account %s %v quota=%d usage=%d msgs=%d admin=%v\n", a.Name, a.Addresses, a.Quota, a.Usage, a.Messages, a.Admin)
		mbs, err := st.Mailboxes(a.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, mb := range mbs {
			fmt.Fprintf(&w, " mailbox %q v=%d next=%d use=%q sub=%v n=%d unseen=%d\n", mb.Name, mb.UIDValidity, mb.UIDNext, mb.SpecialUse, mb.Subscribed, mb.Messages, mb.Unseen)
			msgs, err := st.Messages(a.ID, mb.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				obj, err := st.Object(m.Object)
				if err != nil {
					t.Fatal(err)
				}
				body := st.OpenObjectBody(obj)
				h := sha256.New()
				if _, err := io.Copy(h, body.Reader()); err != nil {
					t.Fatal(err)
				}
				body.Close()
				fmt.Fprintf(&w, "  uid %d flags=%d kw=%v date=%d size=%d sha=%x\n", m.UID, m.Flags, m.Keywords, m.InternalDate.UnixNano(), m.Size, h.Sum(nil)[:8])
			}
		}
	}
	return w.String()
}

// dumpDir is dump of the closed store in dir.
func dumpDir(t *testing.T, dir string) string {
	t.Helper()
	st := storagetest.OpenOptions(t, storage.Options{Dir: dir, NoGC: true})
	return dump(t, st)
}

// restore restores the target's newest backup into a fresh folder and
// returns the folder and its opened store.
func (b *box) restore(name string) (string, *storage.Store) {
	b.t.Helper()
	dir := filepath.Join(b.t.TempDir(), "data")
	res, err := RestoreBox(ctx, RestoreOptions{DataDir: dir, Target: Folder{Dir: b.target}, Key: b.key, Name: name})
	if err != nil {
		b.t.Fatalf("restore: %v", err)
	}
	if res.Accounts == 0 {
		b.t.Fatalf("restore: %+v", res)
	}
	return dir, storagetest.OpenOptions(b.t, storage.Options{Dir: filepath.Join(dir, "store"), NoGC: true})
}

func TestRoundTripWholeBox(t *testing.T) {
	b := newBox(t)
	b.fill()
	res := b.backup()
	if res.Kind != KindFull || res.Size == 0 || len(res.Removed) != 0 {
		t.Fatalf("first backup: %+v", res)
	}
	want := dump(t, b.st)
	dir, got := b.restore("")
	if d := dump(t, got); d != want {
		t.Errorf("restored store differs:\n--- restored\n%s--- live\n%s", d, want)
	}
	for _, f := range []string{"config.json", "tls/cert.pem", "tls/key.pem", "dkim/ed25519.pem", "dkim/rsa.pem"} {
		a, _ := os.ReadFile(filepath.Join(b.dir, f))
		c, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || !bytes.Equal(a, c) {
			t.Errorf("%s: restored %q (%v), want %q", f, c, err, a)
		}
	}
	for _, f := range []string{"dev-outbox/x.eml", "backup/other.json", "backup/box.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s was restored: it is not part of a backup", f)
		}
	}
	// Login works on the restored box with the same password.
	if _, err := got.Authenticate("alice@example.com", "password-alice@example.com"); err != nil {
		t.Errorf("login on the restored store: %v", err)
	}
	// The progress ended with the result and the verified date.
	p := b.m.Progress()
	if p.Running || p.Last == nil || p.Last.Name != res.Name || !p.LastVerified.Equal(res.Verified) {
		t.Errorf("progress after the backup: %+v", p)
	}
	// A restore into a folder that is not empty is refused.
	if _, err := RestoreBox(ctx, RestoreOptions{DataDir: b.dir, Target: Folder{Dir: b.target}, Key: b.key}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("restore over the live box: %v", err)
	}
}

func TestIncrementalChainAndFullEvery(t *testing.T) {
	b := newBox(t)
	b.cfg.Backup.FullEvery = 3
	b.fill()
	alice, _ := b.st.Account("alice@example.com")
	kinds := []string{}
	var names []string
	var dumps []string
	for i := 0; i < 5; i++ {
		if i > 0 {
			for j := 0; j < 20; j++ {
				b.deliver(alice.ID, "", fmt.Sprintf("Subject: round %d %d\r\n\r\nnew\r\n", i, j))
			}
			in, _ := b.st.Mailbox(alice.ID, "INBOX")
			b.st.Expunge(alice.ID, in.ID, []uint32{uint32(5 + i)})
			b.st.SetFlags(alice.ID, in.ID, []uint32{uint32(10 + i)}, storage.FlagsAdd, storage.FlagDeleted, []string{fmt.Sprintf("k%d", i)})
		}
		res := b.backup()
		if res.Kind == KindIncremental && res.Changed*2 > res.Records {
			t.Errorf("incremental %d wrote %d of %d records", i, res.Changed, res.Records)
		}
		kinds = append(kinds, res.Kind)
		names = append(names, res.Name)
		dumps = append(dumps, dump(t, b.st))
	}
	if want := []string{"full", "incr", "incr", "full", "incr"}; !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
	for i, name := range names {
		_, got := b.restore(name)
		if d := dump(t, got); d != dumps[i] {
			t.Errorf("restore of %s (%s) differs from the store then:\n%s\n---\n%s", name, kinds[i], d, dumps[i])
		}
	}
	list, err := List(ctx, Folder{Dir: b.target})
	if err != nil || len(list) != 5 || list[0].Name != names[4] || !slices.Equal(list[0].Chain, names[3:5]) || !slices.Equal(list[2].Chain, names[0:3]) {
		t.Errorf("list: %+v %v", list, err)
	}
}

// TestRestoreDetectsDamage: a changed byte, a cut file, a wrong key, a
// newer format, an edited header, a missing chain part: each refused with
// its own words, and nothing left half-restored that looks complete.
func TestRestoreDetectsDamage(t *testing.T) {
	b := newBox(t)
	b.fill()
	full := b.backup()
	alice, _ := b.st.Account("alice@example.com")
	b.deliver(alice.ID, "", "Subject: later\r\n\r\nlater\r\n")
	incr := b.backup()
	orig, err := os.ReadFile(filepath.Join(b.target, full.Name))
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := age.GenerateX25519Identity()
	cases := []struct {
		name   string
		change func([]byte) []byte
		key    age.Identity
		want   error
		words  string
	}{
		{"byte changed", func(f []byte) []byte { f[len(f)/2] ^= 1; return f }, nil, ErrDamaged, "damaged"},
		{"cut short", func(f []byte) []byte { return f[:len(f)*2/3] }, nil, ErrDamaged, "damaged or cut short"},
		{"last byte missing", func(f []byte) []byte { return f[:len(f)-1] }, nil, ErrDamaged, "damaged"},
		{"wrong key", nil, otherKey, ErrWrongKey, "made for another key"},
		{"newer format", func(f []byte) []byte {
			return bytes.Replace(f, []byte("postroom-backup 1\n"), []byte("postroom-backup 2\n"), 1)
		}, nil, ErrNewer, "newer Postroom"},
		{"header edited", func(f []byte) []byte {
			return bytes.Replace(f, []byte(`"box":"mail.example.com"`), []byte(`"box":"mail.example.org"`), 1)
		}, nil, ErrDamaged, "plain header was changed"},
		{"not a backup", func(f []byte) []byte { return []byte("hello\n") }, nil, ErrNotBackup, "not a Postroom backup"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := bytes.Clone(orig)
			if c.change != nil {
				f = c.change(f)
			}
			if err := os.WriteFile(filepath.Join(b.target, full.Name), f, 0o600); err != nil {
				t.Fatal(err)
			}
			key := c.key
			if key == nil {
				key = b.key
			}
			dir := filepath.Join(t.TempDir(), "data")
			_, err := RestoreBox(ctx, RestoreOptions{DataDir: dir, Target: Folder{Dir: b.target}, Key: key, Name: full.Name})
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.words) {
				t.Errorf("restore: %v, want %v with %q", err, c.want, c.words)
			}
		})
	}
	os.WriteFile(filepath.Join(b.target, full.Name), orig, 0o600)
	// The incremental alone, its full backup gone.
	os.Rename(filepath.Join(b.target, full.Name), filepath.Join(b.target, "elsewhere"))
	_, err = RestoreBox(ctx, RestoreOptions{DataDir: filepath.Join(t.TempDir(), "d"), Target: Folder{Dir: b.target}, Key: b.key, Name: incr.Name})
	if err == nil || !strings.Contains(err.Error(), "is missing") {
		t.Errorf("restore without the full backup: %v", err)
	}
	if _, err := ParseRecoveryKey("AGE-SECRET-KEY-1XYZ"); err == nil {
		t.Error("a bad recovery key was accepted")
	}
	// As printed: in groups, lower case, with age-keygen's comments.
	spaced := "# created: 2026\n" + strings.ToLower(b.key.String()[:20]) + " " + b.key.String()[20:40] + "\n" + b.key.String()[40:]
	if k, err := ParseRecoveryKey(spaced); err != nil || k.String() != b.key.String() {
		t.Errorf("typed recovery key: %v", err)
	}
}

// damaging corrupts what the verification reads back from the target.
type damaging struct {
	Target
	flip bool
}

func (d damaging) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	rc, err := d.Target.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	if d.flip && len(b) > 2000 {
		b[len(b)-1000] ^= 0x40
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// TestVerificationFailsOnDamage: a backup that does not read back as
// written is a failed backup: the error says so, the chain restarts with
// a full one, and the previous backups stay.
func TestVerificationFailsOnDamage(t *testing.T) {
	b := newBox(t)
	b.fill()
	first := b.backup()
	b.wrap = func(t Target) Target { return damaging{Target: t, flip: true} }
	b.clock.Set(b.clock.Now().Add(time.Minute))
	res, err := b.m.Now(ctx)
	if err == nil || res.VerifyError == "" || !res.Verified.IsZero() || !strings.Contains(err.Error(), "restore test failed") || !strings.Contains(res.VerifyError, "damaged") {
		t.Fatalf("damaged read-back: %v %+v", err, res)
	}
	if p := b.m.Progress(); !p.LastVerified.Equal(first.Verified) || p.Last.OK() {
		t.Errorf("progress: %+v", p)
	}
	b.wrap = nil
	res = b.backup()
	if res.Kind != KindFull {
		t.Errorf("after a failed verification: %s backup, want full", res.Kind)
	}
	b.restore(first.Name)
}

// fullDisk fails writes with err (ENOSPC: a full USB disk; EIO: one
// pulled out) after limit bytes.
type fullDisk struct {
	Target
	limit int64
	err   syscall.Errno
}

type fullUpload struct {
	Upload
	left int64
	err  syscall.Errno
}

func (f fullDisk) Create(ctx context.Context, name string) (Upload, error) {
	u, err := f.Target.Create(ctx, name)
	e := f.err
	if e == 0 {
		e = syscall.ENOSPC
	}
	return &fullUpload{Upload: u, left: f.limit, err: e}, err
}

func (u *fullUpload) Write(b []byte) (int, error) {
	if int64(len(b)) > u.left {
		n, _ := u.Upload.Write(b[:u.left])
		u.left = 0
		return n, &os.PathError{Op: "write", Path: "backup", Err: u.err}
	}
	u.left -= int64(len(b))
	return u.Upload.Write(b)
}

// TestFullTarget: a full disk, and a disk pulled out, mid-backup: clear
// words, no partial file, the earlier backup restores, the chain goes on.
func TestFullTarget(t *testing.T) {
	b := newBox(t)
	b.fill()
	first := b.backup()
	before := dump(t, b.st)
	b.wrap = func(t Target) Target { return fullDisk{Target: t, limit: 4 << 10} }
	alice, _ := b.st.Account("alice@example.com")
	b.deliver(alice.ID, "", "Subject: x\r\n\r\nx\r\n")
	b.clock.Set(b.clock.Now().Add(time.Minute))
	res, err := b.m.Now(ctx)
	if !errors.Is(err, ErrTargetFull) || !strings.Contains(res.Error, "the backup disk is full") {
		t.Fatalf("full disk: %v %+v", err, res)
	}
	ents, _ := os.ReadDir(b.target)
	if len(ents) != 1 || ents[0].Name() != first.Name {
		t.Errorf("target after the failed backup: %v", ents)
	}
	_, got := b.restore("")
	if d := dump(t, got); d != before {
		t.Error("the earlier backup does not restore as it was")
	}
	// The disk pulled out half-way: the same, in other words.
	b.wrap = func(t Target) Target { return fullDisk{Target: t, limit: 4 << 10, err: syscall.EIO} }
	b.clock.Set(b.clock.Now().Add(time.Minute))
	if res, err := b.m.Now(ctx); err == nil || !strings.Contains(res.Error, "went away during the backup") {
		t.Errorf("disk pulled out: %v %+v", err, res)
	}
	b.wrap = nil
	if res := b.backup(); res.Kind != KindIncremental {
		t.Errorf("after a failed write the chain goes on from the last good backup: got %s", res.Kind)
	}
}

func TestMissingFolderAndNoSetup(t *testing.T) {
	b := newBox(t)
	b.cfg.Backup.Folder = filepath.Join(b.target, "usb-not-mounted")
	_, err := b.m.Now(ctx)
	if err == nil || !strings.Contains(err.Error(), "is the USB disk plugged in") {
		t.Errorf("missing folder: %v", err)
	}
	if _, err := os.Stat(b.cfg.Backup.Folder); err == nil {
		t.Error("the backup made the missing folder")
	}
	b.cfg.Backup.Target = ""
	if _, err := b.m.Now(ctx); !errors.Is(err, ErrNoTarget) {
		t.Errorf("no target: %v", err)
	}
}

// gate blocks the backup's writes after some bytes until released, so a
// test can act while a backup is in the middle.
type gate struct {
	Target
	after   int64
	reached chan struct{}
	release chan struct{}
}

type gateUpload struct {
	Upload
	g    *gate
	n    int64
	once sync.Once
}

func (g *gate) Create(ctx context.Context, name string) (Upload, error) {
	u, err := g.Target.Create(ctx, name)
	return &gateUpload{Upload: u, g: g}, err
}

func (u *gateUpload) Write(b []byte) (int, error) {
	u.n += int64(len(b))
	if u.n > u.g.after {
		u.once.Do(func() {
			close(u.g.reached)
			<-u.g.release
		})
	}
	return u.Upload.Write(b)
}

// TestMailFlowsDuringBackup: while a backup is half written, deliveries
// and flag changes commit; the backup holds the snapshot of its start,
// and the next one the new mail.
func TestMailFlowsDuringBackup(t *testing.T) {
	b := newBox(t)
	b.fill()
	alice, _ := b.st.Account("alice@example.com")
	before := dump(t, b.st)
	g := &gate{after: 64 << 10, reached: make(chan struct{}), release: make(chan struct{})}
	b.wrap = func(t Target) Target { g.Target = t; return g }
	done := make(chan error, 1)
	b.clock.Set(b.clock.Now().Add(time.Minute))
	go func() { _, err := b.m.Now(ctx); done <- err }()
	select {
	case <-g.reached:
	case err := <-done:
		t.Fatalf("backup ended before the gate: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("backup did not get going")
	}
	if _, err := b.m.Now(ctx); !errors.Is(err, ErrBusy) {
		t.Errorf("second backup at once: %v", err)
	}
	if p := b.m.Progress(); !p.Running || p.Step != "saving" || p.Done == 0 {
		t.Errorf("progress mid-backup: %+v", p)
	}
	for i := 0; i < 10; i++ {
		b.deliver(alice.ID, "", fmt.Sprintf("Subject: during %d\r\n\r\nwhile the backup runs\r\n", i))
	}
	after := dump(t, b.st)
	close(g.release)
	if err := <-done; err != nil {
		t.Fatalf("backup: %v", err)
	}
	b.wrap = nil
	_, got := b.restore("")
	if d := dump(t, got); d != before {
		t.Errorf("the backup is not the snapshot of its start")
	}
	b.backup()
	_, got = b.restore("")
	if d := dump(t, got); d != after {
		t.Errorf("the next backup misses the mail delivered during the first")
	}
}
