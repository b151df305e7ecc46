// Package certs keeps the box's TLS certificate: one Manager holds the
// certificate in use, and every TLS listener (SMTP STARTTLS and 465, IMAP,
// POP3, the public handler on 443) asks it for each handshake through
// tls.Config.GetCertificate, so that a new certificate is used at once,
// without a restart.
//
// The sources, best first:
//
//	uploaded     a certificate and key the administrator pasted on the
//	             settings page (Upload), checked before it is kept
//	configured   config.json's tls.cert and tls.key files
//	acme         a certificate from an ACME authority (Let's Encrypt) for
//	             the box's public host name and the autoconfig/autodiscover
//	             names of its domains, renewed 30 days before it ends
//	self-signed  made on the first start (EnsureSelfSigned); kept while
//	             there is no public host name
//
// The map:
//
//	manager.go     Manager: the current certificate, the renewal check and
//	               its plain-words problem, Upload
//	acme.go        ordering from an ACME server, answering its HTTP-01 and
//	               TLS-ALPN-01 challenges
//	check.go       what an uploaded certificate must pass
//	selfsigned.go  the generated certificate
//	cms.go         CMS SignedData, to sign Apple profiles with the
//	               certificate
//
// Files, all in the TLS folder (DATA/tls), private ones 0600: cert.pem and
// key.pem (self-signed), uploaded.pem and acme/certificate.pem (each the key
// and its chain in one file, so that a crash never pairs a key with the
// wrong certificate), acme/account.pem (the ACME account's key). Keys are
// never logged.
package certs

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Source is where the certificate in use comes from.
type Source string

const (
	SelfSigned Source = "self-signed"
	Configured Source = "configured"
	Uploaded   Source = "uploaded"
	ACME       Source = "acme"
)

// Options configures New. Zero values are documented per field.
type Options struct {
	// Dir is the TLS folder (DATA/tls). Required.
	Dir string
	// Hostname is the box's host name: the self-signed certificate's name,
	// the first name of an ACME certificate, and the name an uploaded
	// certificate must carry. Required.
	Hostname string
	// Domains are the mail domains: an ACME certificate also covers
	// autoconfig.DOMAIN and autodiscover.DOMAIN of each, where the
	// authority can reach the box under those names.
	Domains []string
	// CertFile and KeyFile are config.json's tls.cert and tls.key; "":
	// none. A configured pair that does not load stops New.
	CertFile, KeyFile string
	// ACME configures the ACME client; a zero DirectoryURL turns it off.
	ACME ACMEOptions
	// Roots are the authorities an uploaded certificate must chain to.
	// nil: the system's.
	Roots *x509.CertPool
	// Now is the clock of every decision (renewal, expiry). nil: time.Now.
	Now func() time.Time
	// Logger: nil is slog.Default().
	Logger *slog.Logger
	// OnChange is called with the new State after the certificate or the
	// problem changed (from Check, Upload, RemoveUploaded); it must not
	// call back into the Manager while blocking. nil: nothing.
	OnChange func(State)
}

// ACMEOptions configures the ACME client.
type ACMEOptions struct {
	// DirectoryURL is the authority's directory, e.g. Let's Encrypt's
	// https://acme-v02.api.letsencrypt.org/directory. "": ACME is off.
	DirectoryURL string
	// Email is the contact the authority writes to about expiry; "": none.
	Email string
	// HTTPClient talks to the authority. nil: a client with timeouts that
	// trusts the system's roots.
	HTTPClient *http.Client
	// Challenges are the challenge types the box can answer, in order of
	// preference: "http-01" needs HTTPHandler on port 80, "tls-alpn-01"
	// needs GetChallengeCertificate on port 443. Empty: ACME is off.
	Challenges []string
}

// State is what the status and the pages show of the certificate.
type State struct {
	Source   Source    `json:"source"`
	Names    []string  `json:"names,omitempty"`
	Issuer   string    `json:"issuer,omitempty"`
	NotAfter time.Time `json:"not_after,omitzero"`
	// Fingerprint is the SHA-256 of the certificate, as mail programs show
	// it ("AB:CD:..."), so that a person can compare when one warns.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Problem says in plain words why the box could not get or renew a
	// trusted certificate; "" when all went well. The certificate in use
	// stays while it is set.
	Problem string `json:"problem,omitempty"`
	// NextCheck is when the renewal check runs next (zero: not planned).
	NextCheck time.Time `json:"next_check,omitzero"`
}

// Trusted says whether mail programs trust the certificate without
// asking: every source but the self-signed one.
func (s State) Trusted() bool { return s.Source != SelfSigned }

