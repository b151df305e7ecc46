package appliance

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"postroom/appliance/config"
	"strings"
	"testing"
	"time"

	"postroom/appliance/authguard"
	"postroom/appliance/status"
	"postroom/internal/testutil"
	"postroom/storage"
	"postroom/storage/storagetest"
	"postroom/webui"
)

// TestFactoryReset is the whole path: the button press (as hw reports it,
// on the Bus), the administrator's confirmation posted to the web page, the
// stop, the erase, and the fresh start: the old mail and the old password
// are gone, config.json is kept, and the used press confirms nothing more.
func TestFactoryReset(t *testing.T) {
	cfg := testConfig(t)
	// cmd/postroom writes the config into the data folder; Run does not.
	configBefore := []byte("{\"hostname\": \"kept.test\"}\n")
	if err := os.WriteFile(filepath.Join(cfg.DataDir, config.ConfigFile), configBefore, 0o600); err != nil {
		t.Fatal(err)
	}
	r, oldPassword := startDemo(t, cfg)
	sendMail(t, r.addr(t, ServiceSMTP), cfg, "sender@elsewhere.test", config.DemoUser)
	web := "http://" + r.addr(t, ServiceWeb)
	post := func(form url.Values) (int, string) {
		t.Helper()
		resp, err := http.PostForm(web+"/factory-reset", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	confirm := url.Values{"user": {config.DemoUser}, "password": {oldPassword}, "confirm": {"ERASE"}}

	// No press, no reset.
	if code, body := post(confirm); code != http.StatusConflict {
		t.Fatalf("confirm without a press: %d\n%s", code, body)
	}
	r.bus.Update(func(s *status.Snapshot) { s.ResetRequested = time.Now() })
	if code, body := post(confirm); code != http.StatusOK || !strings.Contains(body, "Erasing") {
		t.Fatalf("confirm: %d\n%s", code, body)
	}

	// The appliance stops, erases and starts again: a new demo banner.
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(r.stdout.String(), "Password:") < 2 || r.bus.Latest().Phase != status.PhaseRunning {
		if time.Now().After(deadline) {
			t.Fatalf("no fresh start after the reset; log:\n%s", r.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	m := passwordLine.FindAllStringSubmatch(r.stdout.String(), -1)
	newPassword := m[len(m)-1][1]
	if newPassword == oldPassword {
		t.Fatal("the demo user kept its password")
	}
	if !strings.Contains(r.log.String(), "the data folder is erased") {
		t.Errorf("the erase is not logged:\n%s", r.log.String())
	}
	if strings.Contains(r.log.String(), oldPassword) {
		t.Error("the password appears in the log")
	}
	if b, err := os.ReadFile(filepath.Join(cfg.DataDir, config.ConfigFile)); err != nil || !bytes.Equal(b, configBefore) {
		t.Errorf("config.json changed by the reset: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, erasingDir)); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", erasingDir, err)
	}

	// The used press confirms nothing more, on the new web listener.
	web = "http://" + r.addr(t, ServiceWeb)
	confirm.Set("password", newPassword)
	if code, _ := post(confirm); code != http.StatusConflict {
		t.Errorf("the same press confirmed a second reset: %d", code)
	}

	// Stopped, the store holds the new demo user with an empty INBOX.
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	st := storagetest.OpenOptions(t, storage.Options{Dir: filepath.Join(cfg.DataDir, "store")})
	if _, err := st.Authenticate(config.DemoUser, oldPassword); !errors.Is(err, storage.ErrAuthFailed) {
		t.Errorf("the old password still works: %v", err)
	}
	acct, err := st.Authenticate(config.DemoUser, newPassword)
	if err != nil {
		t.Fatal(err)
	}
	if acct.Messages != 0 {
		t.Errorf("%d messages survived the reset", acct.Messages)
	}
}

// TestCheckAdmin: only an administrator's right password passes, through
// the login guard that also locks out a guesser.
func TestCheckAdmin(t *testing.T) {
	st := storagetest.Open(t)
	storagetest.Account(t, st, "boss@example.test")
	storagetest.Account(t, st, "staff@example.test")
	if err := st.SetAdmin("boss@example.test", true); err != nil {
		t.Fatal(err)
	}
	r := &runner{log: testutil.Logger(t), guard: authguard.New(authguard.Options{
		Logger: testutil.Logger(t), FailureDelay: time.Millisecond,
	})}
	check := admins{r, st}.CheckAdmin
	ctx := context.Background()
	if err := check(ctx, "127.0.0.1:4000", "boss@example.test", "password-boss@example.test"); err != nil {
		t.Errorf("administrator refused: %v", err)
	}
	if err := check(ctx, "127.0.0.1:4000", "staff@example.test", "password-staff@example.test"); !errors.Is(err, errNotAdmin) {
		t.Errorf("staff: %v; want not an administrator", err)
	}
	var err error
	for range 20 {
		if err = check(ctx, "192.0.2.9:4000", "boss@example.test", "guess"); errors.Is(err, webui.ErrLoginLocked) {
			break
		}
	}
	if !errors.Is(err, webui.ErrLoginLocked) {
		t.Errorf("a guesser is never locked out: %v", err)
	}
}

// TestEraseData: everything but config.json goes, and an erase cut short
// is finished at the next start.
func TestEraseData(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{config.ConfigFile, "store/000001.vlog", "tls/cert.pem", "dkim/example.test/rsa.pem", "today.json"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(p), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := eraseData(dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != config.ConfigFile {
		t.Fatalf("after the erase: %v", entries)
	}
	// A stop half-way: the leftover is removed by finishErase.
	if err := os.MkdirAll(filepath.Join(dir, erasingDir, "store"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := finishErase(dir); err != nil {
		t.Fatal(err)
	}
	if entries, _ = os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("after finishing an erase: %v", entries)
	}
}
