package appliance

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"path/filepath"
	"postroom/appliance/config"
	"regexp"
	"strings"
	"testing"
	"time"

	"postroom/appliance/status"
	"postroom/hw"
	"postroom/internal/testutil"
	"postroom/storage"
	"postroom/storage/storagetest"
)

// testConfig is the dev config on a temp data folder with the two services
// that exist on free loopback ports and the others off.
func testConfig(t *testing.T) config.Config {
	t.Helper()
	c := config.DevDefault(t.TempDir())
	c.Listen = config.Listeners{SMTP: "127.0.0.1:0", Web: "127.0.0.1:0"}
	return c
}

// running is one Run in the background.
type running struct {
	bus    *status.Bus
	stdout *testutil.SyncBuffer
	log    *testutil.SyncBuffer
	cancel context.CancelFunc
	done   chan error
	maint  *Maintenance // asks for offline steps (run_offline.go)
}

// start runs the appliance and waits until it serves or fails.
func start(t *testing.T, cfg config.Config) (*running, error) {
	t.Helper()
	return startPanel(t, cfg, nil)
}

// startPanel is start with a panel of the test's own (nil: simulated).
func startPanel(t *testing.T, cfg config.Config, panel hw.Panel) (*running, error) {
	t.Helper()
	r := &running{
		bus:    status.NewBus(status.Snapshot{}),
		stdout: &testutil.SyncBuffer{},
		log:    &testutil.SyncBuffer{},
		done:   make(chan error, 1),
		maint:  NewMaintenance(),
	}
	var ctx context.Context
	ctx, r.cancel = context.WithCancel(context.Background())
	notify, unsubscribe := r.bus.Subscribe()
	defer unsubscribe()
	go func() {
		r.done <- RunOptions(ctx, cfg, Options{
			Logger:      slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Bus:         r.bus,
			Stdout:      r.stdout,
			Maintenance: r.maint,
			Panel:       panel,
		})
	}()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case err := <-r.done:
			r.cancel()
			return nil, err
		case <-notify:
			if p := r.bus.Latest().Phase; p == status.PhaseRunning || p == status.PhaseNeedsSetup {
				t.Cleanup(func() { r.stop(t) })
				return r, nil
			}
		case <-timeout:
			r.cancel()
			t.Fatalf("appliance did not start in time; log:\n%s", r.log.String())
		}
	}
}

// stop cancels Run and returns its error; later calls return nil.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	if r.done == nil {
		return nil
	}
	r.cancel()
	select {
	case err := <-r.done:
		r.done = nil
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("Run did not return after cancel; log:\n%s", r.log.String())
		return nil
	}
}

func (r *running) addr(t *testing.T, service string) string {
	t.Helper()
	sv, ok := r.bus.Latest().Service(service)
	if !ok || sv.State != status.ServiceListening {
		t.Fatalf("service %s = %+v; want listening", service, sv)
	}
	return sv.Addr
}

var passwordLine = regexp.MustCompile(`Password:\s+(\S+)`)

