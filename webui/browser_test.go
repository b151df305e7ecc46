package webui

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"postroom/appliance/status"
)

// TestBrowser drives Debian's chromium (headless) through the pages at a
// phone's width and a desktop's: it logs in, adds an account, sees a bad
// storage limit refused next to its field, watches the status page
// follow a change live (Server-Sent Events, the script allowed by the
// CSP), finds the client set-up on the account page and /me no wider
// than the window with QR codes that read back, and saves a screenshot of every page under testoutput/ (or
// $POSTROOM_SCREENSHOTS) to look at. Without chromium it is skipped;
// `make deps` installs it.
func TestBrowser(t *testing.T) {
	s := newSite(t)
	for _, width := range []int64{390, 1280} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			// A browser of its own per width: one profile shared by both
			// can carry the first run's login cookie (chromium writes it
			// to the profile when a slow run gives it time), and the
			// second run then never sees the login form.
			alloc, out := startChromium(t)
			ctx, cancel := chromedp.NewContext(alloc)
			defer cancel()
			ctx, cancel = context.WithTimeout(ctx, 4*time.Minute) // a bound, not a speed target: a loaded machine is slow
			defer cancel()
			shot := screenshot(out, width)
			// fits checks a page with a client set-up: nothing is wider
			// than the window, its QR codes show (the CSP lets data:
			// images in), and the IMAP one, as the page draws it, reads
			// back as its link with a real decoder (zbarimg, if there).
			fits := func(page string) chromedp.Action[chromedp.Void] {
				return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					r, err := chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth,
						...Array.from(document.querySelectorAll("#client-setup img")).map(i => i.complete ? i.naturalWidth : 0)]`)(ctx, tg)
					if err != nil {
						return err
					}
					if r[0] > r[1] {
						return fmt.Errorf("%s: the page is %d px wide in a %d px window", page, r[0], r[1])
					}
					if len(r) != 4 || r[2] != 256 || r[3] != 256 {
						return fmt.Errorf("%s: QR codes %v, want two of 256 px", page, r[2:])
					}
					zbar, err := exec.LookPath("zbarimg")
					if err != nil {
						return nil
					}
					png, err := chromedp.Screenshot(chromedp.CSS("#qr-imap img"))(ctx, tg)
					if err != nil {
						return err
					}
					f := filepath.Join(t.TempDir(), "qr.png")
					if err := os.WriteFile(f, png, 0o644); err != nil {
						return err
					}
					got, err := exec.Command(zbar, "-q", "--raw", f).Output()
					if err != nil {
						return fmt.Errorf("%s: zbarimg: %v", page, err)
					}
					link, err := chromedp.Evaluate[string](`document.querySelector("#qr-imap a").getAttribute("href")`)(ctx, tg)
					if err != nil {
						return err
					}
					if strings.TrimSpace(string(got)) != link {
						return fmt.Errorf("%s: the QR code reads %q, the link is %q", page, got, link)
					}
					return nil
				})
			}
			user := fmt.Sprintf("new%d@example.org", width)
			base := s.srv.URL
			err := chromedp.Do(ctx,
				chromedp.EmulateViewport(width, 800),
				chromedp.Navigate(base+"/accounts"), // to the login, and back after it
				chromedp.WaitVisible(chromedp.CSS("#login")),
				shot("login"),
				chromedp.SendKeys(chromedp.CSS("#user"), boss),
				chromedp.SendKeys(chromedp.CSS("#password"), bossPW),
				chromedp.Submit(chromedp.CSS("#login")),
				chromedp.WaitVisible(chromedp.CSS("#accounts")),
				shot("accounts"),
				chromedp.SendKeys(chromedp.CSS("#add-name"), user),
				chromedp.SendKeys(chromedp.CSS("#add-password"), "new-user-password"),
				chromedp.Submit(chromedp.CSS("#add")),
				chromedp.WaitVisible(chromedp.CSS("#notice")),
				fits("account"),
				shot("account"),
				chromedp.SetValue(chromedp.CSS("#quota-quota"), "lots"),
				chromedp.Submit(chromedp.CSS("#quota")),
				chromedp.WaitVisible(chromedp.CSS("#err-quota-quota")),
				shot("account-error"),
				chromedp.Navigate(base+"/domains"), chromedp.WaitVisible(chromedp.CSS("#domains")), shot("domains"),
				chromedp.Navigate(base+"/queue"), chromedp.WaitVisible(chromedp.CSS("#queue")), shot("queue"),
				chromedp.Navigate(base+"/settings"), chromedp.WaitVisible(chromedp.CSS("#smarthost")), shot("settings"),
				chromedp.Navigate(base+"/me"), chromedp.WaitVisible(chromedp.CSS("#password")), fits("me"), shot("me"),
				chromedp.Navigate(base+"/log"), chromedp.WaitVisible(chromedp.CSS("#log")), shot("log"),
				chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#live")),
				chromedp.Func(func(context.Context, *chromedp.Target) error {
					s.bus.Update(func(sn *status.Snapshot) { sn.Problem = fmt.Sprintf("Test problem %d", width) })
					return nil
				}),
				chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//div[@id="problem"][contains(., "Test problem %d")]`, width))),
				shot("status"),
			)
			if err != nil {
				t.Fatalf("browser: %v\nlog:\n%s", err, s.log)
			}
			if a := s.account(t, user); a.Quota != 0 {
				t.Errorf("%s: %+v", user, a)
			}
			s.bus.Update(func(sn *status.Snapshot) { sn.Problem = "" })
		})
	}
}

// startChromium starts Debian's chromium (headless) for the test and
// returns its allocator and the folder for screenshots (testoutput/, or
// $POSTROOM_SCREENSHOTS). Without chromium, or with -short, the test is
// skipped; `make deps` installs it.
func startChromium(t *testing.T) (context.Context, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("a browser test")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("no chromium: make deps installs it")
	}
	out := os.Getenv("POSTROOM_SCREENSHOTS")
	if out == "" {
		out = "testoutput"
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	// Flags from shared/TESTING.md: nothing may leave the machine.
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	t.Cleanup(cancel)
	return alloc, out
}

// screenshot saves the whole page as out/NAME-WIDTH.png.
func screenshot(out string, width int64) func(name string) chromedp.Action[chromedp.Void] {
	return func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(out, fmt.Sprintf("%s-%d.png", name, width)), png, 0o644)
		})
	}
}
