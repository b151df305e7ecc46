package imapmsg

import (
	"context"
	"encoding/base64"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"postroom/storage"
	"postroom/storage/storagetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	storagetest.CleanupPrefilled()
	os.Exit(code)
}

// prefilled opens the shared 100,000-message store and lists its INBOX.
func prefilled(b *testing.B) (*storage.Store, []Candidate) {
	dir := storagetest.Prefilled(b)
	st, err := storage.Open(storage.Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	a, err := st.Account(storagetest.PrefillAccount)
	if err != nil {
		b.Fatal(err)
	}
	mb, err := st.Mailbox(a.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	ms, err := st.Messages(a.ID, mb.ID)
	if err != nil {
		b.Fatal(err)
	}
	cands := make([]Candidate, len(ms))
	for i, m := range ms {
		cands[i] = Candidate{SeqNum: uint32(i + 1), Message: m}
	}
	return st, cands
}

// benchSearch runs one SEARCH per iteration over the whole mailbox and
// reports matches and the heap in use after it (to show memory does not
// grow with the mailbox beyond the candidate list itself).
func benchSearch(b *testing.B, c *imap.SearchCriteria, wantMatches int) {
	st, cands := prefilled(b)
	b.ReportAllocs()
	b.ResetTimer()
	var peak uint64
	for b.Loop() {
		got, err := Search(context.Background(), st, c, cands)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != wantMatches {
			b.Fatalf("%d matches, want %d", len(got), wantMatches)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	b.ReportMetric(float64(len(cands)), "messages")
	b.ReportMetric(float64(peak)/(1<<20), "MiB-heap-inuse")
}

// A header SEARCH answered from the cached envelope.
func BenchmarkSearchSubject(b *testing.B) {
	benchSearch(b, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "message 99999"}}}, 1)
}

// A header SEARCH that reads each stored header.
func BenchmarkSearchHeader(b *testing.B) {
	benchSearch(b, &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: "<77777@"}}}, 1)
}

// A body SEARCH for a string no message has: every body is read.
func BenchmarkSearchBody(b *testing.B) {
	benchSearch(b, &imap.SearchCriteria{Body: []string{"no such phrase"}}, 0)
}

// A flag SEARCH: metadata only.
func BenchmarkSearchFlags(b *testing.B) {
	benchSearch(b, &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, storagetest.PrefillMessages)
}

// oneMB stores a 1 MB text message and a message with a 1 MB base64
// attachment.
func oneMB(b *testing.B) (text, attach stored) {
	f := newFixture(b)
	text = f.add(storagetest.Message(1<<20, 1), 0, nil, time.Time{})
	payload := make([]byte, 768<<10)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	enc := base64.StdEncoding.EncodeToString(payload)
	var w strings.Builder
	w.WriteString("Subject: attachment\nContent-Type: multipart/mixed; boundary=Z\n\n--Z\nContent-Type: text/plain\n\nsee attachment\n--Z\n" +
		"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n")
	for i := 0; i < len(enc); i += 76 {
		w.WriteString(enc[i:min(i+76, len(enc))] + "\n")
	}
	w.WriteString("--Z--\n")
	attach = f.add(w.String(), 0, nil, time.Time{})
	return text, attach
}

func benchSection(b *testing.B, m stored, fetch func() (io.Reader, int64, error)) {
	b.ReportAllocs()
	b.SetBytes(m.msg.Size)
	for b.Loop() {
		r, n, err := fetch()
		if err != nil {
			b.Fatal(err)
		}
		if k, err := io.Copy(io.Discard, r); err != nil || k != n {
			b.Fatalf("copied %d of %d: %v", k, n, err)
		}
	}
}

// BODY[] of a 1 MB message.
func BenchmarkSection1MB(b *testing.B) {
	m, _ := oneMB(b)
	benchSection(b, m, func() (io.Reader, int64, error) {
		return Section(m.body, m.obj.Structure, &imap.FetchItemBodySection{})
	})
}

// BINARY[2] of a message with a 1 MB base64 attachment: decoded twice.
func BenchmarkBinary1MB(b *testing.B) {
	_, m := oneMB(b)
	benchSection(b, m, func() (io.Reader, int64, error) {
		return BinarySection(m.body, m.obj.Structure, &imap.FetchItemBinarySection{Part: []int{2}})
	})
}
