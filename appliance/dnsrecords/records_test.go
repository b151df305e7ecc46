package dnsrecords

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"postroom/appliance/config"
	"postroom/appliance/dkim"
)

// testConfig is a box "mail.example.org" with POP3 on port 110 off.
func testConfig() config.Config {
	cfg := config.Default()
	cfg.Hostname = "Mail.Example.org."
	cfg.Domains = []string{"example.org"}
	cfg.Listen.POP3 = ""
	return cfg
}

// testKeys makes DKIM keys for domain in a temp folder.
func testKeys(t testing.TB, domain string) *dkim.DomainKeys {
	t.Helper()
	dk, err := dkim.New(t.TempDir()).Domain(domain)
	if err != nil {
		t.Fatal(err)
	}
	return dk
}

func TestFor(t *testing.T) {
	dk := testKeys(t, "example.org")
	keys, err := dk.Records()
	if err != nil {
		t.Fatal(err)
	}
	z, err := For(testConfig(), "Example.ORG.", dk)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind             Kind
		name, typ, value string
	}{
		{KindMX, "example.org.", "MX", "10 mail.example.org."},
		{KindSPF, "example.org.", "TXT", "v=spf1 mx -all"},
		{KindDKIM, "pr-ed._domainkey.example.org.", "TXT", keys[0].Value},
		{KindDKIM, "pr-rsa._domainkey.example.org.", "TXT", keys[1].Value},
		{KindDMARC, "_dmarc.example.org.", "TXT", "v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:postmaster@example.org"},
		{KindClient, "autoconfig.example.org.", "CNAME", "mail.example.org."},
		{KindClient, "autodiscover.example.org.", "CNAME", "mail.example.org."},
		{KindSRV, "_submissions._tcp.example.org.", "SRV", "0 1 465 mail.example.org."},
		{KindSRV, "_submission._tcp.example.org.", "SRV", "10 1 587 mail.example.org."},
		{KindSRV, "_imaps._tcp.example.org.", "SRV", "0 1 993 mail.example.org."},
		{KindSRV, "_imap._tcp.example.org.", "SRV", "10 1 143 mail.example.org."},
		{KindSRV, "_pop3s._tcp.example.org.", "SRV", "20 1 995 mail.example.org."},
		{KindSRV, "_pop3._tcp.example.org.", "SRV", "0 0 0 ."},
	}
	if len(z.Records) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(z.Records), len(want), z.Records)
	}
	for i, w := range want {
		r := z.Records[i]
		if r.Kind != w.kind || r.Name != w.name || r.Type != w.typ || r.Value != w.value {
			t.Errorf("record %d = %s %s %s %q; want %s %s %s %q", i, r.Kind, r.Name, r.Type, r.Value, w.kind, w.name, w.typ, w.value)
		}
		if len(r.Why) < 20 || strings.Contains(r.Why, "RFC") {
			t.Errorf("record %d: Why %q is not a sentence for an office manager", i, r.Why)
		}
	}
	if z.Domain != "example.org" || z.Host != "mail.example.org" {
		t.Errorf("zone %q host %q", z.Domain, z.Host)
	}
}

// TestWrite: every line of the zone text is a comment or a record that
// miekg/dns parses back to the Record it came from (TXT text joined from
// its strings), in the Records' order.
func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		name      string
		smarthost string
		keys      bool
		comments  []string
	}{
		{name: "keys", keys: true, comments: []string{"; DKIM (RFC 6376): two keys", "; Postroom: DNS records for example.org (this box: mail.example.org)"}},
		{name: "no keys yet", comments: []string{"; DKIM: no keys yet"}},
		{name: "smarthost", smarthost: "relay.provider.test", keys: true, comments: []string{"; Mail leaves through the smarthost relay.provider.test"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Queue.Smarthost.Host = tc.smarthost
			var dk *dkim.DomainKeys
			if tc.keys {
				dk = testKeys(t, "example.org")
			}
			z, err := For(cfg, "example.org", dk)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := z.Write(&b); err != nil {
				t.Fatal(err)
			}
			var parsed []dns.RR
			for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
				if strings.HasPrefix(line, ";") {
					continue
				}
				rr, err := dns.NewRR(line)
				if err != nil || rr == nil {
					t.Fatalf("not a record: %q: %v", line, err)
				}
				parsed = append(parsed, rr)
			}
			if len(parsed) != len(z.Records) {
				t.Fatalf("%d records in the text, %d in the zone:\n%s", len(parsed), len(z.Records), b.String())
			}
			for i, rr := range parsed {
				r := z.Records[i]
				h := rr.Header()
				value := strings.TrimPrefix(rr.String(), h.String())
				if txt, ok := rr.(*dns.TXT); ok {
					value = strings.Join(txt.Txt, "")
				}
				if h.Name != r.Name || dns.TypeToString[h.Rrtype] != r.Type || value != r.Value || h.Ttl != TTL {
					t.Errorf("line %d: %s %s %q; want %s %s %q", i, h.Name, dns.TypeToString[h.Rrtype], value, r.Name, r.Type, r.Value)
				}
			}
			for _, c := range tc.comments {
				if !strings.Contains(b.String(), c) {
					t.Errorf("zone text lacks %q", c)
				}
			}
			if tc.smarthost != "" && z.Records[1].Value != "v=spf1 mx a:relay.provider.test -all" {
				t.Errorf("SPF with a smarthost: %q", z.Records[1].Value)
			}
		})
	}
}

func TestPTR(t *testing.T) {
	for _, tc := range []struct{ ip, name string }{
		{"192.0.2.10", "10.2.0.192.in-addr.arpa."},
		{"2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."},
	} {
		r, err := PTR("Mail.Example.org.", net.ParseIP(tc.ip))
		if err != nil {
			t.Fatal(err)
		}
		if r.Kind != KindPTR || r.Name != tc.name || r.Type != "PTR" || r.Value != "mail.example.org." {
			t.Errorf("PTR(%s) = %+v", tc.ip, r)
		}
		// The zone line parses back.
		if _, err := dns.NewRR(r.String()); err != nil {
			t.Errorf("%s: %v", r, err)
		}
	}
	if _, err := PTR("mail.example.org", nil); err == nil {
		t.Error("PTR of no address: no error")
	}
}
