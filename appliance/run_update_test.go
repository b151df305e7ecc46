package appliance

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postroom/appliance/admin"
	"postroom/appliance/config"
	"postroom/appliance/status"
	"postroom/appliance/update"
	"postroom/internal/testutil"
	"postroom/storage"
)

// testBox is a box's update side without a board: a folder for the boot
// partition, a file for the spare root, a key of the test's own.
type testBox struct {
	boot     update.DirBoot
	spare    string // the spare root "partition"
	pattern  []byte // what the spare root holds before any write
	pub      ed25519.PublicKey
	priv     ed25519.PrivateKey
	rebooted chan struct{}
}

const boxCmdline = "console=serial0,115200 root=PARTUUID=50727231-02 rootfstype=squashfs ro rootwait init=/init\n"

func newTestBox(t *testing.T) *testBox {
	t.Helper()
	b := &testBox{boot: update.DirBoot(t.TempDir()), spare: filepath.Join(t.TempDir(), "p3")}
	var err error
	if b.pub, b.priv, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	if err := b.boot.WriteFile("cmdline.txt", []byte(boxCmdline)); err != nil {
		t.Fatal(err)
	}
	b.pattern = bytes.Repeat([]byte("spare root "), 400000)
	if err := os.WriteFile(b.spare, b.pattern, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

// options are what the init would give the appliance on root part.
func (b *testBox) options(part int, rel update.Release, trial bool) *UpdateOptions {
	b.rebooted = make(chan struct{})
	rebooted := b.rebooted
	return &UpdateOptions{
		Boot: b.boot, Root: part, PublicKey: b.pub, Release: rel, Trial: trial,
		OpenTarget: func() (update.Target, io.Closer, error) { return openDevice(b.spare) },
		Boots:      3, DataDisk: "/dev/vda4 (SD card)", Started: time.Now().Add(-time.Hour),
		Reboot:      func() error { close(rebooted); return nil },
		RebootDelay: time.Millisecond,
	}
}

// file writes an update file for rel with a root of random bytes.
func (b *testBox) file(t *testing.T, rel update.Release, priv ed25519.PrivateKey) (string, []byte) {
	t.Helper()
	root := make([]byte, 1<<20+17)
	rand.Read(root)
	var out bytes.Buffer
	m := update.Manifest{Version: rel.Version, Serial: rel.Serial, Arch: rel.Arch}
	if err := update.Write(&out, m, priv, bytes.NewReader(root), []update.Payload{{Name: "vmlinuz", R: bytes.NewReader([]byte("new kernel"))}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "postroom.update")
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, root
}

// startBox runs the appliance with u until it serves, as startPanel does.
func startBox(t *testing.T, cfg config.Config, u *UpdateOptions) *running {
	t.Helper()
	r := &running{bus: status.NewBus(status.Snapshot{}), stdout: &testutil.SyncBuffer{}, log: &testutil.SyncBuffer{},
		done: make(chan error, 1), maint: NewMaintenance()}
	var ctx context.Context
	ctx, r.cancel = context.WithCancel(context.Background())
	go func() {
		r.done <- RunOptions(ctx, cfg, Options{
			Logger: slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Bus:    r.bus, Stdout: r.stdout, Maintenance: r.maint, Update: u,
		})
	}()
	t.Cleanup(func() { r.stop(t) })
	r.waitFor(t, "the services to serve", func(s status.Snapshot) bool {
		sv, _ := s.Service(ServiceIMAP)
		return sv.State == status.ServiceListening && s.Phase != status.PhaseBooting
	})
	return r
}

var (
	v1 = update.Release{Version: "1.0", Serial: 100, Arch: "arm64"}
	v2 = update.Release{Version: "2.0", Serial: 200, Arch: "arm64"}
)

// updateConfig is the test config with IMAP on, and one account made
// before the first start.
func updateConfig(t *testing.T) config.Config {
	c := testConfig(t)
	c.Listen.IMAP = "127.0.0.1:0"
	c.Listen.Submission = "127.0.0.1:0" // the self-test sends there
	st, err := storage.Open(storage.Options{Dir: filepath.Join(c.DataDir, "store"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.CreateAccount(boxUser, boxPassword); err != nil {
		t.Fatal(err)
	}
	return c
}

const (
	boxUser     = "alice@example.test"
	boxPassword = "password-alice"
)

// TestUpdateKeptAfterSelfTest walks journey 7 on one machine: files that
// must be refused are, with the spare root untouched; a good one is
// written, the store snapshotted, the trial begun and the box restarted;
// the "new version" (the same program, told it is on trial) passes its
// self-test, a real message over SMTP and IMAP, and is kept; the mail
// delivered before is still there, and the status shows both versions.
func TestUpdateKeptAfterSelfTest(t *testing.T) {
	box := newTestBox(t)
	cfg := updateConfig(t)
	r := startBox(t, cfg, box.options(update.RootA, v1, false))
	sendMail(t, r.addr(t, ServiceSMTP), cfg, "someone@other.test", boxUser)

	ctx := context.Background()
	c, err := admin.Dial(ctx, admin.SocketPath(cfg.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	bad, _ := box.file(t, v2, otherKey)
	old, _ := box.file(t, update.Release{Version: "0.9", Serial: 90, Arch: "arm64"}, box.priv)
	for _, tc := range []struct{ name, file, want string }{
		{"wrong key", bad, "not signed by Postroom's key"},
		{"older", old, "not newer"},
		{"relative path", "postroom.update", "full path"},
		{"missing", filepath.Join(t.TempDir(), "none"), "cannot read"},
	} {
		_, err := admin.Call[admin.UpdateResult](ctx, c, "test", admin.InstallUpdate{File: tc.file})
		if err == nil || admin.CodeOf(err) != admin.CodeInvalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v (%s), want invalid: %q", tc.name, err, admin.CodeOf(err), tc.want)
		}
	}
	if got, _ := os.ReadFile(box.spare); !bytes.Equal(got, box.pattern) {
		t.Fatal("a refused update wrote the spare root")
	}

	good, root := box.file(t, v2, box.priv)
	res, err := admin.Call[admin.UpdateResult](ctx, c, "test", admin.InstallUpdate{File: good})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Note)
	select {
	case <-box.rebooted:
	case <-time.After(time.Minute):
		t.Fatal("the box was not restarted")
	}
	if got, _ := os.ReadFile(box.spare); !bytes.Equal(got[:len(root)], root) {
		t.Fatal("the spare root does not hold the new root")
	}
	if fi, err := os.Stat(filepath.Join(cfg.DataDir, snapshotFile)); err != nil || fi.Size() == 0 {
		t.Fatalf("no store snapshot: %v", err)
	}
	if part, _ := update.CmdlineRoot(box.boot); part != update.RootB {
		t.Fatalf("cmdline.txt names root %d", part)
	}
	r.stop(t)

	// The init's part at the restart (appliance/boot): count the trial.
	if what, _, err := update.AtBoot(box.boot, update.RootB, time.Now()); err != nil || what != update.BootTrial {
		t.Fatalf("AtBoot: %v %v", what, err)
	}
	r = startBox(t, cfg, box.options(update.RootB, v2, true))
	s := r.waitFor(t, "the update to be kept", func(s status.Snapshot) bool {
		return strings.HasPrefix(s.System.LastUpdate, "updated from 1.0 to 2.0") && s.Phase != status.PhaseUpdating
	})
	if s.System.Version != "2.0" || s.System.OtherVersion != "1.0" || s.System.Boots != 3 || s.System.DataDisk == "" {
		t.Errorf("System = %+v", s.System)
	}
	st, _ := update.ReadState(box.boot, update.RootB)
	if st.Committed != update.RootB || st.Trial != 0 {
		t.Errorf("state after the trial: %+v", st)
	}
	if k, _ := box.boot.ReadFile("vmlinuz"); string(k) != "new kernel" {
		t.Errorf("the kept update's kernel is not in place: %q", k)
	}
	inbox := imapInbox(t, r.addr(t, ServiceIMAP), boxUser, boxPassword)
	if inbox != 1 {
		t.Errorf("INBOX holds %d messages after the update, want the 1 delivered before", inbox)
	}
}

// TestUpdateRolledBackAfterFailedSelfTest: a new version whose self-test
// fails points the box back at the old root and restarts it; the old
// version then shows "update failed, rolled back" and keeps the mail.
func TestUpdateRolledBackAfterFailedSelfTest(t *testing.T) {
	box := newTestBox(t)
	cfg := updateConfig(t)
	rel := update.Release{Version: "2.0", Serial: 200, Arch: "arm64"}
	if err := update.BeginTrial(box.boot, update.RootA, v1, rel, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if what, _, _ := update.AtBoot(box.boot, update.RootB, time.Now()); what != update.BootTrial {
		t.Fatalf("AtBoot: %v", what)
	}
	selfTestFault = "the test says so"
	defer func() { selfTestFault = "" }()
	r := startBox(t, cfg, box.options(update.RootB, rel, true))
	select {
	case <-box.rebooted:
	case <-time.After(2 * time.Minute):
		t.Fatalf("no restart after the failed self-test; log:\n%s", r.log.String())
	}
	r.stop(t)
	if part, _ := update.CmdlineRoot(box.boot); part != update.RootA {
		t.Fatalf("cmdline.txt names root %d after the rollback", part)
	}
	selfTestFault = ""
	r = startBox(t, cfg, box.options(update.RootA, v1, false))
	s := r.waitFor(t, "the rollback on the status", func(s status.Snapshot) bool { return s.System.LastUpdateFailed })
	att := s.Attention(time.Now())
	if len(att) != 1 || !strings.Contains(att[0], "Update failed, rolled back to 1.0") || !strings.Contains(att[0], "the test says so") {
		t.Errorf("Attention = %q, want the rollback once", att)
	}
	t.Log(att[0])
}

// TestUpdateWriteFails: the spare root fails part-way through the write
// (a failing SD card): the uploader is told, the box runs on from root A,
// and the status says the version was not installed and no longer names
// a version for the half-written root.
func TestUpdateWriteFails(t *testing.T) {
	box := newTestBox(t)
	cfg := updateConfig(t)
	// Root B held 1.0 before this update.
	if err := update.BeginTrial(box.boot, update.RootA, v1, v1, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := update.RollBack(box.boot, update.RootB, "an earlier walk", time.Now()); err != nil {
		t.Fatal(err)
	}
	u := box.options(update.RootA, v1, false)
	u.OpenTarget = func() (update.Target, io.Closer, error) {
		tgt, c, err := openDevice(box.spare)
		tgt.W = failAfter{w: tgt.W, n: 1 << 20}
		return tgt, c, err
	}
	// An upload a power cut left in the spool goes at the start.
	left := filepath.Join(cfg.DataDir, uploadDir, "upload-1.update")
	if err := os.MkdirAll(filepath.Dir(left), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(left, []byte("half an update"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startBox(t, cfg, u)
	if _, err := os.Stat(left); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the upload left by a power cut is still there: %v", err)
	}
	ctx := context.Background()
	c, err := admin.Dial(ctx, admin.SocketPath(cfg.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	good, _ := box.file(t, v2, box.priv)
	if _, err := admin.Call[admin.UpdateResult](ctx, c, "test", admin.InstallUpdate{File: good}); err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("install on a failing card: %v", err)
	}
	s := r.waitFor(t, "the failed install on the status", func(s status.Snapshot) bool {
		return strings.Contains(s.System.LastUpdate, "not installed")
	})
	if want := "version 2.0 was not installed (update: write the new root: write at 1048576: input/output error); version 1.0 runs on"; s.System.LastUpdate != want || s.System.OtherVersion != "" {
		t.Errorf("status: %q, other root %q; want %q and none", s.System.LastUpdate, s.System.OtherVersion, want)
	}
	if part, _ := update.CmdlineRoot(box.boot); part != update.RootA {
		t.Errorf("cmdline.txt names root %d", part)
	}
}

// failAfter is a spare root whose writes fail from byte n on.
type failAfter struct {
	w io.WriterAt
	n int64
}

func (f failAfter) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.n {
		return 0, fmt.Errorf("write at %d: %w", off, syscall.EIO)
	}
	return f.w.WriteAt(p, off)
}

// TestCrashesAreAProblem: the init's count of crashes in a row reaches
// the status (and with it the red LED and the display).
func TestCrashesAreAProblem(t *testing.T) {
	box := newTestBox(t)
	u := box.options(update.RootA, v1, false)
	u.Crashes = 4
	r := startBox(t, updateConfig(t), u)
	s := r.bus.Latest()
	if att := strings.Join(s.Attention(time.Now()), " | "); !strings.Contains(att, "crashed 4 times in a row") {
		t.Errorf("Attention = %q", att)
	}
}

func imapInbox(t *testing.T, addr, user, password string) uint32 {
	t.Helper()
	c, err := imapclient.DialStartTLS(addr, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return sel.NumMessages
}

// TestRollbackRestoresNewerStore: a new version that changed the store's
// format and was then rolled back leaves a store the old version refuses
// (storage.ErrSchemaNewer); the old version restores the snapshot the
// update took, keeps the newer store aside, and the mail is there.
func TestRollbackRestoresNewerStore(t *testing.T) {
	box := newTestBox(t)
	cfg := updateConfig(t)
	r := startBox(t, cfg, box.options(update.RootA, v1, false))
	sendMail(t, r.addr(t, ServiceSMTP), cfg, "someone@other.test", boxUser)
	ctx := context.Background()
	c, err := admin.Dial(ctx, admin.SocketPath(cfg.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	good, _ := box.file(t, v2, box.priv)
	if _, err := admin.Call[admin.UpdateResult](ctx, c, "test", admin.InstallUpdate{File: good}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	<-box.rebooted
	r.stop(t)

	// The new version's start: it writes its newer schema marker (the
	// key storage/internal/keys.Meta("schema") names), then fails.
	storeDir := filepath.Join(cfg.DataDir, "store")
	db, err := badger.Open(badger.DefaultOptions(storeDir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("\x01schema"), []byte{99}) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := update.AtBoot(box.boot, update.RootB, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := update.RollBack(box.boot, update.RootB, "the test failed it", time.Now()); err != nil {
		t.Fatal(err)
	}

	r = startBox(t, cfg, box.options(update.RootA, v1, false))
	if n := imapInbox(t, r.addr(t, ServiceIMAP), boxUser, boxPassword); n != 1 {
		t.Errorf("INBOX holds %d messages after the restore, want 1", n)
	}
	st, _ := update.ReadState(box.boot, update.RootA)
	if st.RestorePending {
		t.Error("the restore is still pending")
	}
	aside, _ := filepath.Glob(storeDir + ".newer-*")
	if len(aside) != 1 {
		t.Errorf("the newer store was not kept aside: %v", aside)
	}
	if !strings.Contains(r.log.String(), "restoring the copy taken before the update") {
		t.Error("the log does not say the store was restored")
	}
}