// Manager holds the certificate in use. It is safe for concurrent use.
type Manager struct {
	o   Options
	log *slog.Logger
	now func() time.Time

	cur atomic.Pointer[current]

	// checking serialises Check, Upload and RemoveUploaded.
	checking sync.Mutex
	// mu guards the fields below it.
	mu        sync.Mutex
	problem   string
	nextCheck time.Time
	failures  int
	skipped   map[string]string           // ACME names left out, and why
	tokens    map[string]string           // HTTP-01 token -> key authorization
	alpnCerts map[string]*tls.Certificate // TLS-ALPN-01 name -> certificate
	wake      chan struct{}
}

type current struct {
	cert   *tls.Certificate
	source Source
}

// File names inside Options.Dir.
const (
	selfCertFile = "cert.pem"
	selfKeyFile  = "key.pem"
	uploadedFile = "uploaded.pem"
	acmeDir      = "acme"
	acmeCertFile = "certificate.pem"
	acmeKeyFile  = "account.pem"
)

// New loads the certificates from Options.Dir (making the self-signed one
// when needed) and picks the best. It fails only when the configured
// pair does not load or the self-signed one cannot be made.
func New(o Options) (*Manager, error) {
	m := &Manager{o: o, log: o.Logger, now: o.Now,
		skipped: map[string]string{}, tokens: map[string]string{}, alpnCerts: map[string]*tls.Certificate{},
		wake: make(chan struct{}, 1)}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.now == nil {
		m.now = time.Now
	}
	if o.Dir == "" || o.Hostname == "" {
		return nil, errors.New("certificates: the TLS folder and the host name are required")
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("certificates: give both tls.cert and tls.key, or neither")
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the TLS folder: %w", err)
	}
	if err := m.pick(); err != nil {
		return nil, err
	}
	return m, nil
}

// pick loads every source and makes the best one current.
func (m *Manager) pick() error {
	var configured *tls.Certificate
	if m.o.CertFile != "" {
		c, err := tls.LoadX509KeyPair(m.o.CertFile, m.o.KeyFile)
		if err != nil {
			return fmt.Errorf("load TLS certificate (tls.cert %s, tls.key %s): %w", m.o.CertFile, m.o.KeyFile, err)
		}
		configured = &c
	}
	if up := m.loadPEM(filepath.Join(m.o.Dir, uploadedFile)); up != nil {
		if m.now().Before(up.Leaf.NotAfter) {
			m.set(up, Uploaded) // pasted on the page, even after a file was configured
			return nil
		}
		m.setProblem(fmt.Sprintf("The uploaded certificate ended on %s: upload a new one on the settings page.", up.Leaf.NotAfter.Format(time.DateOnly)))
	}
	if configured != nil {
		m.set(configured, Configured)
		return nil
	}
	if ac := m.loadPEM(filepath.Join(m.o.Dir, acmeDir, acmeCertFile)); ac != nil && m.now().Before(ac.Leaf.NotAfter) &&
		ac.Leaf.VerifyHostname(m.o.Hostname) == nil {
		m.set(ac, ACME)
		return nil
	}
	self, err := EnsureSelfSigned(filepath.Join(m.o.Dir, selfCertFile), filepath.Join(m.o.Dir, selfKeyFile), m.o.Hostname, m.now(), m.log)
	if err != nil {
		return err
	}
	m.set(self, SelfSigned)
	return nil
}

// loadPEM reads a key and chain kept in one file; nil when there is none
// or it does not load (logged: the file is ours, so it is replaced).
func (m *Manager) loadPEM(path string) *tls.Certificate {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		var c tls.Certificate
		if c, err = tls.X509KeyPair(b, b); err == nil {
			return &c
		}
	}
	m.log.Warn("a kept TLS certificate does not load; it is not used", "file", path, "err", err)
	return nil
}

func (m *Manager) set(c *tls.Certificate, src Source) {
	m.cur.Store(&current{cert: c, source: src})
}

func (m *Manager) setProblem(p string) {
	m.mu.Lock()
	m.problem = p
	m.mu.Unlock()
}

// GetCertificate is tls.Config.GetCertificate of every mail port: the
// certificate in use now.
func (m *Manager) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return m.cur.Load().cert, nil
}

// GetChallengeCertificate is tls.Config.GetCertificate of the public port
// 443: the TLS-ALPN-01 answer (RFC 8737) when the authority asks for one,
// else the certificate in use. Its tls.Config must list "acme-tls/1" in
// NextProtos.
func (m *Manager) GetChallengeCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if slices.Contains(hello.SupportedProtos, ALPNProto) {
		m.mu.Lock()
		c := m.alpnCerts[strings.ToLower(hello.ServerName)]
		m.mu.Unlock()
		if c == nil {
			return nil, fmt.Errorf("no ACME challenge is waiting for %q", hello.ServerName)
		}
		return c, nil
	}
	return m.GetCertificate(hello)
}

