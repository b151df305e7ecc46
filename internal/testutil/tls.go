package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
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

// PEMFiles writes TLS(tb, name)'s certificate and key as PEM files
// (cert.pem 0644, key.pem 0600) into dir, for programs that read files:
// Postfix, or a client told to trust exactly that certificate.
func PEMFiles(tb testing.TB, name, dir string) (certFile, keyFile string) {
	tb.Helper()
	server, _ := TLS(tb, name)
	pair := server.Certificates[0]
	keyDER, err := x509.MarshalPKCS8PrivateKey(pair.PrivateKey)
	if err != nil {
		tb.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pair.Certificate[0]}), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return certFile, keyFile
}
