package transition

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postroom/internal/dovecottest"
	"postroom/internal/testutil"
	"postroom/storage/storagetest"
)

// certSum is the SHA-256 of the certificate in a PEM file.
func certSum(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s holds no PEM", file)
	}
	sum := sha256.Sum256(b.Bytes)
	return hex.EncodeToString(sum[:])
}

// TestTrustSelfSigned: an old server with a self-signed certificate is
// refused with the certificate's fingerprint, subject and dates; trusted
// by its fingerprint, the move goes on, over IMAPS, IMAP STARTTLS, POP3S
// and POP3 STLS; a different certificate later is refused again.
func TestTrustSelfSigned(t *testing.T) {
	dc := dovecottest.Start(t, dovecottest.User{Name: oldUser, Password: oldPass})
	fillOld(t, dc, oldMail[:2])
	// The same account behind a server with another certificate.
	other := dovecottest.StartWith(t, dovecottest.Options{CertName: "other.example"}, dovecottest.User{Name: oldUser, Password: oldPass})
	sum := certSum(t, dc.CertFile)
	for _, tc := range []struct {
		protocol, security string
		addr, otherAddr    string
	}{
		{IMAP, TLS, dc.IMAPS, other.IMAPS},
		{IMAP, StartTLS, dc.IMAP, other.IMAP},
		{POP3, TLS, dc.POP3S, other.POP3S},
		{POP3, StartTLS, dc.POP3, other.POP3},
	} {
		t.Run(tc.protocol+" "+tc.security, func(t *testing.T) {
			st := storagetest.Open(t)
			storagetest.Account(t, st, ours)
			// The system's authorities only, as on the box.
			m, err := New(Options{Store: st, Dir: filepath.Join(t.TempDir(), "transition"),
				Now: testutil.NewClock(day.Add(24 * time.Hour)).Now, Timeout: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			n := NewSource{Account: ours, Protocol: tc.protocol, Host: "localhost", Port: port(t, tc.addr), Security: tc.security, Username: oldUser, Password: oldPass}
			_, err = m.Add(ctx, n)
			var ce *CertError
			if !errors.As(err, &ce) {
				t.Fatalf("Add without trusting: %v, want a CertError\n%s", err, dc.Log())
			}
			if ce.Cert.SHA256 != sum || ce.Pinned != "" || !strings.Contains(ce.Cert.Problem, "self-signed") ||
				!strings.Contains(ce.Cert.Subject, "localhost") || ce.Cert.NotAfter.Before(ce.Cert.NotBefore) {
				t.Errorf("the certificate shown: %+v, want fingerprint %s", ce.Cert, sum)
			}
			for _, want := range []string{"self-signed", ce.Cert.Fingerprint(), "CN=localhost", "trust it"} {
				if !strings.Contains(Explain(err), want) {
					t.Errorf("Explain lacks %q: %s", want, Explain(err))
				}
			}
			if len(m.List()) != 0 {
				t.Error("a refused source was kept")
			}

			// Trusted by its fingerprint, as copied from the page.
			n.Pin = ce.Cert.Fingerprint()
			src, err := m.Add(ctx, n)
			if err != nil {
				t.Fatalf("Add trusting the certificate: %v", err)
			}
			if src.Pin != sum || src.Trusted == nil || src.Trusted.SHA256 != sum || src.Trusted.Subject != ce.Cert.Subject {
				t.Errorf("the source: pin %q, trusted %+v", src.Pin, src.Trusted)
			}
			if res, err := m.RunOnce(ctx, src.ID); err != nil || res.Fetched != 2 {
				t.Fatalf("run with the trusted certificate: %+v %v", res, err)
			}
			// Kept across a restart.
			m2, err := New(m.o)
			if err != nil {
				t.Fatal(err)
			}
			if res, err := m2.RunOnce(ctx, src.ID); err != nil || res.Fetched != 0 {
				t.Fatalf("run after a restart: %+v %v", res, err)
			}

			// The old server shows another certificate: refused, and said.
			m2.update(src.ID, func(r *record) { r.Port = port(t, tc.otherAddr) })
			_, err = m2.RunOnce(ctx, src.ID)
			if err == nil || !strings.Contains(err.Error(), "different certificate") || !strings.Contains(err.Error(), colons(sum)) {
				t.Fatalf("run against another certificate: %v", err)
			}
			s, _ := m2.Get(src.ID)
			if !strings.Contains(s.LastError, "different certificate") {
				t.Errorf("LastError: %q", s.LastError)
			}
			// The office's server really changed it: trusted in place,
			// by the fingerprint the refusal showed, and no other.
			otherSum := certSum(t, other.CertFile)
			if s.Offered == nil || s.Offered.SHA256 != otherSum {
				t.Fatalf("the refused certificate is not offered: %+v", s.Offered)
			}
			if _, err := m2.Trust(src.ID, sum); err == nil {
				t.Error("Trust took a fingerprint that is not the one offered")
			}
			s, err = m2.Trust(src.ID, s.Offered.Fingerprint())
			if err != nil || s.Pin != otherSum || s.Trusted == nil || s.Offered != nil || s.LastError != "" {
				t.Fatalf("Trust: %+v %v", s, err)
			}
			if _, err := m2.RunOnce(ctx, src.ID); err != nil {
				t.Fatalf("run after trusting the new certificate: %v", err)
			}
		})
	}

	// A fingerprint that is not the server's is refused at once.
	st := storagetest.Open(t)
	storagetest.Account(t, st, ours)
	m := newManager(t, st, dc)
	wrong := strings.Repeat("ab", 32)
	_, err := m.Add(context.Background(), NewSource{Account: ours, Protocol: IMAP, Host: "localhost", Port: port(t, dc.IMAPS), Username: oldUser, Password: oldPass, Pin: wrong})
	var ce *CertError
	if !errors.As(err, &ce) || ce.Pinned != wrong || ce.Cert.SHA256 != sum {
		t.Errorf("Add with a wrong fingerprint: %v", err)
	}
	for _, bad := range []string{"ab:cd", strings.Repeat("zz", 32)} {
		_, err := m.Add(context.Background(), NewSource{Account: ours, Protocol: IMAP, Host: "localhost", Port: port(t, dc.IMAPS), Username: oldUser, Password: oldPass, Pin: bad})
		if fe, ok := err.(*FieldError); !ok || fe.Field != "pin" {
			t.Errorf("pin %q: %v", bad, err)
		}
	}
}

// TestCertProblems: why a certificate is refused, in plain words, for a
// self-signed one, one out of date and one for another name.
func TestCertProblems(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name        string
		names       []string
		from, until time.Time
		want        string
	}{
		{"self-signed", []string{"localhost"}, now.Add(-time.Hour), now.Add(time.Hour), "self-signed"},
		{"expired", []string{"localhost"}, now.Add(-48 * time.Hour), now.Add(-24 * time.Hour), "out of date"},
		{"another name", []string{"mail.example.com"}, now.Add(-time.Hour), now.Add(time.Hour), "made for mail.example.com, not for localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert := makeCert(t, tc.names, tc.from, tc.until)
			l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				c, err := l.Accept()
				if err == nil {
					c.(*tls.Conn).Handshake()
					c.Close()
				}
			}()
			pool := x509.NewCertPool()
			pool.AddCert(cert.Leaf)
			if tc.name == "self-signed" {
				pool = x509.NewCertPool() // not trusted at all
			}
			p := &puller{m: &Manager{o: Options{RootCAs: pool}}, src: Source{Host: "localhost"}}
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = p.tlsErr(tls.Client(c, p.tlsConfig()).Handshake())
			var ce *CertError
			if !errors.As(err, &ce) || !strings.Contains(ce.Cert.Problem, tc.want) {
				t.Fatalf("%v, want a CertError saying %q", err, tc.want)
			}
			if sum := sha256.Sum256(cert.Leaf.Raw); ce.Cert.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("fingerprint %s", ce.Cert.SHA256)
			}
		})
	}
}

func makeCert(t *testing.T, names []string, from, until time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: from, NotAfter: until, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}
