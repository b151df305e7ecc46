package appliance

import (
	"crypto/tls"
	"fmt"
	"time"

	"postroom/appliance/mailauth"
	"postroom/appliance/smtpd"
	"postroom/storage"
)

// Service names of the submission ports in the status Snapshot.
const (
	ServiceSubmission  = "submission"
	ServiceSubmissions = "submissions"
)

// submissionServices builds mail submission for the box's users: port 587
// with STARTTLS and port 465 with TLS from the first byte (RFC 8314), each
// its own smtpd.Server (MaxConnections counts per port), sharing the login
// Guard, the sending-rate limiter and the outbound queue.
func (r *runner) submissionServices(st *storage.Store, tlsConfig *tls.Config) ([]*service, error) {
	cfg := r.cfg
	if cfg.Listen.Submission == "" && cfg.Listen.Submissions == "" {
		return nil, nil
	}
	q, err := r.outboundQueue(st) // run_queue.go; builds it once
	if err != nil {
		return nil, err
	}
	sub := &smtpd.Submission{
		Accounts:          st,
		Guard:             r.guard,
		AllowPlaintextLAN: cfg.AllowPlaintextAuthLAN,
		SentCopy:          cfg.SMTP.SentCopy,
		Limiter:           smtpd.NewRateLimiter(cfg.SMTP.SendRatePerHour, cfg.SMTP.SendBurst, nil),
	}
	if q != nil { // a nil *queue.Queue must not become a non-nil interface
		sub.Outbound = q
	}
	var out []*service
	for _, p := range []struct {
		name, title, addr string
		implicitTLS       bool
	}{
		{ServiceSubmission, "Sending mail (submission)", cfg.Listen.Submission, false},
		{ServiceSubmissions, "Sending mail (submission over TLS)", cfg.Listen.Submissions, true},
	} {
		if p.addr == "" {
			continue
		}
		opts, err := r.smtpOptions(st, tlsConfig)
		if err != nil {
			return nil, err
		}
		opts.Submission = sub
		opts.Limits.OnLogin = r.sessions.onLogin(st, r.log) // run_sessions.go
		opts.ImplicitTLS = p.implicitTLS
		srv, err := smtpd.New(opts)
		if err != nil {
			return nil, fmt.Errorf("set up %s: %w", p.title, err)
		}
		out = append(out, smtpService(p.name, p.title, p.addr, srv))
	}
	return out, nil
}

// mxServer builds inbound SMTP (port 25), with the SPF/DKIM/DMARC checks
// when the config has them on.
func (r *runner) mxServer(store smtpd.Store, tlsConfig *tls.Config) (*smtpd.Server, error) {
	opts, err := r.smtpOptions(store, tlsConfig)
	if err != nil {
		return nil, err
	}
	if r.cfg.SMTP.InboundChecks {
		opts.Checker = &mailauth.Verifier{
			Resolver:   r.resolver,
			Hostname:   r.cfg.Hostname,
			Logger:     r.log.With("service", "mailauth"),
			OnDNSError: r.cfg.SMTP.DNSError,
		}
	}
	return smtpd.New(opts)
}

// smtpOptions are the options both SMTP roles take from the config.
func (r *runner) smtpOptions(store smtpd.Store, tlsConfig *tls.Config) (smtpd.Options, error) {
	cfg := r.cfg
	return smtpd.Options{
		Hostname:                 cfg.Hostname,
		Store:                    store,
		Logger:                   r.log,
		TLSConfig:                tlsConfig,
		MaxMessageBytes:          cfg.MaxMessageSize,
		MaxRecipients:            cfg.MaxRecipients,
		ReadTimeout:              time.Duration(cfg.SMTPReadTimeout),
		WriteTimeout:             time.Duration(cfg.SMTPWriteTimeout),
		MaxConnections:           cfg.MaxConnections,
		MaxConnectionsPerIP:      cfg.SMTP.MaxConnectionsPerIP,
		MaxMessagesPerConnection: cfg.SMTP.MaxMessagesPerConnection,
	}, nil
}

// smtpService runs an smtpd.Server as one service.
func smtpService(name, title, addr string, srv *smtpd.Server) *service {
	return newService(name, title, addr, srv.Serve, smtpd.ErrServerClosed, srv.Shutdown)
}