// Certificate returns the certificate in use.
func (m *Manager) Certificate() *tls.Certificate { return m.cur.Load().cert }

// State describes the certificate in use and the last problem.
func (m *Manager) State() State {
	cur := m.cur.Load()
	s := State{Source: cur.source}
	if leaf := cur.cert.Leaf; leaf != nil {
		s.Names = slices.Clone(leaf.DNSNames)
		s.Issuer = leaf.Issuer.CommonName
		if s.Issuer == "" && len(leaf.Issuer.Organization) > 0 {
			s.Issuer = leaf.Issuer.Organization[0]
		}
		s.NotAfter = leaf.NotAfter
		s.Fingerprint = Fingerprint(leaf.Raw)
	}
	m.mu.Lock()
	s.Problem, s.NextCheck = m.problem, m.nextCheck
	m.mu.Unlock()
	return s
}

// Fingerprint is the SHA-256 of a DER certificate in the form mail
// programs show: upper-case hex pairs joined by colons.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

func (m *Manager) changed() {
	if m.o.OnChange != nil {
		m.o.OnChange(m.State())
	}
}

// acmeOn says whether the box should hold an ACME certificate: ACME is
// configured, the host name is public, and no certificate was uploaded or
// configured.
func (m *Manager) acmeOn() bool {
	if m.o.ACME.DirectoryURL == "" || len(m.o.ACME.Challenges) == 0 || !PublicName(m.o.Hostname) {
		return false
	}
	src := m.cur.Load().source
	return src == ACME || src == SelfSigned
}

// PublicName says whether an authority can issue a certificate for host:
// a DNS name with a dot, not an address and not under a name reserved for
// local networks or tests (RFC 6761, RFC 6762, RFC 8375).
func PublicName(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if net.ParseIP(host) != nil || !strings.Contains(host, ".") {
		return false
	}
	tld := host[strings.LastIndexByte(host, '.')+1:]
	switch tld {
	case "local", "localhost", "test", "invalid", "example", "internal", "lan", "home", "corp", "localdomain", "intranet", "private":
		return false
	}
	return !strings.HasSuffix(host, ".home.arpa")
}

