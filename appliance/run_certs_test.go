package appliance

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"postroom/appliance/certs"
	"postroom/appliance/config"
	"postroom/appliance/status"
	"postroom/internal/dnstest"
	"postroom/internal/pebbletest"
	"postroom/internal/testutil"
	"postroom/webui/autoconfig"
)

// TestPublicTLS: the public handler answers over TLS on listen.public_tls
// with the box's certificate, serves only the client set-up paths, and the
// self-signed certificate's fingerprint is what clients are told to
// compare.
func TestPublicTLS(t *testing.T) {
	cfg := testConfig(t)
	free := "127.0.0.1:0"
	cfg.Listen = config.Listeners{IMAPS: free, Submissions: free, Web: free, Public: free, PublicTLS: free}
	r, _ := startDemo(t, cfg)

	pemBytes, err := os.ReadFile(filepath.Join(cfg.DataDir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	base := "https://" + r.addr(t, ServicePublicTLS)
	for _, c := range []struct {
		path string
		code int
		has  string
	}{
		{"/mail/config-v1.1.xml?emailaddress=" + config.DemoUser, 200, "<incomingServer"},
		{"/.well-known/acme-challenge/unknown-token", 404, ""},
		{"/", 404, ""},
		{"/login", 404, ""},
		{"/status.json", 404, ""},
	} {
		resp, err := client.Get(base + c.path)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(string(body), c.has) {
			t.Errorf("%s: %d, want %d with %q\n%s", c.path, resp.StatusCode, c.code, c.has, body)
		}
	}

	s := r.bus.Latest()
	if s.CertSource != string(certs.SelfSigned) || s.CertExpires.IsZero() || s.CertProblem != "" {
		t.Errorf("status: source %q, until %v, problem %q", s.CertSource, s.CertExpires, s.CertProblem)
	}
}

// TestACMEOnEveryPort runs the box with a public host name against a real
// ACME server (Pebble) that reaches the box's public port through a test
// DNS server: the services start with the self-signed certificate, the
// box gets a certificate over HTTP-01, and without a restart IMAPS, IMAP
// STARTTLS, POP3S, 465 and the public 443 present it; a real TLS client
// verifies it against Pebble's root.
func TestACMEOnEveryPort(t *testing.T) {
	const host = "mail.example.org"
	cfg := testConfig(t)
	cfg.Hostname = host
	cfg.Domains = []string{"example.org"}
	publicPort := pebbletest.FreePort(t)
	free := "127.0.0.1:0"
	cfg.Listen = config.Listeners{IMAP: free, IMAPS: free, POP3S: free, Submissions: free, Web: free,
		Public: net.JoinHostPort("127.0.0.1", strconv.Itoa(publicPort)), PublicTLS: free}

	dns := dnstest.Start(t, "mail.example.org. 60 IN A 127.0.0.1",
		"autoconfig.example.org. 60 IN A 127.0.0.1", "autodiscover.example.org. 60 IN A 127.0.0.1")
	p := pebbletest.Start(t, pebbletest.Options{DNS: dns.Addr(), HTTPPort: publicPort, TLSPort: pebbletest.FreePort(t)})
	cfg.TLS.ACME = p.DirectoryURL
	cfg.TLS.ACMEEmail = "postmaster@example.org"
	// The directory's own certificate (testutil's for localhost).
	certFile, _ := testutil.PEMFiles(t, "localhost", t.TempDir())
	cfg.TLS.ACMERoots = certFile
	roots := p.Roots(t)

	r, _ := startDemo(t, cfg)
	addrs := map[string]string{}
	for _, svc := range []string{ServiceIMAP, ServiceIMAPS, ServicePOP3S, ServiceSubmissions, ServicePublicTLS} {
		addrs[svc] = r.addr(t, svc)
	}
	// The authority validates through the public handler, which serves
	// only once every service serves: the certificate comes after the
	// services started with the self-signed one.
	// A bound longer than waitFor's: an order is several round trips
	// and three validations, slow on a loaded machine.
	notify, unsubscribe := r.bus.Subscribe()
	defer unsubscribe()
	deadline := time.After(3 * time.Minute)
	for r.bus.Latest().CertSource != string(certs.ACME) {
		select {
		case <-notify:
		case <-deadline:
			t.Fatalf("no ACME certificate; status %+v\nlog:\n%s", r.bus.Latest(), r.log.String())
		}
	}
	if n := strings.Count(r.log.String(), "postroom is running"); n != 1 {
		t.Errorf("the services started %d times", n)
	}
	if s := r.bus.Latest(); s.CertProblem != "" || s.CertDaysLeft < 80 || s.Phase != status.PhaseRunning {
		t.Errorf("status after ACME: problem %q, %d days left, phase %s", s.CertProblem, s.CertDaysLeft, s.Phase)
	}

	check := func(what string, state tls.ConnectionState) {
		t.Helper()
		leaf := state.PeerCertificates[0]
		if leaf.Issuer.CommonName == host || len(state.VerifiedChains) == 0 {
			t.Errorf("%s: certificate from %q, verified chains %d", what, leaf.Issuer.CommonName, len(state.VerifiedChains))
		}
	}
	clientTLS := func() *tls.Config { return &tls.Config{RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12} }
	for _, svc := range []string{ServiceIMAPS, ServicePOP3S, ServiceSubmissions, ServicePublicTLS} {
		if r.addr(t, svc) != addrs[svc] {
			t.Errorf("%s moved", svc)
		}
		c, err := tls.Dial("tcp", addrs[svc], clientTLS())
		if err != nil {
			t.Errorf("%s: %v", svc, err)
			continue
		}
		check(svc, c.ConnectionState())
		c.Close()
	}
	// STARTTLS takes the same certificate.
	ic, err := imapclient.DialStartTLS(r.addr(t, ServiceIMAP), &imapclient.Options{TLSConfig: clientTLS()})
	if err != nil {
		t.Fatalf("IMAP STARTTLS: %v", err)
	}
	if err := ic.Noop().Wait(); err != nil {
		t.Errorf("IMAP STARTTLS NOOP: %v", err)
	}
	ic.Close()

	// Apple profiles are now signed with it: openssl verifies the
	// signature up to Pebble's root and gives back the profile.
	resp, err := http.Get("http://" + r.addr(t, ServicePublic) + "/profile/mail.mobileconfig?emailaddress=anna%40example.org&protocol=imap")
	if err != nil {
		t.Fatal(err)
	}
	signed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	dir := t.TempDir()
	rootFile, in, out := filepath.Join(dir, "root.pem"), filepath.Join(dir, "p.mobileconfig"), filepath.Join(dir, "p.plist")
	os.WriteFile(rootFile, p.RootPEM(t), 0o600)
	os.WriteFile(in, signed, 0o600)
	if b, err := exec.Command("openssl", "cms", "-verify", "-inform", "DER", "-in", in, "-CAfile", rootFile, "-purpose", "any", "-out", out).CombinedOutput(); err != nil {
		t.Errorf("signed profile (%d, %d bytes): openssl cms -verify: %v\n%s", resp.StatusCode, len(signed), err, b)
	} else if plist, _ := os.ReadFile(out); !strings.Contains(string(plist), "<string>anna@example.org</string>") {
		t.Errorf("the signed profile holds %q", plist)
	}

	// The certificate and the account key are in the data folder, private.
	for _, f := range []string{"tls/acme/certificate.pem", "tls/acme/account.pem"} {
		fi, err := os.Stat(filepath.Join(cfg.DataDir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi, err)
		}
	}
	// Keys never reach the log.
	if strings.Contains(r.log.String(), "PRIVATE KEY") {
		t.Error("a private key is in the log")
	}
}

// TestACMEAuthorityDown: with a public host name and the authority
// unreachable, the box starts on its self-signed certificate and the
// status says why in plain words; the red LED stays off while that
// certificate has long to live.
func TestACMEAuthorityDown(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hostname = "mail.example.org"
	free := "127.0.0.1:0"
	cfg.Listen = config.Listeners{IMAPS: free, Public: free}
	cfg.TLS.ACME = "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(pebbletest.FreePort(t))) + "/dir" // nothing listens
	r, _ := startDemo(t, cfg)
	s := r.waitFor(t, "the reason in the status", func(s status.Snapshot) bool { return s.CertProblem != "" })
	if s.CertSource != string(certs.SelfSigned) || !strings.Contains(s.CertProblem, "could not be reached") ||
		!strings.Contains(s.CertProblem, "The certificate in use stays") {
		t.Errorf("status: source %q, problem %q", s.CertSource, s.CertProblem)
	}
	for _, a := range s.Attention(time.Now()) {
		if strings.Contains(a, "certificate") {
			t.Errorf("the red LED is on for a young certificate: %q", a)
		}
	}
	// The ports serve meanwhile, with the self-signed certificate.
	c, err := tls.Dial("tcp", r.addr(t, ServiceIMAPS), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if leaf := c.ConnectionState().PeerCertificates[0]; leaf.Issuer.CommonName != "mail.example.org" {
		t.Errorf("IMAPS certificate from %q", leaf.Issuer.CommonName)
	}
	c.Close()
}

// TestClientSetupFingerprint: with the self-signed certificate the client
// set-up page (/me, and the administrator's account page) shows its
// SHA-256 fingerprint, the one the ports present.
func TestClientSetupFingerprint(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = config.Listeners{IMAPS: ":993", Submissions: ":465", Public: "127.0.0.1:0"}
	rn, _ := servePublic(t, cfg)
	fp := certs.Fingerprint(rn.certs.Certificate().Leaf.Raw)
	page, err := rn.clientSetupPage(autoconfig.Account{Address: "anna@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), `<code id="set-fingerprint" class="fingerprint">`+fp+`</code>`) {
		t.Errorf("the set-up page lacks the fingerprint %s:\n%s", fp, page)
	}
}
