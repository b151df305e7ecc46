package storage

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// BenchmarkReclaim measures what Reclaim gives back, and how fast, after
// deleting most of the mail on a store with the appliance's options: it
// delivers 200 messages of 1 MB, deletes 180 of them (the oldest) and calls
// Reclaim once. Reported: MB freed and the seconds Reclaim took.
//
//	go test ./storage -run '^$' -bench Reclaim -benchtime 3x
func BenchmarkReclaim(b *testing.B) {
	const total, deleted = 200, 180
	body := spaceMessage(1<<20, 0)
	for b.Loop() {
		b.StopTimer()
		st, err := Open(Options{Dir: b.TempDir(), NoGC: true, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		a, err := st.CreateAccount("ann@example.test", "password-ann")
		if err != nil {
			b.Fatal(err)
		}
		for range total {
			if err := deliverTo(st, a.ID, strings.NewReader(body)); err != nil {
				b.Fatal(err)
			}
		}
		mb, err := st.Mailbox(a.ID, "INBOX")
		if err != nil {
			b.Fatal(err)
		}
		msgs, _ := st.Messages(a.ID, mb.ID)
		var uids []uint32
		for _, m := range msgs[:deleted] {
			uids = append(uids, m.UID)
		}
		if _, err := st.Expunge(a.ID, mb.ID, uids); err != nil {
			b.Fatal(err)
		}
		// The store's own files, not the file system's free space: other
		// programs write to the disk the benchmark runs on.
		before := dirBytes(st.dir)
		b.StartTimer()
		start := time.Now()
		_, err = st.Reclaim(context.Background())
		took := time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		freed := before - dirBytes(st.dir)
		b.Logf("deleted %d MB of %d: Reclaim freed %.1f MB in %v", deleted, total, float64(freed)/(1<<20), took.Round(time.Millisecond))
		b.ReportMetric(float64(freed)/(1<<20), "MB-freed")
		b.ReportMetric(took.Seconds(), "s-reclaim")
		st.Close()
		b.StartTimer()
	}
}

// dirBytes is the disk space the files in dir take.
func dirBytes(dir string) int64 {
	var n int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			n += allocated(fi)
		}
	}
	return n
}
