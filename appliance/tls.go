package appliance

import (
	"postroom/appliance/config"
	"postroom/internal/atomicfile"

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
)

const (
	// certLifetime stays within the 825 days that Apple's clients accept,
	// which is also the most a self-signed certificate is trusted for there.
	certLifetime = 825 * 24 * time.Hour
	// certRenewBefore: a generated certificate this close to expiry is made
	// again at start-up.
	certRenewBefore = 30 * 24 * time.Hour
)

// serverTLSConfig is the TLS configuration of every server of the box
// (SMTP, submission, IMAP, POP3): TLS 1.2 and 1.3 only, and under TLS 1.2
// only AEAD suites with forward secrecy. Go's defaults still include the
// ECDHE CBC suites with SHA-1 MACs, which RFC 9325 4.2 says not to offer.
// TLS 1.3 suites are all AEAD and not configurable.
func serverTLSConfig(cert *tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{*cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: slices.Clone(tls12Suites),
	}
}

// tls12Suites: ECDHE with AES-GCM or ChaCha20-Poly1305, for ECDSA keys (the
// generated certificate) and RSA keys (a configured one).
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ensureCertificate loads the TLS certificate. Without configured files it
// uses DATA/tls/cert.pem and key.pem, creating a self-signed ECDSA P-256
// certificate for the hostname, localhost, 127.0.0.1 and ::1 when they are
// missing, expire within 30 days or do not name the hostname; otherwise the
// same certificate is reused on every start.
func ensureCertificate(cfg config.Config, dataDir string, logger *slog.Logger) (*tls.Certificate, error) {
	certPath, keyPath, generated := cfg.CertFiles(dataDir)
	if !generated {
		cert, err := tls.LoadX509KeyPair(certPath, keyPath)
		if err != nil {
			return nil, fmt.Errorf("load TLS certificate (tls.cert %s, tls.key %s): %w", certPath, keyPath, err)
		}
		return &cert, nil
	}

	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	switch {
	case err == nil:
		if reason := needsRenewal(cert.Leaf, cfg.Hostname, time.Now()); reason == "" {
			logger.Debug("reusing self-signed TLS certificate", "cert", certPath)
			return &cert, nil
		} else {
			logger.Info("making a new self-signed TLS certificate", "reason", reason, "cert", certPath)
		}
	case errors.Is(err, fs.ErrNotExist):
		logger.Info("making a self-signed TLS certificate", "hostname", cfg.Hostname, "cert", certPath)
	default:
		// Ours to replace: e.g. a crash between writing the key and the cert.
		logger.Warn("generated TLS certificate is unreadable; making a new one", "cert", certPath, "err", err)
	}
	if err := generateCertificate(certPath, keyPath, cfg.Hostname, time.Now()); err != nil {
		return nil, err
	}
	cert, err = tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("load the new TLS certificate: %w", err)
	}
	return &cert, nil
}

// needsRenewal says in words why a generated certificate must be made again,
// or "" when it is fine.
func needsRenewal(leaf *x509.Certificate, hostname string, now time.Time) string {
	if leaf == nil {
		return "no certificate in the file"
	}
	if now.Add(certRenewBefore).After(leaf.NotAfter) {
		return "expires on " + leaf.NotAfter.Format(time.DateOnly)
	}
	if !slices.Contains(leaf.DNSNames, hostname) {
		return "hostname changed to " + hostname
	}
	return ""
}

func generateCertificate(certPath, keyPath, hostname string, now time.Time) error {
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
		NotAfter:              now.Add(certLifetime),
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
