package dnsrecords

import (
	"context"
	"fmt"
	"testing"

	"postroom/internal/dnstest"
)

// BenchmarkCheck5Domains: one full check of five domains (13 records
// each, the RSA DKIM key over TCP) against dnstest on 127.0.0.1.
func BenchmarkCheck5Domains(b *testing.B) {
	cfg := testConfig()
	var records []Record
	lines := []string{"mail.example.org. 300 IN A 192.0.2.10"}
	for i := range 5 {
		d := fmt.Sprintf("example%d.org", i)
		z, err := For(cfg, d, testKeys(b, d))
		if err != nil {
			b.Fatal(err)
		}
		records = append(records, z.Records...)
		for _, r := range z.Records {
			lines = append(lines, r.String())
		}
	}
	srv := dnstest.Start(b, lines...)
	r := srv.Resolver()
	b.ResetTimer()
	for b.Loop() {
		for _, res := range Check(context.Background(), r, records) {
			if res.State != Correct {
				b.Fatalf("%s %s: %s %v", res.Name, res.Type, res.State, res.Err)
			}
		}
	}
}
