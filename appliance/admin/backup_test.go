package admin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"postroom/appliance/backup"
)

// TestBackupOps: set-up with a new recovery key (shown once, only its
// public half saved, never logged), a bad folder refused at its field, a
// backup run and proven, its listing, and the restore that a stopped box
// leaves to postroomctl.
func TestBackupOps(t *testing.T) {
	e := newEnv(t)
	usb := t.TempDir()
	var secret string
	hour := 3
	e.run(t, []step{
		{op: GetBackups{}, check: func(t *testing.T, e *env, res any) {
			if v := res.(BackupView); v.Target != "" || v.HasKey || !strings.HasPrefix(v.SSHPublicKey, "ssh-ed25519 ") {
				t.Errorf("before set-up: %+v", v)
			}
		}},
		{op: SetBackup{Target: "folder", Folder: usb}, code: CodeInvalid, field: "recovery_key", want: "make a recovery key"},
		{op: SetBackup{Target: "folder", Folder: "usb", NewKey: true}, code: CodeInvalid, field: "folder", want: "absolute path"},
		{op: SetBackup{Target: "tape", NewKey: true}, code: CodeInvalid, field: "target", want: "is not \"usb\""},
		{op: SetBackup{Target: "folder", NewKey: true, RecoveryKey: "AGE-SECRET-KEY-1"}, code: CodeInvalid, field: "recovery_key", want: "not both"},
		{op: SetBackup{Target: "folder", RecoveryKey: "hello"}, code: CodeInvalid, field: "recovery_key", want: "not a recovery key"},
		{op: SetBackup{Target: "folder", Folder: usb, NewKey: true, Hour: &hour}, want: "backup settings: target folder " + usb + ", a new recovery key", check: func(t *testing.T, e *env, res any) {
			r := res.(SetBackupResult)
			secret = r.RecoveryKey
			if !strings.HasPrefix(secret, "AGE-SECRET-KEY-1") || !r.HasKey || r.Hour != 3 {
				t.Errorf("set-up result: %+v", r)
			}
			c := loadConfig(t, e)
			if !strings.HasPrefix(c.Backup.Recipient, "age1") || c.Backup.Folder != usb {
				t.Errorf("config: %+v", c.Backup)
			}
			b, _ := os.ReadFile(e.cfgPath)
			if strings.Contains(string(b), secret) || strings.Contains(e.log.String(), secret) {
				t.Error("the recovery key's secret was saved or logged")
			}
		}},
	})
	e.a.Do(context.Background(), actor, AddAccount{Name: "ann@example.test", Password: "ann secret pw"})
	now, err := e.a.BackupNow(context.Background(), actor, BackupNow{Wait: true})
	if err != nil || now.Result == nil || !now.Result.OK() {
		t.Fatalf("backup now: %+v %v", now.Result, err)
	}
	// A stopped box has no scheduler to hand the backup to: it waits.
	if r, err := e.a.BackupNow(context.Background(), actor, BackupNow{}); err != nil || r.Result == nil || r.Result.Kind != backup.KindIncremental {
		t.Errorf("second backup on a stopped box: %+v %v", r, err)
	}
	ann, _ := e.st.Account("ann@example.test")
	archive, err := e.st.Mailbox(ann.ID, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.DeleteMailbox(ann.ID, "Archive"); err != nil {
		t.Fatal(err)
	}
	e.run(t, []step{
		{op: ListBackups{}, check: func(t *testing.T, e *env, res any) {
			l := res.([]backup.Backup)
			if len(l) != 2 || l[1].Name != now.Result.Name || !l[0].Restorable || len(l[0].Chain) != 2 {
				t.Errorf("list: %+v", l)
			}
		}},
		{op: GetBackups{}, check: func(t *testing.T, e *env, res any) {
			v := res.(BackupView)
			if len(v.History) != 2 || v.LastVerified.IsZero() {
				t.Errorf("status after a backup: %+v", v)
			}
		}},
		{op: RestoreBox{RecoveryKey: secret}, code: CodeConflict, want: "postroomctl restore"},
		{op: RestoreMail{Account: "ann@example.test", Mailbox: "Archive"}, want: "put back 0 messages of ann@example.test from the backup", check: func(t *testing.T, e *env, res any) {
			r := res.(backup.MailRestoreResult)
			if len(r.Mailboxes) != 1 || !r.Mailboxes[0].Recreated || r.Mailboxes[0].UIDValidity != archive.UIDValidity {
				t.Errorf("restore of Archive: %+v, want UIDVALIDITY %d", r, archive.UIDValidity)
			}
		}},
		{op: RestoreMail{Account: "ann@example.test", Mailbox: "Nowhere"}, code: CodeNotFound, field: "mailbox", want: "has no folder Nowhere"},
		{op: RestoreMail{Account: "nobody@example.test"}, code: CodeNotFound, field: "account", want: "nobody@example.test"},
		{op: SetBackup{Target: "sftp", SFTPAddress: "nas:22", SFTPUser: "office", SFTPPassword: "nas secret pw", SFTPPath: "/backups"}, want: "target sftp office@nas:22:/backups", check: func(t *testing.T, e *env, res any) {
			if r := res.(SetBackupResult); !r.SFTPHasPass || r.RecoveryKey != "" || !r.HasKey {
				t.Errorf("sftp set-up: %+v", r)
			}
			if strings.Contains(e.log.String(), "nas secret pw") {
				t.Error("the SFTP password was logged")
			}
		}},
	})
	if _, err := os.Stat(filepath.Join(usb, now.Result.Name)); err != nil {
		t.Errorf("the backup is not in the folder: %v", err)
	}
}
