package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"postroom/internal/testutil"
)

// testCA is a root and an intermediate that issue test certificates, as a
// commercial authority does.
type testCA struct {
	root, inter       *x509.Certificate
	rootKey, interKey crypto.Signer
	roots             *x509.CertPool
}

var now0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	ca := &testCA{}
	ca.root, ca.rootKey = mint(t, nil, nil, "Test Root", nil, now0.AddDate(-1, 0, 0), now0.AddDate(10, 0, 0), true)
	ca.inter, ca.interKey = mint(t, ca.root, ca.rootKey, "Test Intermediate", nil, now0.AddDate(-1, 0, 0), now0.AddDate(5, 0, 0), true)
	ca.roots = x509.NewCertPool()
	ca.roots.AddCert(ca.root)
	return ca
}

// mint makes a certificate signed by parent (self-signed when nil).
func mint(t *testing.T, parent *x509.Certificate, parentKey crypto.Signer, cn string, names []string, from, until time.Time, isCA bool) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: names,
		NotBefore: from, NotAfter: until, BasicConstraintsValid: true, IsCA: isCA,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

// leaf issues a server certificate and returns its chain and key as PEM.
func (ca *testCA) leaf(t *testing.T, names []string, from, until time.Time) (chainPEM, keyPEM []byte) {
	t.Helper()
	c, key := mint(t, ca.inter, ca.interKey, names[0], names, from, until, false)
	return chainOf(c, ca.inter), keyOf(t, key)
}

func chainOf(cs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range cs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

func keyOf(t *testing.T, key crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestUpload(t *testing.T) {
	ca := newTestCA(t)
	host := "mail.example.org"
	good, goodKey := ca.leaf(t, []string{host, "autoconfig.example.org"}, now0.AddDate(0, -1, 0), now0.AddDate(0, 2, 0))
	_, otherKey := ca.leaf(t, []string{host}, now0.AddDate(0, -1, 0), now0.AddDate(0, 2, 0))
	expired, expiredKey := ca.leaf(t, []string{host}, now0.AddDate(-1, 0, 0), now0.AddDate(0, 0, -1))
	wrong, wrongKey := ca.leaf(t, []string{"www.example.org"}, now0.AddDate(0, -1, 0), now0.AddDate(0, 2, 0))
	// The leaf without its intermediate: no path to the root.
	noInter := good[:bytes.Index(good[1:], []byte("-----BEGIN"))+1]
	stranger, strangerKey := newTestCA(t).leaf(t, []string{host}, now0.AddDate(0, -1, 0), now0.AddDate(0, 2, 0))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaLeaf := mintWithKey(t, ca, host, rsaKey, now0.AddDate(0, -1, 0), now0.AddDate(0, 2, 0))

	for _, tc := range []struct {
		name       string
		cert, key  []byte
		field, has string // "" field: accepted
	}{
		{"good chain", good, goodKey, "", ""},
		{"good, RSA key", rsaLeaf, keyOf(t, rsaKey), "", ""},
		{"key of another certificate", good, otherKey, "key", "does not belong to the certificate"},
		{"intermediate first", slices.Concat(good[len(noInter):], noInter), goodKey, "cert", "must come first"},
		{"expired", expired, expiredKey, "cert", "ended on " + now0.AddDate(0, 0, -1).Format(time.DateOnly)},
		{"wrong names", wrong, wrongKey, "cert", "is for www.example.org, not for mail.example.org"},
		{"intermediate missing", noInter, goodKey, "cert", "intermediate certificate is missing"},
		{"unknown authority", stranger, strangerKey, "cert", "no known authority signed it"},
		{"garbage certificate", []byte("hello, I am a certificate"), goodKey, "cert", "This is not a certificate"},
		{"garbage key", good, []byte("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"), "key", "cannot be read"},
		{"empty key", good, nil, "key", "not one private key"},
		{"cert pasted as key", good, good, "key", "not one private key"},
		{"huge", bytes.Repeat([]byte("A"), MaxCertPEM+1), goodKey, "cert", "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m, err := New(Options{Dir: dir, Hostname: host, Roots: ca.roots, Now: func() time.Time { return now0 }, Logger: testutil.Logger(t)})
			if err != nil {
				t.Fatal(err)
			}
			self := m.Certificate()
			s, err := m.Upload(tc.cert, tc.key)
			if tc.field == "" {
				if err != nil || s.Source != Uploaded || !s.Trusted() || m.Certificate() == self {
					t.Fatalf("Upload = %+v, %v", s, err)
				}
				if fi, err := os.Stat(filepath.Join(dir, uploadedFile)); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("uploaded file: %v %v", fi.Mode(), err)
				}
				// A restart keeps it; removing it goes back to the self-signed one.
				m2, err := New(Options{Dir: dir, Hostname: host, Now: func() time.Time { return now0 }, Logger: testutil.Logger(t)})
				if err != nil || m2.State().Source != Uploaded {
					t.Fatalf("after a restart: %+v %v", m2.State(), err)
				}
				if s, err := m2.RemoveUploaded(); err != nil || s.Source != SelfSigned {
					t.Errorf("RemoveUploaded = %+v, %v", s, err)
				}
				return
			}
			var ie *InputError
			if !errors.As(err, &ie) || ie.Field != tc.field || !strings.Contains(ie.Message, tc.has) {
				t.Fatalf("Upload error = %#v, want field %q with %q", err, tc.field, tc.has)
			}
			if m.Certificate() != self || m.State().Source != SelfSigned {
				t.Error("a refused upload changed the certificate")
			}
			if _, err := os.Stat(filepath.Join(dir, uploadedFile)); err == nil {
				t.Error("a refused upload was kept")
			}
		})
	}
}

