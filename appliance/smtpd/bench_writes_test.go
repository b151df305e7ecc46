package smtpd

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"

	"postroom/appliance/mailauth"
	"postroom/internal/dnstest"
	"postroom/storage/storagetest"
)

// BenchmarkInboundWrites measures the MX path at 8 senders with the checks
// off and on, and how many bytes the process writes to disk per byte it
// accepts (/proc/self/io write_bytes: the store's value log and tables,
// and any temp file). "disk-B/msg-B" near 1 means the body is written
// once.
//
//	go test -run '^$' -bench BenchmarkInboundWrites -benchtime 400x ./appliance/smtpd/
func BenchmarkInboundWrites(b *testing.B) {
	for _, size := range []struct {
		name  string
		bytes int
	}{{"100KB", 100 << 10}, {"2MB", 2 << 20}} {
		msg := benchMessage(size.bytes)
		for _, checks := range []string{"off", "on"} {
			b.Run(fmt.Sprintf("checks=%s/size=%s/senders=8", checks, size.name), func(b *testing.B) {
				st := storagetest.Open(b)
				storagetest.Account(b, st, alice)
				opts := Options{Store: st}
				if checks == "on" {
					opts.Checker = benchChecker(b)
				}
				before := procWriteBytes(b)
				runBench(b, benchCase{opts: opts, senders: 8, dial: dialPlain, from: "bench@remote.test", rcpt: alice, msg: msg})
				written := procWriteBytes(b) - before
				b.ReportMetric(float64(written)/float64(int64(b.N)*int64(len(msg))), "disk-B/msg-B")
			})
		}
	}
}

// benchChecker verifies against a DNS server on loopback: an SPF and a
// DMARC lookup per message, no cache.
func benchChecker(b *testing.B) Checker {
	zone := dnstest.Start(b, `remote.test. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`_dmarc.remote.test. 300 IN TXT "v=DMARC1; p=reject"`)
	return &mailauth.Verifier{Resolver: zone.Resolver(), Hostname: "mx.example.test", Logger: slog.New(slog.DiscardHandler)}
}

// procWriteBytes is write_bytes of /proc/self/io, or 0 where there is none.
func procWriteBytes(b *testing.B) int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
