package certs

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/acme"

	"postroom/internal/atomicfile"
)

// ALPNProto is the TLS protocol name of the TLS-ALPN-01 challenge: the
// public port's tls.Config lists it in NextProtos.
const ALPNProto = acme.ALPNProto

// Challenge types (RFC 8555 8.3, RFC 8737).
const (
	HTTP01    = "http-01"
	TLSALPN01 = "tls-alpn-01"
)

// challengePrefix is where HTTP-01 asks (RFC 8555 8.3).
const challengePrefix = "/.well-known/acme-challenge/"

// HTTPHandler answers the authority's HTTP-01 requests for a token of an
// order in progress, and hands every other request to next. It belongs on
// the public handler (port 80), before its other routes.
func (m *Manager) HTTPHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.URL.Path, challengePrefix)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		m.mu.Lock()
		answer, known := m.tokens[token]
		m.mu.Unlock()
		if !known || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte(answer))
	})
}

// obtain orders a certificate for names. When the authority cannot
// validate some names other than the host name (autoconfig.DOMAIN not yet
// pointing at the box, say), it orders again without them and remembers
// why, for State.Problem.
func (m *Manager) obtain(ctx context.Context, names []string) (*tls.Certificate, error) {
	client, err := m.client(ctx)
	if err != nil {
		return nil, err
	}
	for {
		cert, failed, err := m.order(ctx, client, names)
		if err == nil {
			return cert, nil
		}
		var drop []string
		for n, why := range failed {
			if n != names[0] {
				drop = append(drop, n)
				m.mu.Lock()
				m.skipped[n] = why
				m.mu.Unlock()
			}
		}
		if _, hostFailed := failed[names[0]]; hostFailed || len(drop) == 0 {
			return nil, err
		}
		m.log.Warn("the ACME authority could not check some names; asking again without them", "names", drop, "err", err)
		names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(drop, n) })
	}
}

// client returns an ACME client with the account key from the TLS folder
// (made on first use), registered with the authority.
func (m *Manager) client(ctx context.Context) (*acme.Client, error) {
	key, err := m.accountKey()
	if err != nil {
		return nil, err
	}
	hc := m.o.ACME.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	c := &acme.Client{Key: key, DirectoryURL: m.o.ACME.DirectoryURL, HTTPClient: hc, UserAgent: "postroom"}
	acct := &acme.Account{}
	if m.o.ACME.Email != "" {
		acct.Contact = []string{"mailto:" + m.o.ACME.Email}
	}
	if _, err := c.Register(ctx, acct, acme.AcceptTOS); err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return nil, fmt.Errorf("register with the ACME authority: %w", err)
	}
	return c, nil
}

// accountKey reads the ACME account's key, or makes and keeps one (0600).
func (m *Manager) accountKey() (crypto.Signer, error) {
	path := filepath.Join(m.o.Dir, acmeDir, acmeKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if blk, _ := pem.Decode(b); blk != nil {
			if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
				if s, ok := k.(crypto.Signer); ok {
					return s, nil
				}
			}
		}
		m.log.Warn("the ACME account key does not load; making a new account", "file", path)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("make the ACME account key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode the ACME account key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create the ACME folder: %w", err)
	}
	if err := atomicfile.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("keep the ACME account key: %w", err)
	}
	return key, nil
}

// order runs one ACME order (RFC 8555 7.4) for names: each authorization
// is answered with the first challenge type of ACMEOptions.Challenges
// that the authority offers. failed maps each name whose validation
// failed to the authority's reason.
func (m *Manager) order(ctx context.Context, c *acme.Client, names []string) (cert *tls.Certificate, failed map[string]string, err error) {
	o, err := c.AuthorizeOrder(ctx, acme.DomainIDs(names...))
	if err != nil {
		return nil, nil, fmt.Errorf("new order: %w", err)
	}
	failed = map[string]string{}
	var firstErr error
	for _, zurl := range o.AuthzURLs {
		name, err := m.authorize(ctx, c, zurl)
		if err != nil {
			if name == "" {
				return nil, nil, err
			}
			failed[name] = err.Error()
			// The host name's failure matters most: without it
			// there is no certificate at all.
			if firstErr == nil || name == names[0] {
				firstErr = err
			}
		}
	}
	if firstErr != nil {
		return nil, failed, firstErr
	}
	if o, err = c.WaitOrder(ctx, o.URI); err != nil {
		return nil, nil, fmt.Errorf("order: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("make the certificate key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate request: %w", err)
	}
	chain, _, err := c.CreateCertFromOrder(ctx, o, csr, true)
	if err != nil {
		return nil, nil, fmt.Errorf("finalize: %w", err)
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, nil, fmt.Errorf("the authority's certificate: %w", err)
	}
	tc := &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}
	if err := writeKeyAndChain(filepath.Join(m.o.Dir, acmeDir, acmeCertFile), tc); err != nil {
		return nil, nil, err
	}
	return tc, nil, nil
}

