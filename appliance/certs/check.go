package certs

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"
)

// InputError is a refused upload, in words for the form; Field is "cert"
// or "key" ("" when it is about neither).
type InputError struct {
	Field, Message string
}

func (e *InputError) Error() string { return e.Message }

// Upload limits: a chain of a few certificates, one key.
const (
	MaxCertPEM = 32 << 10 // under the web form's 64 KiB with the key
	MaxKeyPEM  = 16 << 10
)

// CheckPair checks a certificate chain and its key as an administrator
// pastes them: both PEM, the key belongs to the first certificate, the
// chain leads to an authority in roots (nil: the system's), the first
// certificate names hostname and is valid at now. It returns the pair
// ready for use, or an *InputError.
func CheckPair(certPEM, keyPEM []byte, hostname string, now time.Time, roots *x509.CertPool) (*tls.Certificate, error) {
	bad := func(field, format string, a ...any) error {
		return &InputError{Field: field, Message: fmt.Sprintf(format, a...)}
	}
	if len(certPEM) > MaxCertPEM {
		return nil, bad("cert", "This is too long for a certificate chain (more than %d KB).", MaxCertPEM>>10)
	}
	if len(keyPEM) > MaxKeyPEM {
		return nil, bad("key", "This is too long for a private key (more than %d KB).", MaxKeyPEM>>10)
	}
	certs, err := pemBlocks(certPEM, "CERTIFICATE")
	if err != nil || len(certs) == 0 {
		return nil, bad("cert", "This is not a certificate: paste the text that starts with -----BEGIN CERTIFICATE-----, the server's certificate first, then the intermediate ones.")
	}
	chain := make([]*x509.Certificate, len(certs))
	for i, der := range certs {
		if chain[i], err = x509.ParseCertificate(der); err != nil {
			return nil, bad("cert", "Certificate %d of the %d pasted is damaged (%v).", i+1, len(certs), err)
		}
	}
	keys, err := pemBlocks(keyPEM, "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY")
	if err != nil || len(keys) != 1 {
		return nil, bad("key", "This is not one private key: paste the text that starts with -----BEGIN PRIVATE KEY----- (unencrypted).")
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			for _, der := range certs[1:] {
				if _, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM); err == nil {
					return nil, bad("cert", "The server's certificate must come first, then the intermediate ones: the key belongs to a later one in the list.")
				}
			}
			return nil, bad("key", "This key does not belong to the certificate: paste the key that was made with this certificate's request.")
		}
		return nil, bad("key", "The key cannot be read (%v); it must not be protected by a password.", err)
	}
	leaf := chain[0]
	if now.Before(leaf.NotBefore) {
		return nil, bad("cert", "The certificate is valid only from %s.", leaf.NotBefore.Format(time.DateOnly))
	}
	if !now.Before(leaf.NotAfter) {
		return nil, bad("cert", "The certificate ended on %s: ask the issuer for a new one.", leaf.NotAfter.Format(time.DateOnly))
	}
	if err := leaf.VerifyHostname(hostname); err != nil {
		names := leaf.DNSNames
		if len(names) == 0 {
			names = []string{leaf.Subject.CommonName}
		}
		return nil, bad("cert", "The certificate is for %s, not for %s (the box's name, which mail programs connect to).", strings.Join(names, ", "), hostname)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, DNSName: hostname}); err != nil {
		return nil, bad("cert", "Mail programs would not trust this certificate: %s. Paste the whole chain your provider gave (the server's certificate, then the intermediate ones).", verifyWords(err))
	}
	pair.Leaf = leaf
	return &pair, nil
}

func verifyWords(err error) string {
	switch e := err.(type) {
	case x509.UnknownAuthorityError:
		return "no known authority signed it, or an intermediate certificate is missing"
	case x509.CertificateInvalidError:
		if e.Reason == x509.Expired {
			return "a certificate of the chain has ended"
		}
	}
	return err.Error()
}

// pemBlocks returns the DER of every PEM block of the given types; text
// around the blocks (as some providers add) is ignored, anything else
// that is not PEM is an error.
func pemBlocks(b []byte, types ...string) ([][]byte, error) {
	var out [][]byte
	rest := bytes.TrimSpace(b)
	for len(rest) > 0 {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			if len(out) == 0 {
				return nil, fmt.Errorf("not PEM")
			}
			break
		}
		if slices.Contains(types, blk.Type) {
			out = append(out, blk.Bytes)
		}
		rest = bytes.TrimSpace(rest)
	}
	return out, nil
}
