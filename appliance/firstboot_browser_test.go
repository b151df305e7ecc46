package appliance

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-imap/v2/imapclient"

	"postroom/appliance/admin"
	"postroom/appliance/status"
)

// TestBrowserFirstBoot walks PRODUCT.md's first journey in Debian's
// chromium (headless) on a fresh appliance: it reads the set-up code from
// the status Bus as the display shows it, walks the set-up wizard (with a
// wrong code and a weak password refused next to their fields) to the DNS
// records, logs out and in again, adds a user, sets its storage limit and
// POP3 retention, makes an app password for it, uses it over IMAP
// (go-imap's imapclient), removes it and sees the login fail, and logs in
// as that user. Every page is saved at a phone's width (390 px, where
// nothing may be wider than the window) and a desktop's (1280 px) under
// webui/testoutput/ (or $POSTROOM_SCREENSHOTS) as firstboot-*.png, to look
// at. Without chromium it is skipped; `make deps` installs it.
func TestBrowserFirstBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("a browser test")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("no chromium: make deps installs it")
	}
	out := os.Getenv("POSTROOM_SCREENSHOTS")
	if out == "" {
		out = filepath.Join("..", "webui", "testoutput")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := setupConfig(t) // run_setup_test.go: no demo user, the web page on a fixed port
	r, err := start(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	code := r.waitFor(t, "a set-up code", func(s status.Snapshot) bool { return s.SetupCode != "" }).SetupCode
	base := "http://" + cfg.Listen.Web

	// Flags from shared/TESTING.md: nothing may leave the machine.
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	defer cancel()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	// shot saves the page at both widths; at the phone's, nothing may be
	// wider than the window.
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			for _, width := range []int64{390, 1280} {
				if _, err := chromedp.EmulateViewport(width, 800)(ctx, tg); err != nil {
					return err
				}
				w, err := chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`)(ctx, tg)
				if err != nil {
					return err
				}
				if w[0] > w[1] {
					return fmt.Errorf("%s: the page is %d px wide in a %d px window", name, w[0], w[1])
				}
				png, err := chromedp.FullScreenshot(100)(ctx, tg)
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(out, fmt.Sprintf("firstboot-%s-%d.png", name, width)), png, 0o644); err != nil {
					return err
				}
			}
			return nil
		})
	}
	// text reads an element's text.
	text := func(sel string, into *string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			s, err := chromedp.Text(chromedp.CSS(sel))(ctx, tg)
			*into = s
			return err
		})
	}
	// fill replaces a field's value.
	fill := func(sel, value string) chromedp.Action[chromedp.Void] {
		return chromedp.SetValue(chromedp.CSS(sel), value)
	}
	var annPW string
	err = chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 800),
		// The status page says the box waits, and leads to the set-up.
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#setup-link")),
		shot("status"),
		// Any other page leads to the set-up too.
		chromedp.Navigate(base+"/accounts"),
		chromedp.WaitVisible(chromedp.CSS("#code")),
		shot("code"),
		chromedp.SendKeys(chromedp.CSS("#code-code"), "ACDE-FGHJ-KMNP"),
		chromedp.Submit(chromedp.CSS("#code")),
		chromedp.WaitVisible(chromedp.CSS("#err-code-code")),
		shot("code-wrong"),
		fill("#code-code", strings.ToLower(code)),
		chromedp.Submit(chromedp.CSS("#code")),
		chromedp.WaitVisible(chromedp.CSS("#domains")),
		shot("domains"),
		fill("#domains-domains", "example.org"),
		chromedp.Submit(chromedp.CSS("#domains")),
		chromedp.WaitVisible(chromedp.CSS("#hostname")),
		shot("hostname"), // offers mail.example.org
		chromedp.Submit(chromedp.CSS("#hostname")),
		chromedp.WaitVisible(chromedp.CSS("#admin")),
		shot("admin"),
		chromedp.SendKeys(chromedp.CSS("#admin-address"), "boss@example.org"),
		chromedp.SendKeys(chromedp.CSS("#admin-password"), "1234567890"),
		chromedp.SendKeys(chromedp.CSS("#admin-password2"), "1234567890"),
		chromedp.Submit(chromedp.CSS("#admin")),
		chromedp.WaitVisible(chromedp.CSS("#err-admin-password")),
		shot("admin-weak"),
		chromedp.SendKeys(chromedp.CSS("#admin-password"), bossPassword),
		chromedp.SendKeys(chromedp.CSS("#admin-password2"), bossPassword),
		chromedp.Submit(chromedp.CSS("#admin")),
		chromedp.WaitVisible(chromedp.CSS("#users")),
		shot("users"),
		chromedp.SendKeys(chromedp.CSS("#users-users"), "ann@example.org"),
		chromedp.Submit(chromedp.CSS("#users")),
		chromedp.WaitVisible(chromedp.CSS("#passwords")),
		shot("finish"), // the users' passwords, shown once, and the review
		text("#created dd .secret", &annPW),
		chromedp.Submit(chromedp.CSS("#finish")),
		chromedp.WaitVisible(chromedp.CSS("#setup-done")),
		shot("done"),
	)
	if err != nil {
		t.Fatalf("the set-up: %v\nlog:\n%s", err, r.log)
	}
	// The end restarts the services with the new name, then the page
	// goes on to the DNS records by itself.
	r.waitFor(t, "running as mail.example.org", func(s status.Snapshot) bool {
		sv, _ := s.Service(ServiceWeb)
		return s.Phase == status.PhaseRunning && s.Hostname == "mail.example.org" && sv.State == status.ServiceListening
	})
	dnsCtx, dnsCancel := context.WithTimeout(ctx, 20*time.Second)
	err = chromedp.Do(dnsCtx, chromedp.WaitVisible(chromedp.CSS("#dns-state")))
	dnsCancel()
	if err != nil {
		// The refresh came while the services restarted: the link.
		t.Logf("the set-up's end did not open /dns by itself (%v); following its link", err)
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/dns"), chromedp.WaitVisible(chromedp.CSS("#dns-state"))); err != nil {
			t.Fatalf("/dns after the set-up: %v", err)
		}
	}
	if annPW == "" {
		t.Fatal("no password shown for ann")
	}
	user := "bob@example.org"
	var appPW string
	err = chromedp.Do(ctx,
		shot("dns"),
		// Out and in again, with the password the set-up gave.
		chromedp.Submit(chromedp.CSS("#nav form")),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#user"), "boss@example.org"),
		chromedp.SendKeys(chromedp.CSS("#password"), bossPassword),
		chromedp.Submit(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#accounts")),
		shot("accounts"),
		chromedp.SendKeys(chromedp.CSS("#add-name"), user),
		chromedp.SendKeys(chromedp.CSS("#add-password"), "bobs own password"),
		chromedp.Submit(chromedp.CSS("#add")),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
		fill("#quota-quota", "500"),
		chromedp.Submit(chromedp.CSS("#quota")),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
		fill("#retention-days", "14"),
		chromedp.Submit(chromedp.CSS("#retention")),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
		chromedp.SendKeys(chromedp.CSS("#apppass-name"), "Bob's phone"),
		chromedp.Submit(chromedp.CSS("#apppass")),
		chromedp.WaitVisible(chromedp.CSS("#new-app-password")),
		text("#new-app-password .secret", &appPW),
		shot("account"),
	)
	if err != nil {
		t.Fatalf("the account pages: %v\nlog:\n%s", err, r.log)
	}
	// The running box has it, as postroomctl sees it (control socket).
	ctl, err := admin.Dial(t.Context(), admin.SocketPath(cfg.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	acct, err := admin.Call[admin.AccountResult](t.Context(), ctl, "test", admin.GetAccount{Name: user})
	if err != nil {
		t.Fatal(err)
	}
	if a := acct.Account; a.Quota != 500e6 || a.RetentionDays != 14 {
		t.Errorf("%s: quota %d, retention %d", user, a.Quota, a.RetentionDays)
	}
	appPW = strings.ReplaceAll(appPW, " ", "")
	if err := imapLoginTLS(t, r.addr(t, ServiceIMAPS), cfg.DataDir, user, appPW); err != nil {
		t.Fatalf("IMAP with the app password: %v", err)
	}
	err = chromedp.Do(ctx,
		chromedp.Submit(chromedp.CSS("#apppass-list form")),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
		shot("account-revoked"),
	)
	if err != nil {
		t.Fatalf("remove the app password: %v", err)
	}
	if err := imapLoginTLS(t, r.addr(t, ServiceIMAPS), cfg.DataDir, user, appPW); err == nil {
		t.Error("IMAP with a removed app password worked")
	}
	err = chromedp.Do(ctx,
		chromedp.Submit(chromedp.CSS("#nav form")),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#user"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), "bobs own password"),
		chromedp.Submit(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#password")),
		shot("me"),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if p, err := chromedp.Evaluate[string](`location.pathname`)(ctx, tg); err != nil || p != "/me" {
				return fmt.Errorf("the user landed on %q (%v), want /me", p, err)
			}
			return nil
		}),
	)
	if err != nil {
		t.Fatalf("log in as %s: %v", user, err)
	}
}

const bossPassword = "office manager's own words"

// imapLoginTLS logs in over IMAPS, trusting the box's own certificate.
func imapLoginTLS(t *testing.T, addr, dataDir, user, password string) error {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(dataDir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	ic, err := imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: &tls.Config{RootCAs: pool, ServerName: "mail.example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	return ic.Login(user, password).Wait()
}
