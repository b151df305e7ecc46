package transition

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"postroom/internal/dovecottest"
	"postroom/storage/storagetest"
)

// BenchmarkTransition measures the move from a local Dovecot: messages per
// second taken into a fresh account, over IMAPS and POP3S, 1,000 messages
// of about 4 KB.
//
//	go test ./appliance/transition -run '^$' -bench Transition -benchtime 3x
func BenchmarkTransition(b *testing.B) {
	const n = 1000
	dc := dovecottest.Start(b, dovecottest.User{Name: oldUser, Password: oldPass})
	var msgs []oldMessage
	for i := range n {
		msgs = append(msgs, oldMessage{"INBOX", nil, day.Add(time.Duration(i) * time.Minute),
			msg(fmt.Sprintf("message %d", i), strings.Repeat("a line of about seventy characters, as mail has, repeated\r\n", 60))})
	}
	fillOld(&testing.T{}, dc, msgs)
	for _, proto := range []string{IMAP, POP3} {
		b.Run(proto, func(b *testing.B) {
			addr := dc.IMAPS
			if proto == POP3 {
				addr = dc.POP3S
			}
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				st := storagetest.Open(b)
				storagetest.Account(b, st, ours)
				m, err := New(Options{Store: st, Dir: b.TempDir(), RootCAs: dc.Client.RootCAs})
				if err != nil {
					b.Fatal(err)
				}
				src, err := m.Add(context.Background(), NewSource{Account: ours, Protocol: proto, Host: "localhost",
					Port: port(&testing.T{}, addr), Username: oldUser, Password: oldPass})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				res, err := m.RunOnce(context.Background(), src.ID)
				total += time.Since(start)
				if err != nil || res.Fetched != n {
					b.Fatalf("%+v %v", res, err)
				}
			}
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "msgs/s")
		})
	}
}
