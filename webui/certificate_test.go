package webui

import (
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"postroom/appliance/certs"
	"postroom/internal/testutil"
)

// newTestCerts is the site's certificate manager for mail.example.org: its
// own self-signed one, and testutil's certificate for the name trusted as
// an authority, so that it can be uploaded.
func newTestCerts(t testing.TB, dir string, logger *slog.Logger) *certs.Manager {
	t.Helper()
	server, _ := testutil.TLS(t, "mail.example.org")
	roots := x509.NewCertPool()
	roots.AddCert(server.Certificates[0].Leaf)
	m, err := certs.New(certs.Options{Dir: dir, Hostname: "mail.example.org", Roots: roots, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// uploadPair is testutil's certificate for name and its key, as PEM.
func uploadPair(t *testing.T, name string) (cert, key string) {
	server, _ := testutil.TLS(t, name)
	der, err := x509.MarshalPKCS8PrivateKey(server.Certificates[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificates[0].Certificate[0]})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// TestCertificateForms: the settings page shows the certificate and its
// fingerprint; pasting a certificate checks it (each refusal next to its
// field, the key never shown again), uses it, and it can be removed.
func TestCertificateForms(t *testing.T) {
	s := newSite(t)
	b := s.browser(t)
	b.login(boss, bossPW)
	resp, body := b.get("/settings")
	wantStatus(t, resp, body, 200, "/settings")
	fp := s.certs.State().Fingerprint
	for _, want := range []string{"The box made its own certificate", `<code id="cert-fingerprint" class="fingerprint">` + fp + `</code>`, `id="renew"`, `id="certificate"`} {
		if !strings.Contains(body, want) {
			t.Errorf("settings page lacks %q", want)
		}
	}

	cert, key := uploadPair(t, "mail.example.org")
	_, otherKey := uploadPair(t, "other.example.org")
	keyLine := strings.Split(key, "\n")[1]
	source := func(want certs.Source) func(t *testing.T, s *site) {
		return func(t *testing.T, s *site) {
			if got := s.certs.State().Source; got != want {
				t.Errorf("certificate source %s, want %s", got, want)
			}
		}
	}
	runForms(t, s, b, []formCase{
		{name: "garbage", path: "/settings/certificate", form: url.Values{"cert": {"<script>alert(1)</script>"}, "key": {key}}, code: 400,
			errID: "err-certificate-cert", want: "This is not a certificate", secret: keyLine, check: source(certs.SelfSigned)},
		{name: "key of another certificate", path: "/settings/certificate", form: url.Values{"cert": {cert}, "key": {otherKey}}, code: 400,
			errID: "err-certificate-key", want: "does not belong to the certificate", secret: strings.Split(otherKey, "\n")[1], check: source(certs.SelfSigned)},
		{name: "no key", path: "/settings/certificate", form: url.Values{"cert": {cert}}, code: 400, errID: "err-certificate-key",
			want: strings.Split(cert, "\n")[1], check: source(certs.SelfSigned)}, // the certificate stays in its field
		{name: "nothing uploaded to remove", path: "/settings/uncertificate", form: url.Values{}, code: 404, errID: "err-uncertificate"},
		{name: "good", path: "/settings/certificate", form: url.Values{"cert": {cert}, "key": {key}}, code: 303, check: source(certs.Uploaded)},
		{name: "renew", path: "/settings/renew", form: url.Values{}, code: 303},
		{name: "remove", path: "/settings/uncertificate", form: url.Values{}, code: 303, check: source(certs.SelfSigned)},
	})

	// After an upload the page says so and offers to stop using it.
	b.post("/settings/certificate", url.Values{"cert": {cert}, "key": {key}})
	resp, body = b.get("/settings?done=certificate")
	wantStatus(t, resp, body, 200, "/settings")
	for _, want := range []string{"Certificate saved", "The certificate uploaded here", `id="uncertificate"`} {
		if !strings.Contains(body, want) {
			t.Errorf("after the upload the page lacks %q", want)
		}
	}
	if strings.Contains(body, "cert-fingerprint") || strings.Contains(body, keyLine) {
		t.Error("a trusted certificate's page shows the fingerprint, or the key")
	}
}
