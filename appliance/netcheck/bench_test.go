package netcheck

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
)

// BenchmarkFullCheck5Domains: one whole check of five domains (13 records
// each, the RSA DKIM keys over TCP), the host's address and reverse DNS,
// port 25 out (a probe server) and in (the box's SMTP server), against
// dnstest and go-smtp on this machine; everything is correct.
func BenchmarkFullCheck5Domains(b *testing.B) {
	var domains []string
	for i := range 5 {
		domains = append(domains, fmt.Sprintf("example%d.org", i))
	}
	zones := testZones(b, "", domains...)
	e := newEnv(b, published(zones))
	o := e.options(zones)
	o.Logger = slog.New(slog.DiscardHandler)
	c := New(o)
	b.ResetTimer()
	for b.Loop() {
		r := c.Check(context.Background())
		if bad := notOK(r); len(bad) > 0 {
			b.Fatalf("not OK: %+v", bad)
		}
	}
}
