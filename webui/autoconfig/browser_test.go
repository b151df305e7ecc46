package autoconfig_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"postroom/webui/autoconfig"
)

// TestSetupPageInBrowser is issue 13's QR test with real parts: headless
// chromium renders the set-up page at phone and desktop width, zbarimg
// reads the QR codes from the screenshot, and each link, followed as the
// phone would, returns its profile. The page is served here in a bare
// layout (the web UI wraps it in its own). SCREENSHOT_DIR keeps the
// pictures for a person to look at.
func TestSetupPageInBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (apt-get install chromium)")
	}
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Skip("zbarimg not installed (apt-get install zbar-tools)")
	}
	b := startBox(t)
	s := testSettings()
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := autoconfig.NewSetupPage(s, autoconfig.Account{Address: "anna@example.org", POPRetentionDays: 30}, b.links, b.url)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		h, err := p.HTML()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><html><head><meta name="viewport" content="width=device-width"><title>Set up</title>
<style>body{font-family:sans-serif;margin:1em} img{max-width:100%;height:auto;image-rendering:pixelated}</style></head><body>` + string(h) + `</body></html>`))
	}))
	t.Cleanup(page.Close)
	outDir := os.Getenv("SCREENSHOT_DIR")
	if outDir == "" {
		outDir = t.TempDir()
	}
	for _, width := range []int{390, 1280} {
		shot := filepath.Join(outDir, "setup-"+strconv.Itoa(width)+".png")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
			"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--hide-scrollbars", "--user-data-dir="+t.TempDir(), "--window-size="+strconv.Itoa(width)+",3200",
			"--screenshot="+shot, page.URL)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("chromium at %d px: %v\n%s", width, err, out)
		}
		got, err := exec.Command(zbar, "--raw", "-q", shot).Output()
		if err != nil {
			t.Fatalf("zbarimg at %d px found no code: %v (screenshot %s)", width, err, shot)
		}
		urls := strings.Fields(string(got))
		if len(urls) != 2 {
			t.Fatalf("at %d px: %d codes read: %q", width, len(urls), urls)
		}
		kinds := map[string]bool{}
		for _, u := range urls {
			if !strings.HasPrefix(u, b.url+"/p/") {
				t.Fatalf("code reads %q", u)
			}
			code, _, body := b.do(t, "GET", "", strings.TrimPrefix(u, b.url), "")
			if code != 200 {
				t.Fatalf("%s: %d %s", u, code, body)
			}
			top := parsePlist(t, body)
			mail := top["PayloadContent"].([]any)[0].(map[string]any)
			kinds[mail["EmailAccountType"].(string)] = true
		}
		if !kinds["EmailTypeIMAP"] || !kinds["EmailTypePOP"] {
			t.Errorf("at %d px the codes give %v", width, kinds)
		}
	}
}
