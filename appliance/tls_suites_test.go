package appliance

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"postroom/appliance/certs"
)

// TestServerTLSSuites: real TLS 1.2 handshakes against serverTLSConfig with
// the box's own (generated ECDSA) certificate, one suite offered at a time:
// only the ECDHE AEAD suites (AES-GCM, ChaCha20-Poly1305) are accepted; a
// client offering only the CBC-SHA1 suites Go enables by default is
// refused. TLS 1.3 still works, TLS 1.1 does not.
func TestServerTLSSuites(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := certs.GenerateSelfSigned(certPath, keyPath, "mail.example.test", time.Now()); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", serverTLSConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				c.SetDeadline(time.Now().Add(10 * time.Second))
				c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	handshake := func(version uint16, suites []uint16) (tls.ConnectionState, error) {
		d := &net.Dialer{Timeout: 10 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", l.Addr().String(), &tls.Config{
			InsecureSkipVerify: true, MinVersion: version, MaxVersion: version, CipherSuites: suites,
		})
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer c.Close()
		return c.ConnectionState(), nil
	}

	want := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	}
	var accepted []uint16
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if !slices.Contains(s.SupportedVersions, tls.VersionTLS12) {
			continue
		}
		if _, err := handshake(tls.VersionTLS12, []uint16{s.ID}); err == nil {
			accepted = append(accepted, s.ID)
		}
	}
	slices.Sort(accepted)
	slices.Sort(want)
	if !slices.Equal(accepted, want) {
		t.Errorf("TLS 1.2 suites accepted: %v, want only %v", names(accepted), names(want))
	}

	cbc := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	}
	if st, err := handshake(tls.VersionTLS12, cbc); err == nil {
		t.Errorf("a client offering only CBC suites got %s", tls.CipherSuiteName(st.CipherSuite))
	}
	if st, err := handshake(tls.VersionTLS13, nil); err != nil || st.Version != tls.VersionTLS13 {
		t.Errorf("TLS 1.3: %v", err)
	}
	if _, err := handshake(tls.VersionTLS11, nil); err == nil {
		t.Error("TLS 1.1 accepted")
	}
}

func names(ids []uint16) []string {
	var out []string
	for _, id := range ids {
		out = append(out, tls.CipherSuiteName(id))
	}
	return out
}
