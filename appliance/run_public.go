package appliance

import (
	"context"
	"crypto/tls"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"postroom/appliance/status"
	"postroom/internal/front"
	"postroom/storage"
	"postroom/webui/autoconfig"
	"postroom/webui/public"
)

// ServicePublic and ServicePublicTLS are the public web handler's names
// in the status Snapshot and the config's listen.public and
// listen.public_tls.
const (
	ServicePublic    = "public"
	ServicePublicTLS = "public_tls"
)

// publicServices builds the web handler for the internet: the mail
// clients' set-up questions, the ACME authority's HTTP-01 challenges
// (appliance/certs) and nothing else (webui/public, webui/autoconfig), on
// Listen.Public (port 80 on the board) and over TLS on Listen.PublicTLS
// (443) with the box's certificate, where the authority may also ask its
// TLS-ALPN-01 challenge. Outlook asks Autodiscover over https only. The
// LAN pages stay on Listen.Web.
func (r *runner) publicServices() []*service {
	if r.cfg.Listen.Public == "" && r.cfg.Listen.PublicTLS == "" {
		return nil
	}
	log := r.log.With("service", ServicePublic)
	if r.profileLinks == nil {
		r.profileLinks = autoconfig.NewLinks(nil)
	}
	handler := public.New(public.Options{
		Autoconfig: r.certs.HTTPHandler(autoconfig.New(autoconfig.Options{
			Settings:    r.clientSettings,
			Links:       r.profileLinks,
			Logger:      log,
			SignProfile: r.certs.SignProfile, // with a trusted certificate only
		})),
		Logger: log,
	})
	var out []*service
	if r.cfg.Listen.Public != "" {
		out = append(out, r.publicService(ServicePublic, "Client set-up (public web)", r.cfg.Listen.Public, handler, nil))
	}
	if r.cfg.Listen.PublicTLS != "" {
		out = append(out, r.publicService(ServicePublicTLS, "Client set-up (public web over TLS)", r.cfg.Listen.PublicTLS, handler, r.publicTLSConfig()))
	}
	return out
}

// publicService serves the public handler on one address, over TLS when
// tlsConfig is set.
func (r *runner) publicService(name, title, addr string, handler http.Handler, tlsConfig *tls.Config) *service {
	log := r.log.With("service", name)
	hs := &http.Server{
		Handler: handler,
		// Strangers: short header and idle times, small headers.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       20 * time.Second,
		WriteTimeout:      20 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	// Connections pass the same front as the mail ports (internal/front):
	// a bound per client address and in all, so that idle connections
	// from the internet cannot take every socket; the rate limit inside
	// counts requests.
	serve := func(l net.Listener) error {
		f, err := front.New(front.Options{
			Name: name, Logger: log,
			MaxConns: r.cfg.MaxConnections, MaxPerAddr: publicPerAddr,
			Limits:    front.Limits{KnownReserve: -1, PreLoginIdle: 30 * time.Second, PreLoginTotal: 2 * time.Minute},
			Refusal:   httpRefusal,
			ErrClosed: http.ErrServerClosed,
		})
		if err != nil {
			l.Close()
			return err
		}
		fl, err := f.Listen(l, false)
		if err != nil {
			return err
		}
		if tlsConfig != nil {
			// The handshake runs in the server's connection goroutine,
			// under its read deadline.
			return hs.Serve(tls.NewListener(fl, tlsConfig))
		}
		return hs.Serve(fl)
	}
	return newService(name, title, addr, serve, http.ErrServerClosed,
		func(ctx context.Context) error {
			err := hs.Shutdown(ctx)
			if err != nil {
				hs.Close()
			}
			return err
		})
}

// publicPerAddr bounds the open connections from one client address (an
// IPv6 /64) on the public port: a browser opens six at most.
const publicPerAddr = 8

// httpRefusal is the front's refusal as an HTTP answer; the front adds the
// final CRLF, which the Content-Length counts.
func httpRefusal(reason string) string {
	body := "Busy: " + reason + "."
	return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nRetry-After: 10\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)+2) + "\r\n\r\n" + body
}

