package appliance

import (
	"crypto/tls"
	"fmt"

	"postroom/appliance/pop3"
	"postroom/internal/front"
	"postroom/storage"
)

// Service names of POP3 in the status Snapshot and the config's listen.*.
const (
	ServicePOP3  = "pop3"
	ServicePOP3S = "pop3s"
)

// pop3Services builds the POP3 server: "pop3" on Listen.POP3 (port 110,
// STLS) and "pop3s" on Listen.POP3S (port 995, TLS from the first byte),
// one Server behind both so that the maildrop lock ([IN-USE]) and the
// connection limit span both ports. The retention job (delete POP3
// downloads after the account's N days) is registered as a worker even
// when both ports are off: the policy is the account's, not the port's.
func (r *runner) pop3Services(st *storage.Store, tlsConfig *tls.Config) ([]*service, error) {
	cfg := r.cfg
	srv, err := pop3.New(pop3.Options{
		Hostname:          cfg.Hostname,
		Store:             st,
		Logger:            r.log,
		TLSConfig:         tlsConfig,
		Guard:             r.guard,
		AllowPlaintextLAN: cfg.AllowPlaintextAuthLAN,
		MaxConnections:    cfg.MaxConnections,
		Limits:            front.Limits{OnLogin: r.sessions.onLogin(st, r.log)}, // run_sessions.go
	})
	if err != nil {
		return nil, fmt.Errorf("set up POP3: %w", err)
	}
	r.addWorker("pop3-retention", srv.RunRetention)

	return pairServices(srv, pop3.ErrServerClosed,
		endpoint{ServicePOP3, "Mail download (POP3)", cfg.Listen.POP3},
		endpoint{ServicePOP3S, "Mail download (POP3 over TLS)", cfg.Listen.POP3S}), nil
}
