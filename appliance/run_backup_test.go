package appliance

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"postroom/appliance/admin"
	"postroom/appliance/config"
	"postroom/appliance/status"
)

// TestBackupLive backs up the running box over its control socket while
// mail arrives over submission, shows "last verified restore" and a
// failed backup in the Snapshot (the red LED's list), and restores the
// whole box as an offline step: the box stops, restores, swaps, starts
// again with the backup's mail, and keeps what it had aside.
func TestBackupLive(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen.Submission = "127.0.0.1:0"
	if err := cfg.Save(filepath.Join(cfg.DataDir, config.ConfigFile)); err != nil {
		t.Fatal(err)
	}
	r, err := start(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dial := func() *admin.Client {
		t.Helper()
		c, err := admin.Dial(ctx, admin.SocketPath(cfg.DataDir))
		if err != nil {
			t.Fatalf("dial the control socket: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := dial()
	const pw = "ann's backup secret"
	if _, err := admin.Call[admin.AccountResult](ctx, c, "", admin.AddAccount{Name: "ann@example.test", Password: pw}); err != nil {
		t.Fatal(err)
	}
	send := func(subject string) {
		t.Helper()
		submitAs(t, r.addr(t, "submission"), "ann@example.test", pw, "ann@example.test", []string{"ann@example.test"},
			"From: ann@example.test\r\nTo: ann@example.test\r\nSubject: "+subject+"\r\n\r\nbody\r\n")
	}
	inbox := func(c *admin.Client) map[string]int {
		t.Helper()
		l, err := admin.Call[admin.MessageList](ctx, c, "", admin.ListMessages{Account: "ann@example.test"})
		if err != nil {
			t.Fatal(err)
		}
		subjects := map[string]int{}
		for _, m := range l.Messages {
			subjects[m.Subject]++
		}
		return subjects
	}
	send("before")
	usb := t.TempDir()
	set, err := admin.Call[admin.SetBackupResult](ctx, c, "", admin.SetBackup{Target: "folder", Folder: usb, NewKey: true})
	if err != nil || !strings.HasPrefix(set.RecoveryKey, "AGE-SECRET-KEY-1") {
		t.Fatalf("set-up: %+v %v", set, err)
	}
	if strings.Contains(r.log.String(), set.RecoveryKey) {
		t.Error("the recovery key is in the log")
	}

	// A backup over the socket, with mail arriving meanwhile.
	var wg sync.WaitGroup
	var res admin.BackupNowResult
	var berr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		res, berr = admin.Call[admin.BackupNowResult](ctx, dial(), "", admin.BackupNow{Wait: true})
	}()
	send("during")
	wg.Wait()
	if berr != nil || res.Result == nil || !res.Result.OK() {
		t.Fatalf("backup now: %+v %v", res.Result, berr)
	}
	s := r.waitFor(t, "the backup in the Snapshot", func(s status.Snapshot) bool { return !s.Backup.Verified.IsZero() && s.Backup.Running == "" })
	if s.BackupError != "" || s.Backup.LastName != res.Result.Name {
		t.Errorf("Snapshot after a backup: %+v %q", s.Backup, s.BackupError)
	}
	send("after the backup")

	// A backup to a disk that is gone: a problem for the red LED.
	os.Rename(usb, usb+".away")
	if _, err := admin.Call[admin.BackupNowResult](ctx, c, "", admin.BackupNow{Wait: true}); err == nil {
		t.Error("a backup to a missing disk worked")
	}
	s = r.waitFor(t, "the failed backup in the Snapshot", func(s status.Snapshot) bool { return s.BackupError != "" })
	if att := strings.Join(s.Attention(s.Time), "\n"); !strings.Contains(att, "The last backup failed") || !strings.Contains(att, "USB disk plugged in") {
		t.Errorf("attention: %s", att)
	}
	os.Rename(usb+".away", usb)

	// The whole box back to the backup, as the set-up wizard asks for it.
	note, err := admin.Call[admin.RestoreBoxResult](ctx, c, "", admin.RestoreBox{RecoveryKey: set.RecoveryKey})
	if err != nil || !strings.Contains(note.Note, "restores the backup") {
		t.Fatalf("restore: %+v %v", note, err)
	}
	r.waitFor(t, "running again after the restore", func(s status.Snapshot) bool {
		return s.Phase == status.PhaseRunning && s.Problem == "" && s.LastChange.Op == ""
	})
	c2 := dial()
	// "during" raced the backup's snapshot, so it may or may not be in
	// it (once at most); what was accepted before the backup began must
	// be, and what came after it ended must not.
	if got := inbox(c2); got["before"] != 1 || got["during"] > 1 || got["after the backup"] != 0 {
		t.Errorf("after the restore ann's inbox holds %v; want before once, during at most once, not after the backup", got)
	}
	aside, _ := filepath.Glob(filepath.Join(cfg.DataDir, "before-restore-*", "store"))
	if len(aside) != 1 {
		t.Errorf("the store before the restore is not kept aside: %v", aside)
	}
	if _, err := admin.Call[admin.RestoreBoxResult](ctx, c2, "", admin.RestoreBox{RecoveryKey: "AGE-SECRET-KEY-1XX"}); admin.CodeOf(err) != admin.CodeInvalid {
		t.Errorf("a bad key: %v", err)
	}
}
