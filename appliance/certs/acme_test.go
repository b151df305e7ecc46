package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"postroom/internal/dnstest"
	"postroom/internal/pebbletest"
	"postroom/internal/testutil"
)

// box is a Manager with the public listeners an ACME authority reaches:
// HTTP (port 80's role) and TLS (443's), on 127.0.0.1.
type box struct {
	m        *Manager
	clock    *testutil.Clock
	dir      string
	httpPort int
	tlsPort  int
	states   chan State
}

// startBox starts the box's clock at the real time: Pebble issues
// certificates from its own (real) clock, and the box's clock moves on
// from there.
func startBox(t *testing.T) *box {
	t.Helper()
	b := &box{dir: t.TempDir(), clock: testutil.NewClock(time.Now()), states: make(chan State, 100)}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.m.HTTPHandler(http.NotFoundHandler()).ServeHTTP(w, r)
	})}
	go hs.Serve(hl)
	t.Cleanup(func() { hs.Close() })
	tl, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return b.m.GetChallengeCertificate(h) },
		NextProtos:     []string{"http/1.1", acme.ALPNProto},
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	t.Cleanup(func() { tl.Close() })
	b.httpPort, b.tlsPort = hl.Addr().(*net.TCPAddr).Port, tl.Addr().(*net.TCPAddr).Port
	return b
}

// newManager makes the box's Manager for mail.example.org and example.org,
// with ACME against p (challenges in order of preference).
func (b *box) newManager(t *testing.T, p *pebbletest.Pebble, challenges ...string) {
	t.Helper()
	m, err := New(Options{
		Dir: b.dir, Hostname: "mail.example.org", Domains: []string{"example.org"},
		ACME:     ACMEOptions{DirectoryURL: p.DirectoryURL, Email: "admin@example.org", HTTPClient: p.Client, Challenges: challenges},
		Now:      b.clock.Now,
		Logger:   testutil.Logger(t),
		OnChange: func(s State) { b.states <- s },
	})
	if err != nil {
		t.Fatal(err)
	}
	b.m = m
}

func zone(names ...string) []string {
	var rrs []string
	for _, n := range names {
		rrs = append(rrs, n+". 60 IN A 127.0.0.1")
	}
	return rrs
}

// verify checks that cert chains to roots for every name at the given
// time, as a mail program would.
func verify(t *testing.T, cert *tls.Certificate, roots *x509.CertPool, at time.Time, names ...string) {
	t.Helper()
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		inter.AddCert(c)
	}
	for _, n := range names {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: n, CurrentTime: at}); err != nil {
			t.Errorf("certificate for %s: %v", n, err)
		}
	}
}

