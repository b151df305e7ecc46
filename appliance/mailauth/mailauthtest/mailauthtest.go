// Package mailauthtest helps tests sign messages with DKIM and publish the
// matching key in a dnstest zone.
package mailauthtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// Key is an Ed25519 DKIM key (RFC 8463) for one domain and selector.
type Key struct {
	Domain, Selector string
	priv             ed25519.PrivateKey
}

// NewKey generates a key.
func NewKey(tb testing.TB, domain, selector string) *Key {
	tb.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return &Key{Domain: domain, Selector: selector, priv: priv}
}

// Record is the key's TXT record in zone-file syntax, for dnstest.
func (k *Key) Record() string {
	pub := k.priv.Public().(ed25519.PublicKey)
	return k.Selector + "._domainkey." + k.Domain + `. 300 IN TXT "v=DKIM1; k=ed25519; p=` +
		base64.StdEncoding.EncodeToString(pub) + `"`
}

// Sign returns msg with a DKIM-Signature field on top (relaxed/relaxed).
func (k *Key) Sign(tb testing.TB, msg []byte) []byte {
	tb.Helper()
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(msg), &dkim.SignOptions{
		Domain: k.Domain, Selector: k.Selector, Signer: k.priv,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
	})
	if err != nil {
		tb.Fatalf("dkim sign: %v", err)
	}
	return out.Bytes()
}