// authorize answers one authorization and waits for the authority's
// verdict; name is its identifier ("" when the authorization itself could
// not be read).
func (m *Manager) authorize(ctx context.Context, c *acme.Client, zurl string) (name string, err error) {
	z, err := c.GetAuthorization(ctx, zurl)
	if err != nil {
		return "", fmt.Errorf("authorization: %w", err)
	}
	name = z.Identifier.Value
	if z.Status == acme.StatusValid {
		return name, nil
	}
	var chal *acme.Challenge
	for _, want := range m.o.ACME.Challenges {
		for _, ch := range z.Challenges {
			if ch.Type == want && chal == nil {
				chal = ch
			}
		}
	}
	if chal == nil {
		return name, fmt.Errorf("%s: the authority offers no challenge this box can answer (it offers %s)", name, challengeTypes(z.Challenges))
	}
	switch chal.Type {
	case HTTP01:
		answer, err := c.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			return name, err
		}
		m.mu.Lock()
		m.tokens[chal.Token] = answer
		m.mu.Unlock()
		defer func() { m.mu.Lock(); delete(m.tokens, chal.Token); m.mu.Unlock() }()
	case TLSALPN01:
		cert, err := c.TLSALPN01ChallengeCert(chal.Token, name)
		if err != nil {
			return name, err
		}
		m.mu.Lock()
		m.alpnCerts[strings.ToLower(name)] = &cert
		m.mu.Unlock()
		defer func() { m.mu.Lock(); delete(m.alpnCerts, strings.ToLower(name)); m.mu.Unlock() }()
	}
	if _, err := c.Accept(ctx, chal); err != nil {
		return name, fmt.Errorf("%s: accept %s: %w", name, chal.Type, err)
	}
	if _, err := c.WaitAuthorization(ctx, z.URI); err != nil {
		return name, fmt.Errorf("%s: %w", name, err)
	}
	return name, nil
}

func challengeTypes(cs []*acme.Challenge) string {
	var t []string
	for _, c := range cs {
		t = append(t, c.Type)
	}
	return strings.Join(t, ", ")
}

// writeKeyAndChain keeps a key and its chain in one file (0600): written
// at once, so the two always belong together.
func writeKeyAndChain(path string, c *tls.Certificate) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return fmt.Errorf("encode the certificate key: %w", err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	for _, der := range c.Certificate {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create the TLS folder: %w", err)
	}
	if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("keep the certificate: %w", err)
	}
	return nil
}

// explain turns an ACME failure into words for the status page.
func explain(err error, directory string) string {
	host := directory
	if u, perr := url.Parse(directory); perr == nil && u.Host != "" {
		host = u.Hostname()
	}
	var authz *acme.AuthorizationError
	var ae *acme.Error
	var ne net.Error
	var ue *url.Error
	switch {
	case errors.As(err, &authz):
		detail := ""
		for _, e := range authz.Errors {
			if ae, ok := e.(*acme.Error); ok && ae.Detail != "" {
				detail = ae.Detail
			}
		}
		msg := "The certificate authority could not check that " + authz.Identifier + " is this box"
		if detail != "" {
			msg += " (" + detail + ")"
		}
		return msg + ". Check that the name points at the box's public address and that the router forwards ports 80 and 443 to it."
	case errors.As(err, &ae) && strings.HasSuffix(ae.ProblemType, ":rateLimited"):
		return "The certificate authority refuses more requests for now (too many): " + ae.Detail + "."
	case errors.As(err, &ae):
		return "The certificate authority refused: " + strings.TrimSuffix(ae.Detail, ".") + "."
	case errors.As(err, &ne), errors.As(err, &ue):
		return "The certificate authority (" + host + ") could not be reached: is the internet connection up?"
	case errors.Is(err, context.DeadlineExceeded):
		return "The certificate authority (" + host + ") did not answer in time."
	}
	return "Getting a trusted certificate failed: " + err.Error() + "."
}

// skippedWords says which names were left out of the certificate, for
// State.Problem after a certificate without them was issued; caller
// holds mu.
func (m *Manager) skippedWords() string {
	if len(m.skipped) == 0 {
		return ""
	}
	var names []string
	for n := range m.skipped {
		names = append(names, n)
	}
	slices.Sort(names)
	return "The certificate does not cover " + strings.Join(names, ", ") +
		": the certificate authority could not reach the box under these names. Check their DNS records (the DNS page); the box tries again at the next renewal."
}
