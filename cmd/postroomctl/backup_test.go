package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"postroom/appliance/config"
	"postroom/storage"
)

// TestBackupAndRestore: on a stopped box, set up backups into a folder
// (the recovery key printed once), back up twice, list, then restore the
// whole box into a new folder with the key from a file and from stdin;
// a wrong key, a non-empty folder and a missing backup are refused.
func TestBackupAndRestore(t *testing.T) {
	data := newData(t)
	if err := config.DevDefault(data).Save(filepath.Join(data, config.ConfigFile)); err != nil {
		t.Fatal(err)
	}
	withStore(t, data, func(st *storage.Store) {
		a, err := st.CreateAccount("alice@example.org", "password of alice")
		if err != nil {
			t.Fatal(err)
		}
		st.Deliver(context.Background(), storage.Delivery{Recipients: []storage.Recipient{{Account: a.ID}}}, strings.NewReader("Subject: hi\r\n\r\nkeep me\r\n"))
	})
	usb := t.TempDir()
	runCtl(t, data, "", "backup", "status").check(t, exitOK, []string{"not set up", "last verified restore: never"}, nil)
	runCtl(t, data, "", "backup", "now").check(t, exitFailed, nil, []string{"not set up"})
	r := runCtl(t, data, "", "backup", "folder", usb)
	r.check(t, exitOK, []string{"backups go into " + usb, "shown this once"}, nil)
	key := regexp.MustCompile(`AGE-SECRET-KEY-1[0-9A-Z]+`).FindString(r.out)
	if key == "" {
		t.Fatalf("no key in %q", r.out)
	}
	runCtl(t, data, "", "backup", "folder", usb).check(t, exitOK, nil, nil) // again: the key stays
	if strings.Contains(runCtl(t, data, "", "backup", "folder", usb).out, "AGE-SECRET") {
		t.Error("the key was shown a second time")
	}
	runCtl(t, data, "", "backup", "now").check(t, exitOK, []string{"-full.pbk", "proven by a restore"}, nil)
	runCtl(t, data, "", "backup", "now").check(t, exitOK, []string{"-incr.pbk", "proven by a restore"}, nil)
	runCtl(t, data, "", "backup", "status").check(t, exitOK, []string{"into the folder " + usb, "last verified restore: 2", "incr", "full"}, nil)
	runCtl(t, data, "", "backup", "list").check(t, exitOK, []string{"full", "incr"}, nil)

	withStore(t, data, func(st *storage.Store) {
		a, _ := st.Account("alice@example.org")
		if err := st.DeleteMailbox(a.ID, "Archive"); err != nil {
			t.Fatal(err)
		}
	})
	runCtl(t, data, "", "backup", "restore-mail", "alice@example.org", "Archive").check(t, exitOK, []string{"Archive: made anew with UIDVALIDITY"}, nil)
	runCtl(t, data, "", "backup", "restore-mail", "alice@example.org").check(t, exitOK, []string{"INBOX: added 0 messages, 1 were there already"}, nil)
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	os.WriteFile(keyFile, []byte("# the office's recovery key\n"+key+"\n"), 0o600)
	newData := filepath.Join(t.TempDir(), "new")
	runCtl(t, data, "", "restore", usb, keyFile, newData).check(t, exitOK, []string{"1 accounts", "6 mailboxes, 1 messages", "config.json", "passes its check"}, nil)
	withStore(t, newData, func(st *storage.Store) {
		if _, err := st.Authenticate("alice@example.org", "password of alice"); err != nil {
			t.Errorf("login on the restored box: %v", err)
		}
	})
	if _, err := os.Stat(filepath.Join(newData, config.ConfigFile)); err != nil {
		t.Errorf("config.json not restored: %v", err)
	}
	other := filepath.Join(t.TempDir(), "other")
	runCtl(t, data, key+"\n", "restore", usb, "-", other).check(t, exitOK, []string{"restored"}, nil)
	runCtl(t, data, "", "restore", usb, keyFile, newData).check(t, exitFailed, nil, []string{"not empty"})
	runCtl(t, data, "AGE-SECRET-KEY-1QQQQ\n", "restore", usb, "-", filepath.Join(t.TempDir(), "x")).check(t, exitFailed, nil, []string{"not a recovery key"})
	runCtl(t, data, "", "restore", usb, keyFile, filepath.Join(t.TempDir(), "y"), "nope.pbk").check(t, exitFailed, nil, []string{"nope.pbk"})
}
