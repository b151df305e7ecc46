package dnsrecords

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"postroom/internal/dnstest"
)

// published is the zone text of every record of z, plus the host's address
// and other TXT records a real domain has beside ours.
func published(z Zone) []string {
	out := []string{
		"mail.example.org. 300 IN A 192.0.2.10",
		`example.org. 300 IN TXT "google-site-verification=abc"`,
	}
	for _, r := range z.Records {
		out = append(out, r.String())
	}
	return out
}

// without returns zone lines without the one for rec.
func without(lines []string, rec Record) []string {
	return slices.DeleteFunc(slices.Clone(lines), func(l string) bool { return l == rec.String() })
}

func checkZone(t *testing.T, lines []string, z Zone, fail ...string) []Result {
	t.Helper()
	srv := dnstest.Start(t, lines...)
	for _, name := range fail {
		srv.Fail(name, dns.RcodeServerFailure)
	}
	res := Check(context.Background(), srv.Resolver(), z.Records)
	if len(res) != len(z.Records) {
		t.Fatalf("%d results for %d records", len(res), len(z.Records))
	}
	return res
}

// states returns the state of every result that is not the one expected of
// its kind when all is right (Correct).
func notCorrect(res []Result) map[string]Result {
	out := map[string]Result{}
	for _, r := range res {
		if r.State != Correct {
			out[r.Name+" "+r.Type] = r
		}
	}
	return out
}