// clientSettings is what mail clients are told: the box's host name, its
// domains, and every login service that is switched on, each on the port
// of its configured address (993, 995, 465, 587, 143, 110 on the board).
// A configured port 0 (tests) is read from the bound listener on the Bus.
func (r *runner) clientSettings() autoconfig.Settings {
	cfg := r.cfg
	snap := r.bus.Latest()
	s := autoconfig.Settings{Hostname: cfg.Hostname, Domains: cfg.Domains}
	if r.certs != nil {
		if st := r.certs.State(); !st.Trusted() {
			s.Fingerprint = st.Fingerprint // to compare when a program warns
		}
	}
	for _, l := range []struct {
		name, addr string
		proto      autoconfig.Protocol
		sec        autoconfig.Security
	}{
		{ServiceIMAPS, cfg.Listen.IMAPS, autoconfig.IMAP, autoconfig.TLS},
		{ServiceIMAP, cfg.Listen.IMAP, autoconfig.IMAP, autoconfig.STARTTLS},
		{ServicePOP3S, cfg.Listen.POP3S, autoconfig.POP3, autoconfig.TLS},
		{ServicePOP3, cfg.Listen.POP3, autoconfig.POP3, autoconfig.STARTTLS},
		{ServiceSubmissions, cfg.Listen.Submissions, autoconfig.SMTP, autoconfig.TLS},
		{ServiceSubmission, cfg.Listen.Submission, autoconfig.SMTP, autoconfig.STARTTLS},
	} {
		if port := servicePort(snap, l.name, l.addr); port > 0 {
			s.Servers = append(s.Servers, autoconfig.Server{Protocol: l.proto, Host: cfg.Hostname, Port: port, Security: l.sec})
		}
	}
	return s
}

// publicURL is the base of the links the public handler serves, as a
// phone reaches it ("http://HOST" on port 80), for the one-time profile
// links of the set-up page.
func (r *runner) publicURL() string {
	port := servicePort(r.bus.Latest(), ServicePublic, r.cfg.Listen.Public)
	if port == 80 || port == 0 {
		return "http://" + r.cfg.Hostname
	}
	return "http://" + net.JoinHostPort(r.cfg.Hostname, strconv.Itoa(port))
}

// servicePort is the port of a configured address ("" is off: 0); a
// configured port 0 is read from the bound address in the status.
func servicePort(snap status.Snapshot, name, addr string) int {
	if addr == "" {
		return 0
	}
	_, p, err := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	if err != nil || port != 0 {
		return port
	}
	if sv, ok := snap.Service(name); ok && sv.State == status.ServiceListening {
		if _, p, err := net.SplitHostPort(sv.Addr); err == nil {
			port, _ = strconv.Atoi(p)
		}
	}
	return port
}

// clientSetupPage renders the client set-up page's content for account a
// (webui/autoconfig.SetupPage): the settings clients are told, and QR codes
// of one-time profile links that the public handler serves. Without a
// public handler (listen.public off) the page has no QR codes, since a
// phone could not follow them.
func (r *runner) clientSetupPage(a autoconfig.Account) (template.HTML, error) {
	links := r.profileLinks
	if links == nil {
		links = autoconfig.NewLinks(nil) // links nobody can follow: dropped below
	}
	p, err := autoconfig.NewSetupPage(r.clientSettings(), a, links, r.publicURL())
	if err != nil {
		return "", err
	}
	if r.profileLinks == nil {
		p.Profiles = nil
	}
	return p.HTML()
}

// clientSetup gives the web UI an account's client set-up page: the
// account's own, and for an administrator every account's. It is the web
// UI's webui.ClientSetup (Options.Setup), shown on /me and /accounts/{name}.
type clientSetup struct {
	r  *runner
	st *storage.Store
}

// SetupPage renders the set-up page content of the account whose login is
// name, with its current POP3 retention.
func (c clientSetup) SetupPage(name string) (template.HTML, error) {
	a, err := c.st.Account(name)
	if err != nil {
		return "", fmt.Errorf("set-up page of %s: %w", name, err)
	}
	return c.r.clientSetupPage(autoconfig.Account{Address: a.Name, POPRetentionDays: a.POPRetentionDays})
}