func TestACMEIssueRenewAndCADown(t *testing.T) {
	dns := dnstest.Start(t, zone("mail.example.org", "autoconfig.example.org", "autodiscover.example.org")...)
	b := startBox(t)
	p := pebbletest.Start(t, pebbletest.Options{DNS: dns.Addr(), HTTPPort: b.httpPort, TLSPort: b.tlsPort})
	roots := p.Roots(t)
	b.newManager(t, p, HTTP01, TLSALPN01)
	ctx := context.Background()

	if s := b.m.State(); s.Source != SelfSigned || s.Trusted() || len(s.Fingerprint) != 95 {
		t.Fatalf("before ACME: %+v", s)
	}
	self := b.m.Certificate()

	// Issue.
	if err := b.m.Check(ctx); err != nil {
		t.Fatalf("first check: %v", err)
	}
	first := b.m.Certificate()
	s := b.m.State()
	if s.Source != ACME || s.Problem != "" || first == self {
		t.Fatalf("after issue: %+v", s)
	}
	verify(t, first, roots, time.Now(), "mail.example.org", "autoconfig.example.org", "autodiscover.example.org")
	if want := b.clock.Now().Add(checkEvery); !s.NextCheck.Equal(want) {
		t.Errorf("next check %v, want %v", s.NextCheck, want)
	}
	for _, f := range []string{"acme/account.pem", "acme/certificate.pem"} {
		fi, err := os.Stat(filepath.Join(b.dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", f, fi.Mode(), err)
		}
	}

	// A second check while the certificate is young asks for nothing.
	if err := b.m.Check(ctx); err != nil || b.m.Certificate() != first {
		t.Fatalf("check of a young certificate: %v, replaced %v", err, b.m.Certificate() != first)
	}

	// A restart finds the certificate in the folder.
	b.newManager(t, p, HTTP01)
	if b.m.State().Source != ACME || b.m.State().Fingerprint != Fingerprint(first.Leaf.Raw) {
		t.Fatalf("after a restart: %+v", b.m.State())
	}

	// Renew: 29 days before the end.
	b.clock.Set(first.Leaf.NotAfter.Add(-29 * 24 * time.Hour))
	if err := b.m.Check(ctx); err != nil {
		t.Fatalf("renewal: %v", err)
	}
	second := b.m.Certificate()
	if second.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 || second.Leaf.NotAfter.Before(first.Leaf.NotAfter) { // issued seconds apart: the same end is fine
		t.Fatalf("renewal kept the old certificate (until %v)", second.Leaf.NotAfter)
	}
	verify(t, second, roots, time.Now(), "mail.example.org")

	// The CA goes down at the next renewal: the certificate stays, the
	// status says why and when the box tries again.
	p.Stop()
	b.clock.Set(second.Leaf.NotAfter.Add(-10 * 24 * time.Hour))
	err := b.m.Check(ctx)
	if err == nil {
		t.Fatal("check with the CA down succeeded")
	}
	s = b.m.State()
	if b.m.Certificate() != second || s.Source != ACME {
		t.Fatalf("the CA down changed the certificate: %+v", s)
	}
	for _, want := range []string{"could not be reached", "The certificate in use stays", "tries again at"} {
		if !strings.Contains(s.Problem, want) {
			t.Errorf("problem %q lacks %q", s.Problem, want)
		}
	}
	if want := b.clock.Now().Add(retryFirst); !s.NextCheck.Equal(want) {
		t.Errorf("next check %v, want %v", s.NextCheck, want)
	}
	// The second failure in a row waits longer.
	b.m.Check(ctx)
	if want := b.clock.Now().Add(2 * retryFirst); !b.m.State().NextCheck.Equal(want) {
		t.Errorf("after two failures next check %v, want %v", b.m.State().NextCheck, want)
	}
	if got := <-b.states; got.Source == "" {
		t.Errorf("OnChange got %+v", got)
	}
}

func TestACMETLSALPN(t *testing.T) {
	dns := dnstest.Start(t, zone("mail.example.org", "autoconfig.example.org", "autodiscover.example.org")...)
	b := startBox(t)
	// HTTP-01 would reach a port where nothing answers the challenge:
	// only TLS-ALPN-01 can pass.
	p := pebbletest.Start(t, pebbletest.Options{DNS: dns.Addr(), HTTPPort: pebbletest.FreePort(t), TLSPort: b.tlsPort})
	b.newManager(t, p, TLSALPN01)
	if err := b.m.Check(context.Background()); err != nil {
		t.Fatalf("TLS-ALPN-01: %v", err)
	}
	verify(t, b.m.Certificate(), p.Roots(t), time.Now(), "mail.example.org", "autodiscover.example.org")
}

// TestACMEUnreachableName: autodiscover.example.org has no address, so
// the authority cannot validate it; the certificate covers the rest and
// the status names what is missing.
func TestACMEUnreachableName(t *testing.T) {
	dns := dnstest.Start(t, zone("mail.example.org", "autoconfig.example.org")...)
	b := startBox(t)
	p := pebbletest.Start(t, pebbletest.Options{DNS: dns.Addr(), HTTPPort: b.httpPort, TLSPort: b.tlsPort})
	b.newManager(t, p, HTTP01)
	if err := b.m.Check(context.Background()); err != nil {
		t.Fatalf("check: %v", err)
	}
	s := b.m.State()
	if s.Source != ACME || !slices.Equal(s.Names, []string{"mail.example.org", "autoconfig.example.org"}) {
		t.Fatalf("state %+v", s)
	}
	if !strings.Contains(s.Problem, "does not cover autodiscover.example.org") {
		t.Errorf("problem %q", s.Problem)
	}
	// The next check does not order again for the missing name; the
	// renewal tries it again (and now it resolves).
	first := b.m.Certificate()
	if err := b.m.Check(context.Background()); err != nil || b.m.Certificate() != first {
		t.Fatalf("second check: %v, ordered again: %v", err, b.m.Certificate() != first)
	}
	dns.Add("autodiscover.example.org. 60 IN A 127.0.0.1")
	b.clock.Set(first.Leaf.NotAfter.Add(-20 * 24 * time.Hour))
	if err := b.m.Check(context.Background()); err != nil {
		t.Fatalf("renewal: %v", err)
	}
	if s := b.m.State(); len(s.Names) != 3 || s.Problem != "" {
		t.Errorf("after the renewal: names %v, problem %q", s.Names, s.Problem)
	}
}

// TestACMEHostUnreachable: when the host name itself cannot be validated
// the self-signed certificate stays and the status says which name.
func TestACMEHostUnreachable(t *testing.T) {
	dns := dnstest.Start(t)
	b := startBox(t)
	p := pebbletest.Start(t, pebbletest.Options{DNS: dns.Addr(), HTTPPort: b.httpPort, TLSPort: b.tlsPort})
	b.newManager(t, p, HTTP01)
	if err := b.m.Check(context.Background()); err == nil {
		t.Fatal("check succeeded without DNS")
	}
	s := b.m.State()
	if s.Source != SelfSigned || !strings.Contains(s.Problem, "could not check that mail.example.org is this box") {
		t.Fatalf("state %+v", s)
	}
}
