package appliance

import (
	"crypto/tls"
	"fmt"

	"postroom/appliance/imapd"
	"postroom/internal/front"
	"postroom/storage"
)

// Service names of IMAP in the status Snapshot and the config's listen.*.
const (
	ServiceIMAP  = "imap"
	ServiceIMAPS = "imaps"
)

// imapServices builds the IMAP server: "imap" on Listen.IMAP (port 143,
// STARTTLS) and "imaps" on Listen.IMAPS (port 993, TLS from the first
// byte). One Server is behind both, so the connection limits span both
// ports and Shutdown drains both.
func (r *runner) imapServices(st *storage.Store, tlsConfig *tls.Config) ([]*service, error) {
	cfg := r.cfg
	if cfg.Listen.IMAP == "" && cfg.Listen.IMAPS == "" {
		return nil, nil
	}
	srv, err := imapd.New(imapd.Options{
		Hostname:          cfg.Hostname,
		Store:             st,
		Logger:            r.log,
		TLSConfig:         tlsConfig,
		Guard:             r.guard,
		AllowPlaintextLAN: cfg.AllowPlaintextAuthLAN,
		AppendLimit:       cfg.MaxMessageSize,
		// A mail client keeps several connections open (one per watched
		// folder), so IMAP gets twice the per-service limit.
		MaxConnections: 2 * cfg.MaxConnections,
		Limits:         front.Limits{OnLogin: r.sessions.onLogin(st, r.log)}, // run_sessions.go
	})
	if err != nil {
		return nil, fmt.Errorf("set up IMAP: %w", err)
	}
	return pairServices(srv, imapd.ErrServerClosed,
		endpoint{ServiceIMAP, "Mail access (IMAP)", cfg.Listen.IMAP},
		endpoint{ServiceIMAPS, "Mail access (IMAP over TLS)", cfg.Listen.IMAPS}), nil
}