func testZone(t *testing.T) Zone {
	t.Helper()
	z, err := For(testConfig(), "example.org", testKeys(t, "example.org"))
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func TestCheckAllCorrect(t *testing.T) {
	z := testZone(t)
	if bad := notCorrect(checkZone(t, published(z), z)); len(bad) > 0 {
		t.Errorf("not correct: %+v", bad)
	}
}

// TestCheckEachMissing: with one record removed, that record alone is
// missing; a service that is off needs no record.
func TestCheckEachMissing(t *testing.T) {
	z := testZone(t)
	for _, rec := range z.Records {
		t.Run(rec.Name+" "+rec.Type, func(t *testing.T) {
			bad := notCorrect(checkZone(t, without(published(z), rec), z))
			if rec.Value == "0 0 0 ." {
				if len(bad) != 0 {
					t.Errorf("an off service without its record: %+v", bad)
				}
				return
			}
			if len(bad) != 1 || bad[rec.Name+" "+rec.Type].State != Missing {
				t.Errorf("results not correct: %+v; want only %s missing", bad, rec.Name)
			}
		})
	}
}

// TestCheckWrong: a record that says something else is wrong, with what
// DNS answered; equivalent forms are correct.
func TestCheckWrong(t *testing.T) {
	z := testZone(t)
	find := func(name, typ string) Record {
		for _, r := range z.Records {
			if r.Name == name && r.Type == typ {
				return r
			}
		}
		t.Fatalf("no record %s %s", name, typ)
		return Record{}
	}
	replace := func(name, typ string, lines ...string) []string {
		return append(without(published(z), find(name, typ)), lines...)
	}
	otherKey := testKeys(t, "example.org")
	otherRecs, _ := otherKey.Records()
	for _, tc := range []struct {
		name  string
		lines []string
		bad   string // "NAME TYPE" of the one record not correct; "" none
		state State
		found string // in Result.Found
	}{
		{name: "MX elsewhere", lines: replace("example.org.", "MX", "example.org. 300 IN MX 10 mx.oldprovider.test."),
			bad: "example.org. MX", state: Wrong, found: "10 mx.oldprovider.test."},
		{name: "MX with another preference and case", lines: replace("example.org.", "MX", "example.org. 300 IN MX 0 MAIL.example.org."),
			state: Correct},
		{name: "MX beside the old provider's", lines: append(published(z), "example.org. 300 IN MX 20 mx.oldprovider.test."), state: Correct},
		{name: "SPF of the old provider", lines: replace("example.org.", "TXT", `example.org. 300 IN TXT "v=spf1 include:old.test -all"`),
			bad: "example.org. TXT", state: Wrong, found: "v=spf1 include:old.test -all"},
		{name: "SPF spelt differently", lines: replace("example.org.", "TXT", `example.org. 300 IN TXT "V=SPF1  MX  -all"`), state: Correct},
		{name: "two SPF records", lines: append(published(z), `example.org. 300 IN TXT "v=spf1 a -all"`),
			bad: "example.org. TXT", state: Wrong, found: "v=spf1 a -all"},
		{name: "DKIM of another key", lines: replace("pr-rsa._domainkey.example.org.", "TXT", Record{Name: "pr-rsa._domainkey.example.org.", Type: "TXT", Value: otherRecs[1].Value}.String()),
			bad: "pr-rsa._domainkey.example.org. TXT", state: Wrong, found: otherRecs[1].Value},
		{name: "DKIM key split by spaces", lines: replace("pr-ed._domainkey.example.org.", "TXT",
			`pr-ed._domainkey.example.org. 300 IN TXT "v=DKIM1; k=ed25519; p=`+strings.TrimPrefix(find("pr-ed._domainkey.example.org.", "TXT").Value, "v=DKIM1; k=ed25519; p=")[:10]+`" " `+strings.TrimPrefix(find("pr-ed._domainkey.example.org.", "TXT").Value, "v=DKIM1; k=ed25519; p=")[10:]+`"`),
			state: Correct},
		{name: "DMARC policy none", lines: replace("_dmarc.example.org.", "TXT", `_dmarc.example.org. 300 IN TXT "v=DMARC1; p=none"`),
			bad: "_dmarc.example.org. TXT", state: Wrong, found: "v=DMARC1; p=none"},
		{name: "DMARC with other reports", lines: replace("_dmarc.example.org.", "TXT", `_dmarc.example.org. 300 IN TXT "v=DMARC1;p=quarantine;rua=mailto:dmarc@else.test"`),
			state: Correct},
		{name: "autoconfig to another host", lines: replace("autoconfig.example.org.", "CNAME", "autoconfig.example.org. 300 IN CNAME www.example.org.", "www.example.org. 300 IN A 192.0.2.80"),
			bad: "autoconfig.example.org. CNAME", state: Wrong, found: "www.example.org."},
		{name: "autoconfig with the box's address", lines: replace("autoconfig.example.org.", "CNAME", "autoconfig.example.org. 300 IN A 192.0.2.10"), state: Correct},
		{name: "autodiscover with another address", lines: replace("autodiscover.example.org.", "CNAME", "autodiscover.example.org. 300 IN A 192.0.2.99"),
			bad: "autodiscover.example.org. CNAME", state: Wrong, found: "192.0.2.99"},
		{name: "IMAP on another port", lines: replace("_imaps._tcp.example.org.", "SRV", "_imaps._tcp.example.org. 300 IN SRV 0 1 994 mail.example.org."),
			bad: "_imaps._tcp.example.org. SRV", state: Wrong, found: "0 1 994 mail.example.org."},
		{name: "an off service published", lines: replace("_pop3._tcp.example.org.", "SRV", "_pop3._tcp.example.org. 300 IN SRV 0 1 110 mail.example.org."),
			bad: "_pop3._tcp.example.org. SRV", state: Wrong, found: "0 1 110 mail.example.org."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := notCorrect(checkZone(t, tc.lines, z))
			if tc.bad == "" {
				if len(bad) != 0 {
					t.Errorf("not correct: %+v", bad)
				}
				return
			}
			got, ok := bad[tc.bad]
			if len(bad) != 1 || !ok || got.State != tc.state || !slices.Contains(got.Found, tc.found) {
				t.Errorf("not correct: %+v; want only %s %s with %q found", bad, tc.bad, tc.state, tc.found)
			}
		})
	}
}

// TestCheckUnknown: a failing DNS server and an ended context give
// Unknown with the reason, never Missing.
func TestCheckUnknown(t *testing.T) {
	z := testZone(t)
	res := checkZone(t, published(z), z, "_dmarc.example.org.")
	for _, r := range res {
		if (r.Name == "_dmarc.example.org.") != (r.State == Unknown) || (r.State == Unknown && r.Err == nil) {
			t.Errorf("%s %s: %s %v", r.Name, r.Type, r.State, r.Err)
		}
	}
	srv := dnstest.Start(t, published(z)...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, r := range Check(ctx, srv.Resolver(), z.Records) {
		if r.State != Unknown || r.Err == nil {
			t.Errorf("after cancel: %s %s: %s %v", r.Name, r.Type, r.State, r.Err)
		}
	}
}
