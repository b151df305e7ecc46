package autoconfig_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"postroom/webui/autoconfig"
)

func TestSetupPage(t *testing.T) {
	b := startBox(t)
	s := testSettings()
	for _, c := range []struct {
		days int
		want string
	}{
		{0, "Copies stay on the box until you delete them"},
		{1, "Copies stay on the box for 1 day after the download"},
		{30, "Copies stay on the box for 30 days after the download"},
	} {
		p, err := autoconfig.NewSetupPage(s, autoconfig.Account{Address: "anna@example.org", POPRetentionDays: c.days}, b.links, b.url)
		if err != nil {
			t.Fatal(err)
		}
		h, err := p.HTML()
		if err != nil {
			t.Fatal(err)
		}
		page := string(h)
		for _, want := range []string{
			c.want,
			"Mail stays on the box; every device sees the same.",
			"Mail moves to this computer",
			`<code id="set-user">anna@example.org</code>`,
			"<td>Receive (IMAP)</td><td><code>mail.example.org</code></td><td><code>993</code></td><td>SSL/TLS (encrypted from the start)</td>",
			"<td>Receive (IMAP)</td><td><code>mail.example.org</code></td><td><code>143</code></td><td>STARTTLS</td>",
			"<td>Receive (POP3)</td><td><code>mail.example.org</code></td><td><code>995</code></td>",
			"<td>Receive (POP3)</td><td><code>mail.example.org</code></td><td><code>110</code></td><td>STARTTLS</td>",
			"<td>Send (SMTP)</td><td><code>mail.example.org</code></td><td><code>465</code></td>",
			"<td>Send (SMTP)</td><td><code>mail.example.org</code></td><td><code>587</code></td><td>STARTTLS</td>",
			`<img src="data:image/png;base64,`,
			"until " + p.Profiles[0].Expires.Format("15:04 MST"),
			"New Outlook", "Classic Outlook", "Thunderbird", "Apple Mail", "Android",
		} {
			if !strings.Contains(page, want) {
				t.Errorf("retention %d: the page lacks %q", c.days, want)
			}
		}
		if len(p.Profiles) != 2 || p.Profiles[0].Protocol != autoconfig.IMAP || p.Profiles[1].Protocol != autoconfig.POP3 {
			t.Fatalf("profiles: %+v", p.Profiles)
		}
	}

	// A hostile address is text, not markup.
	p, err := autoconfig.NewSetupPage(s, autoconfig.Account{Address: `<script>x</script>@example.org`}, b.links, b.url)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := p.HTML(); strings.Contains(string(h), "<script>") {
		t.Error("the address is not escaped")
	}
}

// TestSetupPageQR decodes the page's QR codes with a real decoder
// (zbarimg, Debian's zbar-tools), follows each link as a phone would and
// checks the profile it returns; the second scan of a code finds it used.
func TestSetupPageQR(t *testing.T) {
	zbar, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Skip("zbarimg not installed (apt-get install zbar-tools)")
	}
	b := startBox(t)
	p, err := autoconfig.NewSetupPage(testSettings(), autoconfig.Account{Address: "anna@example.org", POPRetentionDays: 7}, b.links, b.url)
	if err != nil {
		t.Fatal(err)
	}
	for _, prof := range p.Profiles {
		file := filepath.Join(t.TempDir(), "qr.png")
		if err := os.WriteFile(file, prof.QRPNG, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(zbar, "--raw", "-q", file).Output()
		if err != nil {
			t.Fatalf("zbarimg: %v", err)
		}
		url := strings.TrimSpace(string(out))
		if url != prof.URL || !strings.HasPrefix(url, b.url+"/p/") {
			t.Fatalf("QR code reads %q, want %q", url, prof.URL)
		}
		code, _, body := b.do(t, "GET", "", strings.TrimPrefix(url, b.url), "")
		if code != 200 {
			t.Fatalf("%s: %d %s", url, code, body)
		}
		kind, port := "EmailTypeIMAP", 993
		if prof.Protocol == autoconfig.POP3 {
			kind, port = "EmailTypePOP", 995
		}
		checkProfile(t, body, kind, port)
		if code, _, _ := b.do(t, "GET", "", strings.TrimPrefix(url, b.url), ""); code != 404 {
			t.Errorf("second scan of %s: %d", url, code)
		}
	}
}
