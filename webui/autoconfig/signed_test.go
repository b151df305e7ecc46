package autoconfig_test

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postroom/appliance/certs"
	"postroom/internal/testutil"
	"postroom/webui/autoconfig"
)

// TestSignedProfile: with a signer, the profile goes out as CMS
// SignedData that Debian's openssl verifies against the signing
// certificate, and the content inside is the profile the phone reads.
func TestSignedProfile(t *testing.T) {
	server, _ := testutil.TLS(t, "mail.example.org")
	cert := &server.Certificates[0]
	s := testSettings()
	srv := httptest.NewServer(autoconfig.New(autoconfig.Options{
		Settings:    func() autoconfig.Settings { return s },
		Logger:      slog.New(slog.DiscardHandler),
		SignProfile: func(b []byte) ([]byte, error) { return certs.SignCMS(b, cert, time.Now()) },
	}))
	t.Cleanup(srv.Close)
	b := &box{url: srv.URL}
	code, hdr, body := b.do(t, "GET", "", "/profile/mail.mobileconfig?emailaddress=anna%40example.org&protocol=imap", "")
	if code != 200 || hdr.Get("Content-Type") != "application/x-apple-aspen-config" || bytes.Contains(body, []byte("<?xml")) == false {
		t.Fatalf("%d %v", code, hdr)
	}
	if body[0] != 0x30 {
		t.Fatalf("not DER: %q", body[:20])
	}
	dir := t.TempDir()
	certFile, _ := testutil.PEMFiles(t, "mail.example.org", dir)
	in, out := filepath.Join(dir, "p.mobileconfig"), filepath.Join(dir, "p.plist")
	os.WriteFile(in, body, 0o600)
	if b, err := exec.Command("openssl", "cms", "-verify", "-inform", "DER", "-in", in, "-CAfile", certFile, "-purpose", "any", "-out", out).CombinedOutput(); err != nil {
		t.Fatalf("openssl cms -verify: %v\n%s", err, b)
	}
	plist, _ := os.ReadFile(out)
	checkProfile(t, plist, "EmailTypeIMAP", 993)
}

// TestSetupPageFingerprint: the self-signed certificate's fingerprint is
// on the page, with what to do with it; a trusted certificate needs none.
func TestSetupPageFingerprint(t *testing.T) {
	b := startBox(t)
	s := testSettings()
	a := autoconfig.Account{Address: "anna@example.org"}
	for _, fp := range []string{"AB:CD:EF", ""} {
		s.Fingerprint = fp
		p, err := autoconfig.NewSetupPage(s, a, b.links, b.url)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := p.HTML()
		has := strings.Contains(string(h), `<code id="set-fingerprint" class="fingerprint">AB:CD:EF</code>`)
		if has != (fp != "") || strings.Contains(string(h), "fingerprint-note") != (fp != "") {
			t.Errorf("fingerprint %q: shown %v\n%s", fp, has, h)
		}
	}
}
