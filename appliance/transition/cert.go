package transition

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// An office's old server is often its own small server with a
// self-signed or expired certificate, which the usual checks (a known
// authority, the server's name, the dates) refuse. The administrator may
// then trust that one certificate: its SHA-256 fingerprint is pinned for
// the source (Source.Pin), and from then on the old server must show
// exactly that certificate, whatever its authority, name or dates, and is
// refused if it shows any other. Pinning the certificate is stricter than
// the usual checks, not looser: nobody else has its private key, while
// any authority may sign a certificate for the name.

// CertInfo describes the certificate an old server showed, for the page
// to say in plain words what is being trusted.
type CertInfo struct {
	SHA256    string    `json:"sha256"` // of the certificate (DER), hex, lower case
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Names     []string  `json:"names,omitempty"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// Problem is why the usual checks refused it, in plain words; "" for
	// a certificate seen through its pin.
	Problem string `json:"problem,omitempty"`
}

// Fingerprint is SHA256 as people compare it: pairs of upper-case hex
// digits with colons, as browsers and openssl show it.
func (c CertInfo) Fingerprint() string { return colons(c.SHA256) }

func colons(h string) string {
	var b strings.Builder
	for i := 0; i+1 < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strings.ToUpper(h[i : i+2]))
	}
	return b.String()
}

func describeCert(c *x509.Certificate) CertInfo {
	sum := sha256.Sum256(c.Raw)
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return CertInfo{SHA256: hex.EncodeToString(sum[:]), Subject: c.Subject.String(), Issuer: c.Issuer.String(),
		Names: names, NotBefore: c.NotBefore, NotAfter: c.NotAfter}
}

// NormalisePin turns a fingerprint as people copy it (with colons or
// spaces, either case) into a Pin; ok is false when it is not a SHA-256.
func NormalisePin(s string) (pin string, ok bool) {
	s = strings.ToLower(strings.NewReplacer(":", "", " ", "", "-", "").Replace(strings.TrimSpace(s)))
	if len(s) != 2*sha256.Size {
		return "", false
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", false
	}
	return s, true
}

// CertError is an old server whose certificate is not trusted: the usual
// checks refused it and no pin was given, or it is not the pinned one.
type CertError struct {
	Cert CertInfo
	// Pinned is the fingerprint that was trusted, when the server now
	// shows another certificate; "" when none was trusted.
	Pinned string
}

func (e *CertError) Error() string {
	if e.Pinned != "" {
		return fmt.Sprintf("The old server now shows a different certificate (fingerprint %s) from the one trusted for this move (%s). "+
			"If your old provider really changed it, compare the new fingerprint with the one they give you and trust the new certificate for this move; otherwise someone may be in between, and the move waits.",
			e.Cert.Fingerprint(), colons(e.Pinned))
	}
	return fmt.Sprintf("The old server's certificate is not trusted: %s. If this is your old server's own certificate (fingerprint %s, issued to %s, valid from %s to %s), you can trust it for this move.",
		e.Cert.Problem, e.Cert.Fingerprint(), e.Cert.Subject, e.Cert.NotBefore.UTC().Format("2 January 2006"), e.Cert.NotAfter.UTC().Format("2 January 2006"))
}

// certError finds, in a failed handshake's error, the certificate the
// usual checks refused, and says why in plain words; nil when the failure
// was not about the certificate.
func certError(err error, host string) *CertError {
	var ce *CertError
	if errors.As(err, &ce) {
		return ce
	}
	var leaf *x509.Certificate
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) && len(cv.UnverifiedCertificates) > 0 {
		leaf = cv.UnverifiedCertificates[0]
	}
	var hn x509.HostnameError
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	problem := "it could not be checked (" + err.Error() + ")"
	switch {
	case errors.As(err, &hn):
		leaf = hn.Certificate
		problem = fmt.Sprintf("it is made for %s, not for %s", strings.Join(describeCert(hn.Certificate).Names, ", "), host)
	case errors.As(err, &ci):
		leaf = ci.Cert
		problem = "it is not valid now"
		if ci.Reason == x509.Expired {
			problem = fmt.Sprintf("it is out of date (valid from %s to %s)", ci.Cert.NotBefore.UTC().Format("2 January 2006"), ci.Cert.NotAfter.UTC().Format("2 January 2006"))
		}
	case errors.As(err, &ua):
		leaf = ua.Cert
		problem = "it is not signed by a known authority"
		if ua.Cert != nil && ua.Cert.Subject.String() == ua.Cert.Issuer.String() {
			problem = "it is self-signed (made by the server itself, not by a known authority)"
		}
	}
	if leaf == nil {
		return nil
	}
	info := describeCert(leaf)
	info.Problem = problem
	return &CertError{Cert: info}
}

// pinTLS makes cfg accept exactly the certificate of pin, in place of the
// usual checks, and remember it in seen.
func pinTLS(cfg *tls.Config, pin string, seen *CertInfo) {
	cfg.InsecureSkipVerify = true // VerifyConnection checks the pin instead
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the old server showed no certificate")
		}
		info := describeCert(cs.PeerCertificates[0])
		if info.SHA256 != pin {
			return &CertError{Cert: info, Pinned: pin}
		}
		if seen != nil {
			*seen = info
		}
		return nil
	}
}
