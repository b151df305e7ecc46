package admin

import (
	"context"
	"testing"
)

// BenchmarkOps: the latency of one operation in-process and through the
// control socket (one connection, requests one after another), a question
// (account.get) and a change (account.quota: one store transaction, an
// audit line, a Bus update). docs/BENCHMARKS.md has the figures.
func BenchmarkOps(b *testing.B) {
	for _, via := range []string{"in-process", "socket"} {
		for _, op := range []struct {
			name string
			op   func(i int) Op
		}{
			{"get", func(int) Op { return GetAccount{Name: "ann@example.org"} }},
			{"quota", func(i int) Op { return SetQuota{Name: "ann@example.org", Bytes: int64(1+i%100) << 20} }},
		} {
			b.Run(via+"/"+op.name, func(b *testing.B) {
				e := newEnv(b)
				ctx := context.Background()
				if _, err := e.a.AddAccount(ctx, actor, AddAccount{Name: "ann@example.org", Password: "ann's password"}); err != nil {
					b.Fatal(err)
				}
				var d Doer = e.a
				if via == "socket" {
					c, err := Dial(ctx, serve(b, e, b.TempDir()))
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					d = c
				}
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					if _, err := d.Do(ctx, actor, op.op(i)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
