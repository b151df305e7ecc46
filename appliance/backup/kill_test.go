package backup

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"postroom/appliance/config"
	"postroom/storage"
)

const killEnv = "POSTROOM_BACKUP_KILL_CHILD"

// blockAfter writes the file reached after some bytes, then blocks: the
// parent kills the process there.
type blockAfter struct {
	Target
	reached string
}

type blockUpload struct {
	Upload
	reached string
	n       int
}

func (b blockAfter) Create(ctx context.Context, name string) (Upload, error) {
	u, err := b.Target.Create(ctx, name)
	return &blockUpload{Upload: u, reached: b.reached}, err
}

func (u *blockUpload) Write(p []byte) (int, error) {
	n, err := u.Upload.Write(p)
	u.n += n
	if u.n > 256<<10 {
		os.WriteFile(u.reached, nil, 0o600)
		select {} // killed here
	}
	return n, err
}

// killChild is the child process: a backup that stops half-way.
func killChild(dir string) {
	st, err := storage.Open(storage.Options{Dir: filepath.Join(dir, "store"), NoGC: true})
	if err != nil {
		panic(err)
	}
	cfg := config.DevDefault(dir)
	cfg.Hostname = "mail.example.com"
	cfg.Backup.Target, cfg.Backup.Folder, cfg.Backup.Recipient = "folder", filepath.Join(dir, "target"), os.Getenv(killEnv+"_RECIPIENT")
	m, err := New(Options{Store: st, DataDir: dir, Config: func() config.Config { return cfg }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return time.Date(2026, 3, 9, 2, 0, 0, 0, time.UTC) },
		OpenTarget: func(ctx context.Context, _ string, c config.BackupConfig) (Target, error) {
			return blockAfter{Target: Folder{Dir: c.Folder}, reached: filepath.Join(dir, "reached")}, nil
		}})
	if err != nil {
		panic(err)
	}
	m.Now(context.Background())
	panic("the backup was not stopped")
}

// TestKillDuringBackup: a backup process killed with SIGKILL half-way
// leaves the earlier backups restorable, the live store as it was, only a
// hidden partial file on the target, which the next backup removes.
func TestKillDuringBackup(t *testing.T) {
	if dir := os.Getenv(killEnv); dir != "" {
		killChild(dir)
		return
	}
	b := newBox(t)
	b.fill()
	first := b.backup()
	want := dump(t, b.st)
	// The child takes the store over: close it here first.
	if err := b.st.Close(); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(b.dir, "target")
	if err := os.Rename(b.target, target); err != nil {
		t.Fatal(err)
	}
	b.target = target
	b.cfg.Backup.Folder = target

	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringBackup$", "-test.count=1")
	cmd.Env = append(os.Environ(), killEnv+"="+b.dir, killEnv+"_RECIPIENT="+b.cfg.Backup.Recipient)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reached := filepath.Join(b.dir, "reached")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(reached); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the child did not get half-way: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	ents, _ := os.ReadDir(target)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 2 || names[1] != first.Name || !strings.HasSuffix(names[0], ".partial") {
		t.Fatalf("target after the kill: %v", names)
	}
	b.st = b.openStore()
	if d := dump(t, b.st); d != want {
		t.Error("the live store changed")
	}
	if _, got := b.restore(first.Name); dump(t, got) != want {
		t.Error("the earlier backup does not restore as it was")
	}
	b.m = b.manager()
	b.backup()
	ents, _ = os.ReadDir(target)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".partial") {
			t.Errorf("the killed backup's partial file stays: %s", e.Name())
		}
	}
}