// startDemo starts the dev appliance with cfg and returns it with the demo
// user's password from the one-time banner.
func startDemo(t *testing.T, cfg config.Config) (*running, string) {
	t.Helper()
	r, err := start(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := passwordLine.FindStringSubmatch(r.stdout.String())
	if m == nil {
		t.Fatalf("no demo password in the banner:\n%s", r.stdout.String())
	}
	return r, m[1]
}

func TestRunStartsServesAndStops(t *testing.T) {
	cfg := testConfig(t)
	r, err := start(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	snap := r.bus.Latest()
	if snap.Phase != status.PhaseRunning || snap.Problem != "" || snap.Hostname != "localhost" {
		t.Errorf("snapshot = %+v; want running, no problem", snap)
	}
	smtpAddr, webAddr := r.addr(t, ServiceSMTP), r.addr(t, ServiceWeb)
	for _, a := range []string{smtpAddr, webAddr} {
		if !strings.HasPrefix(a, "127.0.0.1:") || strings.HasSuffix(a, ":0") {
			t.Errorf("bound address %q; want 127.0.0.1 with a real port", a)
		}
	}

	// The one-time banner: the demo user, its password, the real ports.
	banner := r.stdout.String()
	m := passwordLine.FindStringSubmatch(banner)
	if m == nil || !strings.Contains(banner, config.DemoUser) || !strings.Contains(banner, smtpAddr) || !strings.Contains(banner, webAddr) {
		t.Fatalf("banner lacks user, password or ports:\n%s", banner)
	}
	password := m[1]
	if strings.Contains(r.log.String(), password) {
		t.Error("the demo password appears in the log")
	}

	// Mail over SMTP, with STARTTLS verified against the generated cert.
	sendMail(t, smtpAddr, cfg, "sender@elsewhere.test", config.DemoUser)
	if got := r.bus.Latest().MailOn(time.Now()); got != 1 {
		t.Errorf("mail today = %d; want 1", got)
	}

	// The status page serves the same Snapshot.
	resp, err := http.Get("http://" + webAddr + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	var web status.Snapshot
	err = json.NewDecoder(resp.Body).Decode(&web)
	resp.Body.Close()
	if err != nil || web.Phase != status.PhaseRunning || web.MailToday != 1 {
		t.Errorf("status.json = %+v, %v", web, err)
	}

	if err := r.stop(t); err != nil {
		t.Fatalf("Run after cancel = %v; want nil", err)
	}
	final := r.bus.Latest()
	if final.Phase != status.PhaseShuttingDown {
		t.Errorf("final phase %q; want shutting-down", final.Phase)
	}
	for _, sv := range final.Services {
		if sv.State != status.ServiceStopped {
			t.Errorf("service %s ends %s; want stopped", sv.Name, sv.State)
		}
	}
	if _, err := net.Dial("tcp", smtpAddr); err == nil {
		t.Error("SMTP still accepts connections after Run returned")
	}

	// The store was closed: it opens again, holds the message and the
	// password works; storagetest runs Check at cleanup.
	st := storagetest.OpenOptions(t, storage.Options{Dir: filepath.Join(cfg.DataDir, "store")})
	acct, err := st.Authenticate(config.DemoUser, password)
	if err != nil {
		t.Fatalf("demo login with the printed password: %v", err)
	}
	inbox, err := st.Mailbox(acct.ID, storage.InboxName)
	if err != nil || inbox.Messages != 1 {
		t.Fatalf("INBOX = %+v, %v; want 1 message", inbox, err)
	}
}

// sendMail sends one message with STARTTLS, checking the server's
// certificate against DATA/tls/cert.pem.
func sendMail(t *testing.T, addr string, cfg config.Config, from, to string) {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(cfg.DataDir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("cert.pem holds no certificate")
	}
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.StartTLS(&tls.Config{RootCAs: pool, ServerName: cfg.Hostname}); err != nil {
		t.Fatalf("STARTTLS with the generated certificate: %v", err)
	}
	if err := c.Mail(from); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(to); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "From: <%s>\r\nTo: <%s>\r\nSubject: hello\r\n\r\nHello from the test.\r\n", from, to)
	if err := w.Close(); err != nil {
		t.Fatalf("end of DATA: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}

func TestRunRestartKeepsDemoUserAndCert(t *testing.T) {
	cfg := testConfig(t)
	r, err := start(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.stdout.String(), "Password:") {
		t.Fatal("no banner on the first start")
	}
	certPath := filepath.Join(cfg.DataDir, "tls", "cert.pem")
	keyPath := filepath.Join(cfg.DataDir, "tls", "key.pem")
	cert1, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key.pem: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}

	r2, err := start(t, cfg)
	if err != nil {
		t.Fatalf("second start: %v", err)
	}
	if out := r2.stdout.String(); out != "" {
		t.Errorf("second start printed %q; the password is shown only once", out)
	}
	cert2, _ := os.ReadFile(certPath)
	if !bytes.Equal(cert1, cert2) {
		t.Error("the TLS certificate was made again on restart")
	}
	if err := r2.stop(t); err != nil {
		t.Fatal(err)
	}
}

func TestSecondRunOnSameDataFails(t *testing.T) {
	cfg := testConfig(t)
	r, err := start(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = start(t, cfg)
	if err == nil || !strings.Contains(err.Error(), "in use by another Postroom process") ||
		!strings.Contains(err.Error(), cfg.DataDir) {
		t.Fatalf("second Run = %v; want a clear 'in use' error naming the folder", err)
	}
	// The first one is unharmed.
	if sv, _ := r.bus.Latest().Service(ServiceSMTP); sv.State != status.ServiceListening {
		t.Errorf("first appliance's SMTP is %s", sv.State)
	}
	conn, err := net.Dial("tcp", r.addr(t, ServiceSMTP))
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if !strings.HasPrefix(line, "220 ") {
		t.Errorf("greeting %q", line)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
}

func TestRunPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t)
	cfg.Listen.Web = busy.Addr().String()
	_, err = start(t, cfg)
	if err == nil {
		t.Fatal("Run with the web port in use succeeded")
	}
	for _, want := range []string{"cannot listen on " + busy.Addr().String(), "listen.web", "address already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// Everything was released: the same data folder starts fine.
	cfg.Listen.Web = "127.0.0.1:0"
	r, err := start(t, cfg)
	if err != nil {
		t.Fatalf("start after a failed start: %v", err)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
}

func TestRunReportsFailureOnBus(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t)
	cfg.Listen.SMTP = busy.Addr().String()
	bus := status.NewBus(status.Snapshot{})
	err = RunOptions(context.Background(), cfg, Options{Logger: slog.New(slog.DiscardHandler), Bus: bus, Stdout: &bytes.Buffer{}})
	if err == nil {
		t.Fatal("Run succeeded")
	}
	s := bus.Latest()
	sv, _ := s.Service(ServiceSMTP)
	if sv.State != status.ServiceFailed || !strings.Contains(sv.Error, "address already in use") {
		t.Errorf("smtp = %+v; want failed with the reason", sv)
	}
	if !strings.Contains(s.Problem, "cannot listen") {
		t.Errorf("problem = %q", s.Problem)
	}
}

func TestRunNeedsSetupWithoutAccounts(t *testing.T) {
	cfg := testConfig(t)
	cfg.Dev = false
	r, err := start(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := r.bus.Latest()
	if s.Phase != status.PhaseNeedsSetup || !strings.Contains(s.Problem, "not set up yet") {
		t.Errorf("phase %q, problem %q; want needs-setup and why", s.Phase, s.Problem)
	}
	// Only the set-up code's line on the console (run_setup.go), no banner.
	if out := r.stdout.String(); strings.Contains(out, "+--") || !strings.HasPrefix(out, "Postroom set-up code: ") {
		t.Errorf("the console without dev mode:\n%s", out)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
}

func TestRunRejectsInvalidConfig(t *testing.T) {
	cfg := testConfig(t)
	cfg.DataDir = filepath.Join(cfg.DataDir, "never-made")
	cfg.MaxRecipients = 0
	err := RunOptions(context.Background(), cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	var ce *config.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Run = %v; want a *config.ConfigError", err)
	}
	if _, err := os.Stat(cfg.DataDir); !os.IsNotExist(err) {
		t.Error("Run touched the disk before validating the config")
	}
}

func TestWorkersRunUntilStoppedAndReportFailure(t *testing.T) {
	r := &runner{log: testutil.Logger(t), bus: status.NewBus(status.Snapshot{})}
	started := make(chan struct{})
	stopped := false
	r.addWorker("steady", func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		stopped = true
		return ctx.Err() // the normal way out: not a failure
	})
	failed := make(chan struct{})
	r.addWorker("broken", func(ctx context.Context) error {
		defer close(failed)
		return errors.New("disk on fire")
	})
	stop := r.startWorkers()
	<-started
	<-failed
	stop()
	stop() // a second call must not block or panic
	if !stopped {
		t.Fatal("stop returned before the worker ended")
	}
	if p := r.bus.Latest().Problem; !strings.Contains(p, "broken") || !strings.Contains(p, "disk on fire") {
		t.Fatalf("Problem = %q; want the failed job named", p)
	}
	// Later updates keep showing it.
	r.update(func(s *status.Snapshot) { s.Phase = status.PhaseRunning })
	if p := r.bus.Latest().Problem; !strings.Contains(p, "broken") {
		t.Fatalf("Problem after another update = %q", p)
	}
}

// TestRunShowsTheDisplay: the status page serves the picture the (here
// simulated) display shows, drawn by the same renderer as on the board.
func TestRunShowsTheDisplay(t *testing.T) {
	r, err := start(t, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + r.addr(t, ServiceWeb) + "/display.png"
	var img image.Image
	for range 100 { // the panel draws its first frame shortly after start
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			img, err = png.Decode(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("%s is not a PNG: %v", url, err)
			}
			break
		}
		resp.Body.Close()
		<-time.After(50 * time.Millisecond)
	}
	if img == nil {
		t.Fatalf("%s never served a picture", url)
	}
	if b := img.Bounds(); b.Dx() < 128 || b.Dy() < 64 {
		t.Fatalf("display picture is %v; want at least the 128x64 of the display", b)
	}
	lit := 0
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			if r, g, b, _ := img.At(x, y).RGBA(); r+g+b > 0x8000 {
				lit++
			}
		}
	}
	if lit == 0 {
		t.Fatal("the display picture is blank")
	}
}

// TestDailyCountsSurviveRestart: "mail today" on the display does not go
// back to zero when the appliance restarts: the store counted it with the
// delivery (run_daily.go); the file of older versions is removed.
func TestDailyCountsSurviveRestart(t *testing.T) {
	cfg := testConfig(t)
	r, err := start(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sendMail(t, r.addr(t, ServiceSMTP), cfg, "sender@elsewhere.test", config.DemoUser)
	day := r.bus.Latest().MailDay
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	legacy := filepath.Join(cfg.DataDir, legacyDailyFile)
	if err := os.WriteFile(legacy, []byte(`{"mail_today":99}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 2; want++ {
		r, err = start(t, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().Format(time.DateOnly) != day {
			t.Skip("the day changed during the test: its counts start afresh")
		}
		if s := r.bus.Latest(); s.MailToday != want || s.MailDay != day {
			t.Errorf("restart %d: mail today = %d on %q; want %d on %q", want, s.MailToday, s.MailDay, want, day)
		}
		sendMail(t, r.addr(t, ServiceSMTP), cfg, "sender@elsewhere.test", config.DemoUser)
		if err := r.stop(t); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(legacy); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s still there: %v", legacyDailyFile, err)
	}
}
