package appliance

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"postroom/appliance/admin"
	"postroom/appliance/certs"
	"postroom/appliance/status"
)

// certManager makes the certificate manager of this start (appliance/certs)
// from the config: the self-signed pair in DATA/tls, a configured pair
// (tls.cert, tls.key), an uploaded one, and ACME (tls.acme) when the host
// name is public and a public port can answer the authority's challenge:
// HTTP-01 on listen.public (port 80), TLS-ALPN-01 on listen.public_tls
// (443). Its renewal check runs as a worker; every change goes to the
// status (certificate source, end, problem).
func (r *runner) certManager(dataDir string) (*certs.Manager, error) {
	cfg := r.cfg
	o := certs.Options{
		Dir:      filepath.Join(dataDir, "tls"),
		Hostname: cfg.Hostname,
		Domains:  cfg.Domains,
		Logger:   r.log.With("part", "certificates"),
		OnChange: r.publishCert,
	}
	if certFile, keyFile, generated := cfg.CertFiles(dataDir); !generated {
		o.CertFile, o.KeyFile = certFile, keyFile
	}
	if cfg.TLS.ACME != "" {
		o.ACME = certs.ACMEOptions{DirectoryURL: cfg.TLS.ACME, Email: cfg.TLS.ACMEEmail}
		if cfg.Listen.Public != "" {
			o.ACME.Challenges = append(o.ACME.Challenges, certs.HTTP01)
		}
		if cfg.Listen.PublicTLS != "" {
			o.ACME.Challenges = append(o.ACME.Challenges, certs.TLSALPN01)
		}
		if cfg.TLS.ACMERoots != "" {
			path := cfg.TLS.ACMERoots
			if !filepath.IsAbs(path) {
				path = filepath.Join(dataDir, path)
			}
			pem, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("tls.acme_roots: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls.acme_roots: %s holds no PEM certificate", path)
			}
			o.ACME.HTTPClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			}}
		}
	}
	m, err := certs.New(o)
	if err != nil {
		return nil, err
	}
	r.certs = m
	r.publishCert(m.State())
	r.addWorker("certificates", m.Run)
	return m, nil
}

// publishCert puts the certificate's state into the status.
func (r *runner) publishCert(s certs.State) {
	r.update(func(snap *status.Snapshot) {
		snap.CertSource, snap.CertProblem = string(s.Source), s.Problem
		snap.CertExpires = s.NotAfter
		snap.CertDaysLeft = int(math.Floor(time.Until(s.NotAfter).Hours() / 24)) // as the readings count (run_panel.go)
	})
}

// publicTLSConfig is the TLS configuration of the public port 443: the
// servers' settings, plus the TLS-ALPN-01 challenge (RFC 8737) that an
// ACME authority may use to check that the name leads to this box.
func (r *runner) publicTLSConfig() *tls.Config {
	c := serverTLSConfig(r.certs.GetChallengeCertificate)
	c.NextProtos = []string{"http/1.1", certs.ALPNProto}
	return c
}

// adminCertificates is the manager for the admin layer's certificate
// operations; nil (never a nil pointer in the interface) before there is
// one.
func (r *runner) adminCertificates() admin.Certificates {
	if r.certs == nil {
		return nil
	}
	return r.certs
}
