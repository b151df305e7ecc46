package appliance

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"postroom/appliance/admin"
	"postroom/appliance/config"
	"postroom/appliance/status"
	"postroom/internal/dnstest"
)

// TestDNSCheckFeedsStatus: the running box checks its domain's DNS at
// start; an MX that points to the old provider and a missing SPF record
// are the problem, on the attention list and the red LED, in plain words.
// Once DNS is fixed, adding a domain checks again: the old problems go,
// the new domain's missing MX comes.
func TestDNSCheckFeedsStatus(t *testing.T) {
	dns := dnstest.Start(t, "example.test. 300 IN MX 10 mail.oldprovider.test.")
	cfg := testConfig(t)
	cfg.Resolver = dns.Addr() // on this machine: development mode allows it
	if err := cfg.Save(filepath.Join(cfg.DataDir, config.ConfigFile)); err != nil {
		t.Fatal(err)
	}
	r, _ := startDemo(t, cfg)
	mx := "The MX record of example.test points to mail.oldprovider.test, not to this box. The DNS page says what to change."
	spf := "example.test has no SPF record: its mail may be taken for spam. The DNS page says what to add."
	s := r.waitFor(t, "the DNS problems on the red LED", func(s status.Snapshot) bool {
		return slices.Equal(s.DNS.Problems, []string{mx, spf}) && s.LEDs.Attention == status.LEDOn
	})
	if a := s.Attention(time.Now()); !slices.Contains(a, mx) || !slices.Contains(a, spf) || s.Problem != mx {
		t.Errorf("attention %q, problem %q", a, s.Problem)
	}
	if s.DNS.Checked.IsZero() {
		t.Error("DNS.Checked not set")
	}

	dns.Add("example.test. 300 IN MX 10 localhost.", `example.test. 300 IN TXT "v=spf1 mx -all"`)
	ctx := context.Background()
	c, err := admin.Dial(ctx, admin.SocketPath(cfg.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := admin.Call[admin.Settings](ctx, c, "", admin.AddDomain{Domain: "second.test"}); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "a check after the new domain", func(s status.Snapshot) bool {
		return slices.Equal(s.DNS.Problems, []string{
			"The MX record of second.test is missing: its mail cannot arrive. The DNS page says what to add.",
			"second.test has no SPF record: its mail may be taken for spam. The DNS page says what to add.",
		})
	})
}
