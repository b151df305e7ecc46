package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"postroom/internal/atomicfile"
)

const (
	// SelfSignedLifetime stays within the 825 days that Apple's clients
	// accept, which is also the most a self-signed certificate is trusted
	// for there.
	SelfSignedLifetime = 825 * 24 * time.Hour
	// RenewBefore: a certificate this close to its end is replaced, the
	// self-signed one at start-up and an ACME one by the renewal check
	// (Let's Encrypt's own advice: renew when a third of 90 days is left).
	RenewBefore = 30 * 24 * time.Hour
)

// EnsureSelfSigned loads the self-signed pair at certPath and keyPath and
// returns it, making a new ECDSA P-256 certificate for hostname, localhost,
// 127.0.0.1 and ::1 when the files are missing or unreadable, expire within
// RenewBefore of now, or do not name hostname. Otherwise the same
// certificate is reused on every start, so that a person who accepted it
// in a mail program is not asked again. The set-up wizard calls it too.
func EnsureSelfSigned(certPath, keyPath, hostname string, now time.Time, logger *slog.Logger) (*tls.Certificate, error) {
	if logger == nil {
		logger = slog.Default()
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	switch {
	case err == nil:
		if reason := SelfSignedReason(cert.Leaf, hostname, now); reason == "" {
			logger.Debug("reusing self-signed TLS certificate", "cert", certPath)
			return &cert, nil
		} else {
			logger.Info("making a new self-signed TLS certificate", "reason", reason, "cert", certPath)
		}
	case errors.Is(err, fs.ErrNotExist):
		logger.Info("making a self-signed TLS certificate", "hostname", hostname, "cert", certPath)
	default:
		// Ours to replace: e.g. a crash between writing the key and the cert.
		logger.Warn("generated TLS certificate is unreadable; making a new one", "cert", certPath, "err", err)
	}
	if err := GenerateSelfSigned(certPath, keyPath, hostname, now); err != nil {
		return nil, err
	}
	cert, err = tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("load the new TLS certificate: %w", err)
	}
	return &cert, nil
}

// SelfSignedReason says in words why a generated certificate must be made
// again, or "" when it is fine.
func SelfSignedReason(leaf *x509.Certificate, hostname string, now time.Time) string {
	if leaf == nil {
		return "no certificate in the file"
	}
	if now.Add(RenewBefore).After(leaf.NotAfter) {
		return "expires on " + leaf.NotAfter.Format(time.DateOnly)
	}
	if !slices.Contains(leaf.DNSNames, hostname) {
		return "hostname changed to " + hostname
	}
	return ""
}

// GenerateSelfSigned writes a new self-signed certificate for hostname
// (and localhost, 127.0.0.1, ::1), valid from an hour before now for
// SelfSignedLifetime, and its key (0600).
func GenerateSelfSigned(certPath, keyPath, hostname string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return fmt.Errorf("generate TLS serial: %w", err)
	}
	names := []string{hostname}
	if hostname != "localhost" {
		names = append(names, "localhost")
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hostname, Organization: []string{"Postroom (self-signed)"}},
		NotBefore:             now.Add(-time.Hour), // tolerate a clock a little behind
		NotAfter:              now.Add(SelfSignedLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("create TLS certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode TLS key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		return fmt.Errorf("create TLS folder: %w", err)
	}
	// The key first: a cert without its key is useless, a key without its
	// cert is simply made again on the next start.
	if err := atomicfile.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return atomicfile.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
