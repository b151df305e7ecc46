package appliance

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"postroom/appliance/admin"
	"postroom/appliance/config"
	"postroom/appliance/status"
)

// TestFirstBootRestore: a new box takes everything from the old box's
// backup in its set-up wizard. The old box backs up to a folder (the USB
// disk) and stops; the new one, waiting for its set-up, gets the code,
// the folder and the recovery key on the web page, restores, and runs
// with the old box's account and mail. Bad input is said next to its
// field first, and nothing stops for it.
func TestFirstBootRestore(t *testing.T) {
	ctx := context.Background()
	old := testConfig(t)
	old.Listen.Submission = "127.0.0.1:0"
	if err := old.Save(filepath.Join(old.DataDir, config.ConfigFile)); err != nil {
		t.Fatal(err)
	}
	a, err := start(t, old)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := admin.Dial(ctx, admin.SocketPath(old.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	const pw = "ann's password on the old box"
	if _, err := admin.Call[admin.AccountResult](ctx, ca, "", admin.AddAccount{Name: "ann@example.test", Password: pw}); err != nil {
		t.Fatal(err)
	}
	submitAs(t, a.addr(t, "submission"), "ann@example.test", pw, "ann@example.test", []string{"ann@example.test"},
		"From: ann@example.test\r\nTo: ann@example.test\r\nSubject: kept across boxes\r\n\r\nbody\r\n")
	usb := t.TempDir()
	set, err := admin.Call[admin.SetBackupResult](ctx, ca, "", admin.SetBackup{Target: "folder", Folder: usb, NewKey: true})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := admin.Call[admin.BackupNowResult](ctx, ca, "", admin.BackupNow{Wait: true}); err != nil || res.Result == nil || !res.Result.OK() {
		t.Fatalf("backup: %+v %v", res, err)
	}
	ca.Close()
	if err := a.stop(t); err != nil {
		t.Fatal(err)
	}

	cfg := setupConfig(t)
	r, err := start(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := r.waitFor(t, "a set-up code", func(s status.Snapshot) bool { return s.SetupCode != "" })
	web := newWebClient(t, "http://"+cfg.Listen.Web)
	web.get("/setup")
	web.step("/setup", url.Values{"code": {s.SetupCode}}, "/setup/domains")
	if c, _, body := web.get("/setup/domains"); c != 200 || !strings.Contains(body, `href="/setup/restore"`) {
		t.Fatalf("the domains step has no way to a restore: %d\n%s", c, body)
	}
	if c, _, body := web.get("/setup/restore"); c != 200 || !strings.Contains(body, `id="restore"`) {
		t.Fatalf("/setup/restore: %d\n%s", c, body)
	}
	for _, bad := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"folder": {""}, "recovery_key": {set.RecoveryKey}}, "folder"},
		{url.Values{"folder": {usb}, "recovery_key": {""}}, "recovery_key"},
		{url.Values{"folder": {usb}, "recovery_key": {"AGE-SECRET-KEY-1NOTAKEY"}}, "recovery_key"},
		{url.Values{"folder": {filepath.Join(usb, "nothing-here")}, "recovery_key": {set.RecoveryKey}}, "folder"},
	} {
		c, _, body := web.post("/setup/restore", bad.form)
		if c < 400 || !strings.Contains(body, `id="err-restore-`+bad.field+`"`) || strings.Contains(body, set.RecoveryKey) {
			t.Errorf("%v: %d, want a message at %s and no key on the page\n%s", bad.form, c, bad.field, body)
		}
	}
	if r.bus.Latest().Phase != status.PhaseNeedsSetup {
		t.Fatalf("a refused restore changed the phase: %s", r.bus.Latest().Phase)
	}
	c, _, body := web.post("/setup/restore", url.Values{"folder": {usb}, "recovery_key": {set.RecoveryKey}})
	if c != 200 || !strings.Contains(body, `id="restoring"`) {
		t.Fatalf("restore: %d\n%s", c, body)
	}
	r.waitFor(t, "running with the old box's data", func(s status.Snapshot) bool {
		return s.Phase == status.PhaseRunning && s.Maintenance == ""
	})
	cb, err := admin.Dial(ctx, admin.SocketPath(cfg.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	l, err := admin.Call[admin.MessageList](ctx, cb, "", admin.ListMessages{Account: "ann@example.test"})
	if err != nil || l.Total != 1 || l.Messages[0].Subject != "kept across boxes" {
		t.Fatalf("ann on the new box: %+v %v\nlog:\n%s", l, err, r.log.String())
	}
	if strings.Contains(r.log.String(), set.RecoveryKey) {
		t.Error("the recovery key is in the log")
	}
}
