package admin

import (
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"strings"
	"testing"

	"postroom/appliance/certs"
	"postroom/internal/testutil"
)

// TestCertificateOps: the certificate operations over a real manager: a
// refused upload names its field and changes nothing; a good one is used
// and logged without its key; removing it goes back to the self-signed
// certificate; a stopped box says it must run.
func TestCertificateOps(t *testing.T) {
	e := newEnv(t)
	step0 := []step{{op: GetCertificate{}, code: CodeConflict, want: "only while the box runs"}}
	e.run(t, step0)

	server, _ := testutil.TLS(t, "mail.example.org") // self-made: trusted through Roots below
	leaf := server.Certificates[0].Leaf
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	m, err := certs.New(certs.Options{Dir: t.TempDir(), Hostname: "mail.example.org", Roots: roots, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.a.o.Certificates = m
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))
	keyDER, _ := x509.MarshalPKCS8PrivateKey(server.Certificates[0].PrivateKey)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	otherServer, _ := testutil.TLS(t, "other.example.org")
	otherDER, _ := x509.MarshalPKCS8PrivateKey(otherServer.Certificates[0].PrivateKey)
	otherKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: otherDER}))

	source := func(want certs.Source) func(t *testing.T, e *env, res any) {
		return func(t *testing.T, e *env, res any) {
			if s := res.(certs.State); s.Source != want {
				t.Errorf("source %s, want %s", s.Source, want)
			}
		}
	}
	e.run(t, []step{
		{op: GetCertificate{}, check: source(certs.SelfSigned)},
		{op: UploadCertificate{Cert: "garbage", Key: keyPEM}, code: CodeInvalid, field: "cert", want: "not a certificate"},
		{op: UploadCertificate{Cert: certPEM, Key: otherKey}, code: CodeInvalid, field: "key", want: "does not belong"},
		{op: UploadCertificate{Cert: certPEM, Key: ""}, code: CodeInvalid, field: "key", want: "not one private key"},
		{op: RemoveCertificate{}, code: CodeNotFound, want: "no uploaded certificate"},
		{op: GetCertificate{}, check: source(certs.SelfSigned)},
		{op: UploadCertificate{Cert: certPEM, Key: keyPEM}, want: "put an uploaded certificate in use for mail.example.org", check: source(certs.Uploaded)},
		{op: RenewCertificate{}, want: "asked for a new certificate check"},
		{op: RemoveCertificate{}, want: "now using the self-signed one", check: source(certs.SelfSigned)},
	})
	keyBody := strings.Split(keyPEM, "\n")[1] // a line of the key itself
	if strings.Contains(e.log.String(), keyBody) {
		t.Errorf("the key is in the audit log:\n%s", e.log.String())
	}
	var b testutil.SyncBuffer
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "req", UploadCertificate{Cert: certPEM, Key: keyPEM})
	if strings.Contains(b.String(), keyBody) || strings.Contains(b.String(), "PRIVATE") {
		t.Errorf("LogValue shows the key: %s", b.String())
	}
}