// acmeNames are the names an ACME certificate should cover: the host name
// first, then autoconfig.D and autodiscover.D of every domain, less those
// the authority could not reach at the last try.
func (m *Manager) acmeNames() []string {
	names := []string{strings.ToLower(strings.TrimSuffix(m.o.Hostname, "."))}
	for _, d := range m.o.Domains {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		for _, n := range []string{"autoconfig." + d, "autodiscover." + d} {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.DeleteFunc(names, func(n string) bool { _, skip := m.skipped[n]; return skip && n != names[0] })
}

// Check is one renewal check: it gets an ACME certificate when there is
// none, when one ends within RenewBefore or when the names changed, and
// remakes the self-signed one when it ends soon. On failure the
// certificate in use stays, the reason goes into State.Problem in plain
// words, and the error is returned.
func (m *Manager) Check(ctx context.Context) error {
	m.checking.Lock()
	defer m.checking.Unlock()
	defer m.changed()
	now := m.now()
	cur := m.cur.Load()

	if cur.source == SelfSigned {
		if reason := SelfSignedReason(cur.cert.Leaf, m.o.Hostname, now); reason != "" {
			self, err := EnsureSelfSigned(filepath.Join(m.o.Dir, selfCertFile), filepath.Join(m.o.Dir, selfKeyFile), m.o.Hostname, now, m.log)
			if err != nil {
				m.failed(now, "The box could not make a new self-signed certificate: "+err.Error()+".")
				return err
			}
			m.set(self, SelfSigned)
		}
	}
	if !m.acmeOn() {
		m.planNext(now, time.Time{})
		return nil
	}
	due := cur.source != ACME || !now.Add(RenewBefore).Before(cur.cert.Leaf.NotAfter)
	if due {
		// A renewal tries every name again, also those left out last time.
		m.mu.Lock()
		clear(m.skipped)
		m.mu.Unlock()
	}
	names := m.acmeNames()
	if !due && covers(cur.cert.Leaf, names) {
		m.planNext(now, cur.cert.Leaf.NotAfter)
		return nil
	}
	why := "none yet"
	if cur.source == ACME {
		why = "ends on " + cur.cert.Leaf.NotAfter.Format(time.DateOnly)
		if !covers(cur.cert.Leaf, names) {
			why = "names changed"
		}
	}
	m.log.Info("asking the ACME authority for a certificate", "names", names, "why", why, "directory", m.o.ACME.DirectoryURL)
	cert, err := m.obtain(ctx, names)
	if err != nil {
		m.log.Warn("no new certificate from the ACME authority; the current one stays", "err", err)
		m.failed(now, explain(err, m.o.ACME.DirectoryURL))
		return err
	}
	m.set(cert, ACME)
	m.log.Info("new certificate in use", "names", cert.Leaf.DNSNames, "until", cert.Leaf.NotAfter, "issuer", cert.Leaf.Issuer.CommonName)
	m.mu.Lock()
	m.failures = 0
	m.problem = m.skippedWords()
	m.mu.Unlock()
	m.planNext(now, cert.Leaf.NotAfter)
	return nil
}

// covers says whether leaf names every name.
func covers(leaf *x509.Certificate, names []string) bool {
	for _, n := range names {
		if !slices.Contains(leaf.DNSNames, n) {
			return false
		}
	}
	return true
}

// Retry intervals after a failed check: the first soon, then longer, so
// that a broken set-up stays well below the authority's limits (Let's
// Encrypt allows 5 failed validations per name and hour).
const (
	retryFirst = time.Hour
	retryMost  = 12 * time.Hour
	// checkEvery bounds the time between checks when all is well, so that
	// a changed clock or a new domain is noticed within a day.
	checkEvery = 12 * time.Hour
)

func (m *Manager) failed(now time.Time, words string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failures++
	wait := retryFirst << min(m.failures-1, 4)
	wait = min(wait, retryMost)
	m.nextCheck = now.Add(wait)
	m.problem = words + " The certificate in use stays; the box tries again at " + m.nextCheck.Format("15:04") + "."
}

// planNext sets the next check: when the certificate enters its renewal
// window, at most checkEvery away.
func (m *Manager) planNext(now, notAfter time.Time) {
	next := now.Add(checkEvery)
	if !notAfter.IsZero() {
		if renew := notAfter.Add(-RenewBefore); renew.Before(next) {
			next = renew
			if soonest := now.Add(time.Minute); next.Before(soonest) {
				next = soonest
			}
		}
	}
	m.mu.Lock()
	m.nextCheck = next
	m.mu.Unlock()
}

// Run runs Check at once and then whenever NextCheck comes (or Renew asks),
// until ctx ends. Failures are in State; Run returns only ctx's end.
func (m *Manager) Run(ctx context.Context) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		m.Check(cctx)
		cancel()
		// NextCheck is on the injected clock; the wait is its distance.
		t := time.NewTimer(max(m.State().NextCheck.Sub(m.now()), time.Minute))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-m.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// Renew asks Run for a check now.
func (m *Manager) Renew() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Upload checks a certificate chain and its key (PEM, as a provider
// gives them), keeps them in the TLS folder and uses them from the next
// connection on. A refused pair changes nothing; the error is an
// *InputError naming the field ("cert" or "key") in plain words.
func (m *Manager) Upload(certPEM, keyPEM []byte) (State, error) {
	m.checking.Lock()
	defer m.checking.Unlock()
	c, err := CheckPair(certPEM, keyPEM, m.o.Hostname, m.now(), m.o.Roots)
	if err != nil {
		return m.State(), err
	}
	if err := writeKeyAndChain(filepath.Join(m.o.Dir, uploadedFile), c); err != nil {
		return m.State(), err
	}
	m.set(c, Uploaded)
	m.setProblem("")
	m.log.Info("uploaded certificate in use", "names", c.Leaf.DNSNames, "until", c.Leaf.NotAfter, "issuer", c.Leaf.Issuer.CommonName)
	m.changed()
	return m.State(), nil
}

// RemoveUploaded stops using an uploaded certificate: the box goes back to
// the configured, ACME or self-signed one (and asks for an ACME one at the
// next check).
func (m *Manager) RemoveUploaded() (State, error) {
	m.checking.Lock()
	defer m.checking.Unlock()
	err := os.Remove(filepath.Join(m.o.Dir, uploadedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return m.State(), &InputError{Message: "There is no uploaded certificate."}
	}
	if err != nil {
		return m.State(), fmt.Errorf("remove the uploaded certificate: %w", err)
	}
	if err := m.pick(); err != nil {
		return m.State(), err
	}
	m.log.Info("uploaded certificate removed", "now", m.cur.Load().source)
	m.changed()
	m.Renew()
	return m.State(), nil
}
