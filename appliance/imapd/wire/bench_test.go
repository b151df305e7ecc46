package wire

import (
	"bufio"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// repeatReader yields the same command line forever.
type repeatReader struct {
	line []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.line[r.off:])
		n += c
		r.off = (r.off + c) % len(r.line)
	}
	return n, nil
}

// Lines as clients send them: Thunderbird's header fetch, a CONDSTORE
// resync, an ESEARCH.
const (
	benchFetch    = "a12 FETCH 1:50 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])\r\n"
	benchUIDFetch = "a13 UID FETCH 4820:* (UID FLAGS MODSEQ) (CHANGEDSINCE 1234567)\r\n"
	benchSearch   = "a14 UID SEARCH RETURN (ALL COUNT) CHARSET UTF-8 UNDELETED SINCE 1-Nov-2026 OR FROM alice SUBJECT \"quarterly report\"\r\n"
)

// cpuTime is the CPU time this process has used. On a shared machine
// wall time per operation counts the other tenants' load too; CPU time
// per operation (reported as cpu-ns/op) mostly does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func benchParse(b *testing.B, line string, parse func([]Node, bool) error) {
	r := NewReader(bufio.NewReaderSize(&repeatReader{line: []byte(line)}, 64<<10), Options{})
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		cmd, err := r.ReadCommand()
		if err != nil {
			b.Fatal(err)
		}
		if err := parse(cmd.Args, cmd.UID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFetch(b *testing.B) {
	benchParse(b, benchFetch, func(a []Node, uid bool) error { _, err := ParseFetch(a, uid); return err })
}

func BenchmarkParseUIDFetch(b *testing.B) {
	benchParse(b, benchUIDFetch, func(a []Node, uid bool) error { _, err := ParseFetch(a, uid); return err })
}

func BenchmarkParseSearch(b *testing.B) {
	benchParse(b, benchSearch, func(a []Node, uid bool) error { _, err := ParseSearch(a, uid); return err })
}

// BenchmarkWriteFetchLine writes the metadata answer of one message.
func BenchmarkWriteFetchLine(b *testing.B) {
	w := NewWriter(io.Discard, 64<<10)
	when := time.Date(2026, 12, 6, 2, 44, 25, 0, time.UTC)
	flags := []imap.Flag{imap.FlagSeen, imap.FlagAnswered, "$Junk"}
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		w.Untagged().Number(12).Atom("FETCH").BeginList().Atom("UID").Number(4827313).
			Atom("FLAGS").Flags(flags).Atom("INTERNALDATE").DateTime(when).
			Atom("RFC822.SIZE").Number(44827).Atom("MODSEQ").BeginList().Number(624140003).EndList().EndList().End()
	}
	w.Flush()
}
