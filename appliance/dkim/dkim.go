// Package dkim signs outbound mail (RFC 6376) with keys Postroom makes
// itself, and says which DNS TXT records publish them.
//
// Every sender domain gets two keys on first use, kept as PEM (PKCS #8) in
// DATA/dkim/<domain>/, mode 0600, written atomically:
//
//	ed25519.pem   selector "pr-ed"  (RFC 8463, ed25519-sha256)
//	rsa.pem       selector "pr-rsa" (RSA-2048, rsa-sha256)
//
// A message is signed with both: receivers that do not know Ed25519 yet
// (still many) check the RSA signature and ignore the other one, as RFC 8463
// section 5 foresees. The selector names are fixed so that the DNS records
// printed by `postroomctl dns` stay valid; a key rotation would add new
// selectors rather than reuse these.
//
// Canonicalisation is relaxed/relaxed (survives header re-folding and
// trailing white space changes by relays); the signed header fields are the
// ones a reader sees and a forger wants to change (From, To, Subject, ...).
// From is listed twice ("oversigned") so that a second From field added on
// the way breaks the signature.
//
// Files: dkim.go (keys, signing, TXT records), dkim_test.go.
package dkim

import (
	"postroom/internal/atomicfile"

	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// Selectors of the two keys (the s= tag; the TXT record lives at
// <selector>._domainkey.<domain>).
const (
	SelectorEd25519 = "pr-ed"
	SelectorRSA     = "pr-rsa"
)

// RSABits is the size of generated RSA keys (RFC 8301: at least 1024,
// 2048 recommended; larger ones do not fit a single DNS TXT string chunk
// gracefully and many resolvers truncate).
const RSABits = 2048

// SignedHeaders are the header fields covered by the signatures.
var SignedHeaders = []string{
	"From", "From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "List-Id", "List-Unsubscribe",
}

// Keys holds the signing keys of every sender domain, loading or creating
// them in Dir on first use. It is safe for concurrent use.
type Keys struct {
	dir   string
	mu    sync.Mutex
	byDom map[string]*DomainKeys
}

// DomainKeys are one domain's two private keys.
type DomainKeys struct {
	Domain  string
	Ed25519 ed25519.PrivateKey
	RSA     *rsa.PrivateKey
}

// New returns the key set kept in dir (normally DATA/dkim). Nothing is read
// or created until a domain is used.
func New(dir string) *Keys {
	return &Keys{dir: dir, byDom: map[string]*DomainKeys{}}
}

// Domain returns domain's keys, generating and saving them if they do not
// exist yet.
func (k *Keys) Domain(domain string) (*DomainKeys, error) {
	return k.domain(domain, true)
}

// Existing returns domain's keys only if they exist on disk; os.ErrNotExist
// otherwise. For read-only tools (postroomctl dns on a live data folder).
func (k *Keys) Existing(domain string) (*DomainKeys, error) {
	return k.domain(domain, false)
}

func (k *Keys) domain(domain string, create bool) (*DomainKeys, error) {
	d, err := cleanDomain(domain)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if dk := k.byDom[d]; dk != nil {
		return dk, nil
	}
	dir := filepath.Join(k.dir, d)
	dk := &DomainKeys{Domain: d}
	ed, err := loadOrCreate(filepath.Join(dir, "ed25519.pem"), create, func() (crypto.Signer, error) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	})
	if err != nil {
		return nil, err
	}
	rk, err := loadOrCreate(filepath.Join(dir, "rsa.pem"), create, func() (crypto.Signer, error) {
		return rsa.GenerateKey(rand.Reader, RSABits)
	})
	if err != nil {
		return nil, err
	}
	var ok1, ok2 bool
	dk.Ed25519, ok1 = ed.(ed25519.PrivateKey)
	dk.RSA, ok2 = rk.(*rsa.PrivateKey)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("dkim: %s: key files hold the wrong key types (%T, %T)", dir, ed, rk)
	}
	k.byDom[d] = dk
	return dk, nil
}

// cleanDomain lower-cases a domain and refuses anything that could escape
// the key folder.
func cleanDomain(domain string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	if d == "" || strings.ContainsAny(d, "/\\ \x00") || strings.HasPrefix(d, ".") || strings.Contains(d, "..") {
		return "", fmt.Errorf("dkim: bad domain %q", domain)
	}
	return d, nil
}

func loadOrCreate(path string, create bool, gen func() (crypto.Signer, error)) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("dkim: %s: not a PEM private key", path)
		}
		key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("dkim: %s: %w", path, err)
		}
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("dkim: %s: %T cannot sign", path, key)
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) || !create {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	key, err := gen()
	if err != nil {
		return nil, fmt.Errorf("dkim: generate %s: %w", path, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("dkim: %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	if err := atomicfile.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("dkim: save %s: %w", path, err)
	}
	return key, nil
}

// Sign reads a whole message (CRLF line endings) and returns the two
// DKIM-Signature header fields (RSA first, then Ed25519), each ending in
// CRLF, to be put before the message's own header.
func (dk *DomainKeys) Sign(msg io.Reader) ([]byte, error) {
	var signers []*msgdkim.Signer
	var ws []io.Writer
	for _, s := range []struct {
		sel string
		key crypto.Signer
	}{{SelectorRSA, dk.RSA}, {SelectorEd25519, dk.Ed25519}} {
		sg, err := msgdkim.NewSigner(&msgdkim.SignOptions{
			Domain: dk.Domain, Selector: s.sel, Signer: s.key,
			HeaderCanonicalization: msgdkim.CanonicalizationRelaxed,
			BodyCanonicalization:   msgdkim.CanonicalizationRelaxed,
			HeaderKeys:             SignedHeaders,
		})
		if err != nil {
			return nil, fmt.Errorf("dkim: %w", err)
		}
		signers = append(signers, sg)
		ws = append(ws, sg)
	}
	_, err := io.Copy(io.MultiWriter(ws...), msg)
	var out []byte
	for _, sg := range signers {
		if cerr := sg.Close(); cerr != nil && err == nil {
			err = cerr
		}
		if err == nil {
			out = append(out, sg.Signature()...)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dkim: sign for %s: %w", dk.Domain, err)
	}
	return out, nil
}

// TXTRecord is a DNS TXT record publishing one public key.
type TXTRecord struct {
	Name  string // e.g. "pr-ed._domainkey.example.com."
	Value string // e.g. "v=DKIM1; k=ed25519; p=..."
}

// Records returns the TXT records for both keys.
func (dk *DomainKeys) Records() ([]TXTRecord, error) {
	rsaDER, err := x509.MarshalPKIXPublicKey(&dk.RSA.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	pub := dk.Ed25519.Public().(ed25519.PublicKey)
	return []TXTRecord{
		// RFC 8463 3: the p= of an Ed25519 key is the bare 32-byte key.
		{Name: SelectorEd25519 + "._domainkey." + dk.Domain + ".", Value: "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)},
		{Name: SelectorRSA + "._domainkey." + dk.Domain + ".", Value: "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(rsaDER)},
	}, nil
}

// ZoneText returns value as a zone-file TXT string list: quoted strings of
// at most 255 bytes each (RFC 1035 3.3.14), which resolvers concatenate. An
// RSA-2048 key record is about 400 bytes and needs two.
func ZoneText(value string) string {
	var parts []string
	for len(value) > 255 {
		parts = append(parts, `"`+value[:255]+`"`)
		value = value[255:]
	}
	parts = append(parts, `"`+value+`"`)
	return strings.Join(parts, " ")
}
