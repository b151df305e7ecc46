package appliance

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"postroom/appliance/admin"
	"postroom/appliance/config"
	"postroom/appliance/status"
)

// TestControlSocketLive changes the running box through its control
// socket: a new account logs in over submission and a new alias receives
// mail at once, without a restart; a new host name restarts the services
// with the saved config; the socket goes with the appliance.
func TestControlSocketLive(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen.Submission = "127.0.0.1:0"
	if err := cfg.Save(filepath.Join(cfg.DataDir, config.ConfigFile)); err != nil {
		t.Fatal(err)
	}
	r, err := start(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sock := admin.SocketPath(cfg.DataDir)
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket: %v, %v", fi, err)
	}
	ctx := context.Background()
	dial := func() *admin.Client {
		t.Helper()
		c, err := admin.Dial(ctx, sock)
		if err != nil {
			t.Fatalf("dial the control socket: %v\nlog:\n%s", err, r.log.String())
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := dial()
	const pw = "ann's live secret"
	if _, err := admin.Call[admin.AccountResult](ctx, c, "", admin.AddAccount{Name: "ann@example.test", Password: pw}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Call[admin.AddressResult](ctx, c, "", admin.AddAddress{Address: "orders@example.test", Account: "ann@example.test"}); err != nil {
		t.Fatal(err)
	}
	if ch := r.bus.Latest().LastChange; ch.Op != "address.add" || !strings.Contains(ch.By, "via postroomctl") {
		t.Errorf("LastChange %+v", ch)
	}
	// The live store changed: the new account logs in and mails its alias.
	submitAs(t, r.addr(t, "submission"), "ann@example.test", pw, "ann@example.test", []string{"orders@example.test"},
		"From: ann@example.test\r\nTo: orders@example.test\r\nSubject: first order\r\n\r\nten boxes\r\n")
	l, err := admin.Call[admin.MessageList](ctx, c, "", admin.ListMessages{Account: "ann@example.test"})
	if err != nil || l.Total != 1 || l.Messages[0].Subject != "first order" {
		t.Fatalf("ann's INBOX: %+v, %v", l, err)
	}
	if strings.Contains(r.log.String(), pw) {
		t.Errorf("the password is in the appliance's log")
	}
	if !strings.Contains(r.log.String(), "admin: added account ann@example.test") {
		t.Errorf("no audit line in the log")
	}

	// A host name restarts the services with the saved config.
	oldSubmission := r.addr(t, "submission")
	s, err := admin.Call[admin.Settings](ctx, c, "", admin.SetHostname{Hostname: "mail.example.test"})
	if err != nil || !strings.Contains(s.Note, "restart") {
		t.Fatalf("settings.hostname: %+v, %v", s, err)
	}
	r.waitFor(t, "running again with the new host name", func(s status.Snapshot) bool {
		sv, _ := s.Service("submission")
		return s.Phase == status.PhaseRunning && s.Hostname == "mail.example.test" && sv.State == status.ServiceListening && sv.Addr != oldSubmission
	})
	c2 := dial()
	got, err := admin.Call[admin.Settings](ctx, c2, "", admin.GetSettings{})
	if err != nil || got.Hostname != "mail.example.test" {
		t.Errorf("settings after the restart: %+v, %v", got, err)
	}
	submitAs(t, r.addr(t, "submission"), "ann@example.test", pw, "ann@example.test", []string{"orders@example.test"},
		"From: ann@example.test\r\nSubject: second order\r\n\r\nafter the restart\r\n")

	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Errorf("the control socket outlived the appliance")
	}
}
