package appliance

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"postroom/appliance/certs"
	"postroom/appliance/config"
)

// serverTLSConfig is the TLS configuration of every server of the box
// (SMTP, submission, IMAP, POP3, the public handler on 443): TLS 1.2 and
// 1.3 only, and under TLS 1.2 only AEAD suites with forward secrecy. Go's
// defaults still include the ECDHE CBC suites with SHA-1 MACs, which RFC
// 9325 4.2 says not to offer. TLS 1.3 suites are all AEAD and not
// configurable. The certificate comes from getCertificate at every
// handshake (appliance/certs), so a renewed one is used without a restart.
func serverTLSConfig(getCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		GetCertificate: getCertificate,
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   slices.Clone(tls12Suites),
	}
}

// tls12Suites: ECDHE with AES-GCM or ChaCha20-Poly1305, for ECDSA keys (the
// generated and ACME certificates) and RSA keys (an uploaded one).
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ensureCertificate makes sure of the certificate cfg asks for: without
// configured files, the self-signed one for cfg's host name in DATA/tls
// (certs.EnsureSelfSigned: made when missing, ending or for another
// name); otherwise the configured pair must load. The set-up's end calls
// it (run_setup.go); a start uses the manager (run_certs.go).
func ensureCertificate(cfg config.Config, dataDir string, logger *slog.Logger) (*tls.Certificate, error) {
	certPath, keyPath, generated := cfg.CertFiles(dataDir)
	if generated {
		return certs.EnsureSelfSigned(certPath, keyPath, cfg.Hostname, time.Now(), logger)
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate (tls.cert %s, tls.key %s): %w", certPath, keyPath, err)
	}
	return &cert, nil
}
