package dkim

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"postroom/internal/dnstest"
)

const msg = "From: Ann <ann@example.test>\r\nTo: bob@other.test\r\nSubject: hello\r\n" +
	"Date: Thu, 26 Nov 2026 12:00:00 +0000\r\nMessage-ID: <1@example.test>\r\n\r\nHi Bob,\r\n\r\nbye\r\n"

// TestSignVerify: keys are generated on first use, saved 0600, loaded again
// identically by a new Keys; both signatures verify against the printed TXT
// records served by a DNS server; a changed body fails both.
func TestSignVerify(t *testing.T) {
	dir := t.TempDir()
	k := New(dir)
	if _, err := k.Existing("example.test"); err == nil {
		t.Fatal("Existing created keys")
	}
	dk, err := k.Domain("Example.TEST.")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ed25519.pem", "rsa.pem"} {
		fi, err := os.Stat(filepath.Join(dir, "example.test", f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f, fi.Mode())
		}
	}
	again, err := New(dir).Existing("example.test")
	if err != nil || !again.Ed25519.Equal(dk.Ed25519) || !again.RSA.Equal(dk.RSA) {
		t.Fatalf("reloaded keys differ: %v", err)
	}

	recs, err := dk.Records()
	if err != nil {
		t.Fatal(err)
	}
	var zone []string
	for _, r := range recs {
		zone = append(zone, r.Name+" 300 IN TXT "+ZoneText(r.Value))
	}
	srv := dnstest.Start(t, zone...)
	res := srv.Resolver()
	lookup := func(name string) ([]string, error) { return res.LookupTXT(context.Background(), name) }

	sig, err := dk.Sign(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(sig, []byte("DKIM-Signature:")); n != 2 {
		t.Fatalf("%d signatures:\n%s", n, sig)
	}
	verify := func(m string) []*msgdkim.Verification {
		v, err := msgdkim.VerifyWithOptions(strings.NewReader(m), &msgdkim.VerifyOptions{LookupTXT: lookup})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	good := verify(string(sig) + msg)
	if len(good) != 2 {
		t.Fatalf("%d verifications", len(good))
	}
	for _, v := range good {
		if v.Err != nil || v.Domain != "example.test" {
			t.Errorf("verification %+v", v)
		}
	}
	// Relaxed canonicalisation: re-folded header white space still verifies.
	refolded := strings.Replace(msg, "Subject: hello", "Subject:   hello", 1)
	for _, v := range verify(string(sig) + refolded) {
		if v.Err != nil {
			t.Errorf("relaxed: %v", v.Err)
		}
	}
	for _, v := range verify(string(sig) + strings.Replace(msg, "Hi Bob", "Hi Eve", 1)) {
		if v.Err == nil {
			t.Error("changed body verified")
		}
	}
	// A second From added on the way breaks the signature (oversigning).
	for _, v := range verify(string(sig) + "From: mallory@evil.test\r\n" + msg) {
		if v.Err == nil {
			t.Error("added From verified")
		}
	}
}

func TestBadDomain(t *testing.T) {
	k := New(t.TempDir())
	for _, d := range []string{"", "../x", "a/b", ".x", "a..b"} {
		if _, err := k.Domain(d); err == nil {
			t.Errorf("domain %q accepted", d)
		}
	}
}

func TestZoneText(t *testing.T) {
	v := strings.Repeat("a", 300)
	if got := ZoneText(v); got != `"`+v[:255]+`" "`+v[255:]+`"` {
		t.Errorf("ZoneText = %s", got)
	}
}
