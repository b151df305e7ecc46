package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

var tlsCache sync.Map // name -> *tlsPair

type tlsPair struct{ server, client *tls.Config }

// TLS returns a server config with a self-signed certificate for name,
// localhost and 127.0.0.1, and a client config that trusts exactly that
// certificate and expects name. One certificate is made per name and test
// binary; the configs returned are fresh copies.
func TLS(tb testing.TB, name string) (server, client *tls.Config) {
	tb.Helper()
	if p, ok := tlsCache.Load(name); ok {
		return p.(*tlsPair).server.Clone(), p.(*tlsPair).client.Clone()
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name, "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	p := &tlsPair{
		server: &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}},
			MinVersion:   tls.VersionTLS12,
		},
		client: &tls.Config{RootCAs: pool, ServerName: name},
	}
	actual, _ := tlsCache.LoadOrStore(name, p)
	return actual.(*tlsPair).server.Clone(), actual.(*tlsPair).client.Clone()
}