// mintWithKey issues a server certificate for host with a given key (an
// RSA one) and returns the chain as PEM.
func mintWithKey(t *testing.T, ca *testCA, host string, key crypto.Signer, from, until time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(77), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: from, NotAfter: until, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.inter, key.Public(), ca.interKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return chainOf(c, ca.inter)
}

// TestSignedProfileVerifiesWithOpenSSL signs a profile with an ECDSA and an
// RSA certificate and has Debian's openssl check the signature against the
// root and give the content back unchanged.
func TestSignedProfileVerifiesWithOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed (make deps)")
	}
	ca := newTestCA(t)
	host := "mail.example.org"
	ecChain, ecKey := ca.leaf(t, []string{host}, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaChain := mintWithKey(t, ca, host, rsaKey, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	profile := []byte("<?xml version=\"1.0\"?>\n<plist version=\"1.0\"><dict><key>PayloadType</key><string>Configuration</string></dict></plist>\n" +
		strings.Repeat("x", 300)) // long enough for multi-byte lengths
	dir := t.TempDir()
	rootFile := filepath.Join(dir, "root.pem")
	os.WriteFile(rootFile, chainOf(ca.root), 0o600)

	for name, pair := range map[string][2][]byte{"ecdsa": {ecChain, ecKey}, "rsa": {rsaChain, keyOf(t, rsaKey)}} {
		t.Run(name, func(t *testing.T) {
			m, err := New(Options{Dir: filepath.Join(dir, name), Hostname: host, Roots: ca.roots, Logger: testutil.Logger(t)})
			if err != nil {
				t.Fatal(err)
			}
			if b, err := m.SignProfile(profile); err != nil || !bytes.Equal(b, profile) {
				t.Fatalf("with the self-signed certificate the profile changed (%v)", err)
			}
			if _, err := m.Upload(pair[0], pair[1]); err != nil {
				t.Fatal(err)
			}
			signed, err := m.SignProfile(profile)
			if err != nil {
				t.Fatal(err)
			}
			in, out := filepath.Join(dir, name+".mobileconfig"), filepath.Join(dir, name+".out")
			os.WriteFile(in, signed, 0o600)
			// -purpose any: the box's is a server certificate, which Apple
			// accepts for profiles; openssl by default wants S/MIME.
			cmd := exec.Command("openssl", "cms", "-verify", "-inform", "DER", "-in", in, "-CAfile", rootFile, "-purpose", "any", "-out", out)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("openssl cms -verify: %v\n%s", err, b)
			}
			if got, _ := os.ReadFile(out); !bytes.Equal(got, profile) {
				t.Errorf("openssl gave back %q", got)
			}
			// A changed byte fails the check.
			bad := bytes.Clone(signed)
			i := bytes.Index(bad, []byte("Configuration"))
			bad[i] = 'c'
			os.WriteFile(in, bad, 0o600)
			if b, err := exec.Command("openssl", "cms", "-verify", "-inform", "DER", "-in", in, "-CAfile", rootFile, "-purpose", "any", "-out", out).CombinedOutput(); err == nil {
				t.Errorf("openssl accepted a changed profile: %s", b)
			}
		})
	}
}
