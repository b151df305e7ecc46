package certs

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func newSelf(t *testing.T, dir, hostname string) *Manager {
	t.Helper()
	m, err := New(Options{Dir: dir, Hostname: hostname, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSelfSignedCreatedOnceAndReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")

	m := newSelf(t, dir, "mail.example.test")
	leaf := m.Certificate().Leaf
	if s := m.State(); s.Source != SelfSigned || s.Trusted() || s.Fingerprint != Fingerprint(leaf.Raw) {
		t.Errorf("state %+v", s)
	}
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
	for path, mode := range map[string]os.FileMode{keyPath: 0o600, certPath: 0o644, dir: 0o700} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v mode %v; want %v", path, err, fi.Mode().Perm(), mode)
		}
	}
	before, _ := os.ReadFile(certPath)
	beforeKey, _ := os.ReadFile(keyPath)

	newSelf(t, dir, "mail.example.test")
	after, _ := os.ReadFile(certPath)
	afterKey, _ := os.ReadFile(keyPath)
	if !bytes.Equal(before, after) || !bytes.Equal(beforeKey, afterKey) {
		t.Fatal("certificate or key changed on the second start")
	}

	// A new hostname needs a new certificate.
	if got := newSelf(t, dir, "other.example.test").Certificate().Leaf.DNSNames[0]; got != "other.example.test" {
		t.Errorf("after a hostname change the cert names %v", got)
	}
}

func TestSelfSignedRepairedWhenBroken(t *testing.T) {
	dir := t.TempDir()
	// As after a crash between writing the key and the certificate.
	os.WriteFile(filepath.Join(dir, "key.pem"), []byte("garbage"), 0o600)
	if m := newSelf(t, dir, "localhost"); m.Certificate().Leaf == nil {
		t.Fatal("no certificate over a broken pair")
	}
}

func TestSelfSignedRenewal(t *testing.T) {
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := GenerateSelfSigned(cert, key, "box.test", now.Add(-SelfSignedLifetime+10*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	m, err := New(Options{Dir: dir, Hostname: "box.test", CertFile: cert, KeyFile: key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("configured certificate: %v", err)
	}
	leaf := m.Certificate().Leaf
	if m.State().Source != Configured {
		t.Errorf("source %v", m.State().Source)
	}
	if got := SelfSignedReason(leaf, "box.test", now); got == "" {
		t.Error("a certificate 10 days from expiry does not need renewal")
	}
	if got := SelfSignedReason(leaf, "box.test", now.Add(-365*24*time.Hour)); got != "" {
		t.Errorf("a young certificate needs renewal: %s", got)
	}
	if got := SelfSignedReason(leaf, "new.test", now.Add(-365*24*time.Hour)); got == "" {
		t.Error("a certificate for another hostname does not need renewal")
	}
	if _, err := New(Options{Dir: dir, Hostname: "box.test", CertFile: filepath.Join(dir, "missing.pem"), KeyFile: key}); err == nil {
		t.Error("a missing configured certificate is not an error")
	}

	// The renewal check remakes a self-signed certificate near its end.
	own := filepath.Join(t.TempDir(), "tls")
	if err := os.MkdirAll(own, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := GenerateSelfSigned(filepath.Join(own, "cert.pem"), filepath.Join(own, "key.pem"), "box.test", now.Add(-SelfSignedLifetime+40*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	clock := now
	m, err = New(Options{Dir: own, Hostname: "box.test", Now: func() time.Time { return clock }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	old := m.Certificate()
	clock = now.Add(20 * 24 * time.Hour)
	if err := m.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if m.Certificate() == old || !m.Certificate().Leaf.NotAfter.After(clock.Add(800*24*time.Hour)) {
		t.Errorf("not renewed: until %v", m.Certificate().Leaf.NotAfter)
	}
}

func TestPublicName(t *testing.T) {
	for host, want := range map[string]bool{
		"mail.example.org": true, "Mail.Example.ORG.": true, "box.co.uk": true,
		"localhost": false, "postroom.local": false, "box": false, "192.0.2.1": false, "::1": false,
		"mail.example.test": false, "box.home.arpa": false, "box.lan": false, "box.internal": false,
	} {
		if got := PublicName(host); got != want {
			t.Errorf("PublicName(%q) = %v", host, got)
		}
	}
}
