package appliance

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"postroom/appliance/config"
	"slices"
	"testing"
	"time"
)

func TestCertificateCreatedOnceAndReused(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	cfg := config.DevDefault(dir)
	cfg.Hostname = "mail.example.test"
	certPath := filepath.Join(dir, "tls", "cert.pem")
	keyPath := filepath.Join(dir, "tls", "key.pem")

	c1, err := ensureCertificate(cfg, dir, log)
	if err != nil {
		t.Fatal(err)
	}
	leaf := c1.Leaf
	if !slices.Equal(leaf.DNSNames, []string{"mail.example.test", "localhost"}) {
		t.Errorf("DNS names %v", leaf.DNSNames)
	}
	if len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IP addresses %v", leaf.IPAddresses)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	if leaf.PublicKeyAlgorithm.String() != "ECDSA" {
		t.Errorf("key algorithm %v", leaf.PublicKeyAlgorithm)
	}
	for path, mode := range map[string]os.FileMode{keyPath: 0o600, certPath: 0o644, filepath.Dir(keyPath): 0o700} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v mode %v; want %v", path, err, fi.Mode().Perm(), mode)
		}
	}
	before, _ := os.ReadFile(certPath)
	beforeKey, _ := os.ReadFile(keyPath)

	if _, err := ensureCertificate(cfg, dir, log); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(certPath)
	afterKey, _ := os.ReadFile(keyPath)
	if !bytes.Equal(before, after) || !bytes.Equal(beforeKey, afterKey) {
		t.Fatal("certificate or key changed on the second start")
	}

	// A new hostname needs a new certificate.
	cfg.Hostname = "other.example.test"
	c3, err := ensureCertificate(cfg, dir, log)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Leaf.DNSNames[0] != "other.example.test" {
		t.Errorf("after a hostname change the cert names %v", c3.Leaf.DNSNames)
	}
}

func TestCertificateRepairedWhenBroken(t *testing.T) {
	dir := t.TempDir()
	cfg := config.DevDefault(dir)
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	// As after a crash between writing the key and the certificate.
	os.WriteFile(filepath.Join(dir, "tls", "key.pem"), []byte("garbage"), 0o600)
	c, err := ensureCertificate(cfg, dir, slog.New(slog.DiscardHandler))
	if err != nil || c.Leaf == nil {
		t.Fatalf("ensureCertificate over a broken pair = %v", err)
	}
}

func TestNeedsRenewal(t *testing.T) {
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := generateCertificate(cert, key, "box.test", now.Add(-certLifetime+10*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	cfg := config.DevDefault(dir)
	cfg.TLS = config.TLSFiles{Cert: "c.pem", Key: "k.pem"} // relative to the data folder
	c, err := ensureCertificate(cfg, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("configured certificate: %v", err)
	}
	if got := needsRenewal(c.Leaf, "box.test", now); got == "" {
		t.Error("a certificate 10 days from expiry does not need renewal")
	}
	if got := needsRenewal(c.Leaf, "box.test", now.Add(-365*24*time.Hour)); got != "" {
		t.Errorf("a young certificate needs renewal: %s", got)
	}
	if got := needsRenewal(c.Leaf, "new.test", now.Add(-365*24*time.Hour)); got == "" {
		t.Error("a certificate for another hostname does not need renewal")
	}

	cfg.TLS = config.TLSFiles{Cert: "missing.pem", Key: "k.pem"}
	if _, err := ensureCertificate(cfg, dir, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a missing configured certificate is not an error")
	}
}
