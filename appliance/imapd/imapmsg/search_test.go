package imapmsg

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"postroom/storage"
)

// searchMailbox stores the messages the SEARCH tests look at (UIDs 1..6).
func searchMailbox(t testing.TB) *fixture {
	f := newFixture(t)
	day := func(d int) time.Time { return time.Date(2026, 11, d, 12, 0, 0, 0, time.Local) }
	// 1: plain text, seen and answered.
	f.add(`From: Alice <alice@example.org>
To: bob@example.org
Subject: Quarterly report
Date: Mon, 02 Nov 2026 09:00:00 +0000
Message-ID: <q@example.org>

The numbers are up.
`, storage.FlagSeen|storage.FlagAnswered, nil, day(2))
	// 2: encoded subject, quoted-printable UTF-8 body, flagged, keyword.
	f.add(`From: =?utf-8?q?J=C3=B6rg?= <joerg@example.org>
To: alice@example.org
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=
Date: Tue, 10 Nov 2026 23:30:00 -0800
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Viele Gr=C3=BC=C3=9Fe, a soft=
break here.
`, storage.FlagFlagged, []string{"$Important"}, day(10))
	// 3: multipart, base64 text, a base64 attachment that is not text.
	f.add(`From: bob@example.org
To: alice@example.org
Cc: Carol <carol@example.org>
Bcc: dave@example.org
Subject: files
Date: Thu, 01 Oct 2026 08:00:00 +0000
Content-Type: multipart/mixed; boundary=X

--X
Content-Type: text/plain
Content-Transfer-Encoding: base64

c2VjcmV0IGJhc2U2NCB3b3Jkcw==
--X
Content-Type: application/pdf
Content-Transfer-Encoding: base64

YXR0YWNobWVudG9ubHk=
--X--
`, storage.FlagDeleted, nil, day(15))
	// 4: Latin-1 quoted-printable, a custom header, no Date header.
	f.add(`From: mueller@example.org
To: alice@example.org
Subject: Umlaut
X-Custom: Present-Value
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Herr M=FCller schreibt.
`, storage.FlagDraft, nil, day(20))
	// 5: an enclosed message, and large.
	f.add(`From: fwd@example.org
To: alice@example.org
Subject: Fwd
Date: Fri, 20 Nov 2026 10:00:00 +0000
Content-Type: multipart/mixed; boundary=Y

--Y
Content-Type: text/plain

see below
`+strings.Repeat("padding line\n", 500)+`--Y
Content-Type: message/rfc822

From: inner@example.org
Subject: Inner secret

enclosed words
--Y--
`, 0, nil, day(20))
	// 6: HTML, seen: searched as it reads, without the markup.
	f.add(`From: news@example.org
To: alice@example.org
Subject: Newsletter
Date: Sat, 21 Nov 2026 10:00:00 +0000
Content-Type: text/html; charset=utf-8

<html><head><style>p { color: red }</style></head><body>
<!-- tracking pixel -->
<p>Hello <b>World</b></p><p>Tom &amp; Jerry's <i>News</i>letter</p>
</body></html>
`, storage.FlagSeen, nil, day(21))
	return f
}

func date(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) } // as go-imap parses dates

func seqs(nums ...uint32) imap.SeqSet { return imap.SeqSetNum(nums...) }

func TestSearch(t *testing.T) {
	f := searchMailbox(t)
	cands := f.candidates()
	if len(cands) != 6 {
		t.Fatalf("%d messages", len(cands))
	}
	hdr := func(k, v string) imap.SearchCriteria {
		return imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: k, Value: v}}}
	}
	on := func(d int) imap.SearchCriteria {
		return imap.SearchCriteria{Since: date(d), Before: date(d).Add(24 * time.Hour)}
	}
	senton := func(d int) imap.SearchCriteria {
		return imap.SearchCriteria{SentSince: date(d), SentBefore: date(d).Add(24 * time.Hour)}
	}
	or := func(a, b imap.SearchCriteria) imap.SearchCriteria {
		return imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{a, b}}}
	}
	not := func(a imap.SearchCriteria) imap.SearchCriteria {
		return imap.SearchCriteria{Not: []imap.SearchCriteria{a}}
	}
	flag := func(f imap.Flag) imap.SearchCriteria { return imap.SearchCriteria{Flag: []imap.Flag{f}} }
	unflag := func(f imap.Flag) imap.SearchCriteria { return imap.SearchCriteria{NotFlag: []imap.Flag{f}} }
	body := func(s string) imap.SearchCriteria { return imap.SearchCriteria{Body: []string{s}} }
	text := func(s string) imap.SearchCriteria { return imap.SearchCriteria{Text: []string{s}} }
	uids := func(rs ...imap.UIDRange) imap.SearchCriteria { return imap.SearchCriteria{UID: []imap.UIDSet{rs}} }
	seq := func(rs ...imap.SeqRange) imap.SearchCriteria { return imap.SearchCriteria{SeqNum: []imap.SeqSet{rs}} }

	tests := []struct {
		name string
		c    imap.SearchCriteria
		want []uint32
	}{
		{"ALL", imap.SearchCriteria{}, []uint32{1, 2, 3, 4, 5, 6}},
		{"seq 2,4", imap.SearchCriteria{SeqNum: []imap.SeqSet{seqs(2, 4)}}, []uint32{2, 4}},
		{"seq *", seq(imap.SeqRange{}), []uint32{6}},
		{"seq 5:*", seq(imap.SeqRange{Start: 5}), []uint32{5, 6}},
		{"seq *:5", seq(imap.SeqRange{Stop: 5}), []uint32{5, 6}},
		{"seq 4:2", seq(imap.SeqRange{Start: 4, Stop: 2}), []uint32{2, 3, 4}},
		{"seq 9:10", seq(imap.SeqRange{Start: 9, Stop: 10}), nil},
		{"seq 9:*", seq(imap.SeqRange{Start: 9}), []uint32{6}},
		{"uid 1,3", uids(imap.UIDRange{Start: 1, Stop: 1}, imap.UIDRange{Start: 3, Stop: 3}), []uint32{1, 3}},
		{"uid *", uids(imap.UIDRange{}), []uint32{6}},
		{"uid 5:*", uids(imap.UIDRange{Start: 5}), []uint32{5, 6}},
		{"two uid sets", imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 1, Stop: 4}}, {{Start: 3, Stop: 6}}}}, []uint32{3, 4}},
		{"searchres", imap.SearchCriteria{UID: []imap.UIDSet{imap.SearchRes()}}, nil},

		{"ANSWERED", flag(imap.FlagAnswered), []uint32{1}},
		{"DELETED", flag(imap.FlagDeleted), []uint32{3}},
		{"DRAFT", flag(imap.FlagDraft), []uint32{4}},
		{"FLAGGED", flag(imap.FlagFlagged), []uint32{2}},
		{"SEEN", flag(imap.FlagSeen), []uint32{1, 6}},
		{"seen lower case", flag(`\seen`), []uint32{1, 6}},
		{"UNANSWERED", unflag(imap.FlagAnswered), []uint32{2, 3, 4, 5, 6}},
		{"UNDELETED", unflag(imap.FlagDeleted), []uint32{1, 2, 4, 5, 6}},
		{"UNDRAFT", unflag(imap.FlagDraft), []uint32{1, 2, 3, 5, 6}},
		{"UNFLAGGED", unflag(imap.FlagFlagged), []uint32{1, 3, 4, 5, 6}},
		{"UNSEEN", unflag(imap.FlagSeen), []uint32{2, 3, 4, 5}},
		{"KEYWORD", flag("$important"), []uint32{2}},
		{"UNKEYWORD", unflag("$Important"), []uint32{1, 3, 4, 5, 6}},
		{"KEYWORD unknown", flag("$nothere"), nil},
		{"RECENT", flag(`\Recent`), nil},
		{"NEW", imap.SearchCriteria{Flag: []imap.Flag{`\Recent`}, NotFlag: []imap.Flag{imap.FlagSeen}}, nil},
		{"OLD", unflag(`\Recent`), []uint32{1, 2, 3, 4, 5, 6}},

		{"BEFORE 10", imap.SearchCriteria{Before: date(10)}, []uint32{1}},
		{"SINCE 20", imap.SearchCriteria{Since: date(20)}, []uint32{4, 5, 6}},
		{"ON 20", on(20), []uint32{4, 5}},
		{"ON 3", on(3), nil},
		{"SENTBEFORE 2", imap.SearchCriteria{SentBefore: date(2)}, []uint32{3}},
		{"SENTSINCE 20", imap.SearchCriteria{SentSince: date(20)}, []uint32{4, 5, 6}}, // 4 by internal date
		{"SENTON 10 (in the header's zone)", senton(10), []uint32{2}},
		{"SENTON 11", senton(11), nil},
		{"LARGER 5000", imap.SearchCriteria{Larger: 5000}, []uint32{5}},
		{"SMALLER 5000", imap.SearchCriteria{Smaller: 5000}, []uint32{1, 2, 3, 4, 6}},
		{"LARGER and SMALLER", imap.SearchCriteria{Larger: 300, Smaller: 5000}, []uint32{3, 6}},

		{"FROM", hdr("From", "ALICE"), []uint32{1}},
		{"FROM decoded name", hdr("From", "jörg"), []uint32{2}},
		{"FROM address", hdr("From", "bob@example"), []uint32{3}},
		{"FROM display form", hdr("From", "Alice <alice@"), []uint32{1}},
		{"TO", hdr("To", "alice@example.org"), []uint32{2, 3, 4, 5, 6}},
		{"CC", hdr("Cc", "carol"), []uint32{3}},
		{"BCC", hdr("Bcc", "dave"), []uint32{3}},
		{"SUBJECT decoded", hdr("Subject", "GRÜßE"), []uint32{2}},
		{"SUBJECT ß as ss", hdr("Subject", "GRÜSSE"), []uint32{2}},
		{"SUBJECT", hdr("Subject", "report"), []uint32{1}},
		{"HEADER present", hdr("x-custom", ""), []uint32{4}},
		{"HEADER value", hdr("X-CUSTOM", "present-VALUE"), []uint32{4}},
		{"HEADER no match", hdr("X-Custom", "absent"), nil},
		{"HEADER Message-ID", hdr("Message-ID", "q@example"), []uint32{1}},
		{"HEADER Date present", hdr("Date", ""), []uint32{1, 2, 3, 5, 6}},
		{"HEADER Cc present", hdr("cc", ""), []uint32{3}},
		{"HEADER Subject encoded", hdr("subject", "grüße"), []uint32{2}},

		{"BODY plain", body("NUMBERS are"), []uint32{1}},
		{"BODY quoted-printable utf-8", body("viele grüße"), []uint32{2}},
		{"BODY soft line break", body("softbreak"), []uint32{2}},
		{"BODY latin-1", body("MÜLLER"), []uint32{4}},
		{"BODY base64 text", body("secret base64"), []uint32{3}},
		{"BODY not in attachments", body("attachmentonly"), nil},
		{"BODY enclosed message body", body("enclosed words"), []uint32{5}},
		{"BODY enclosed message header", body("inner secret"), []uint32{5}},
		{"BODY html, as read", body("hello world"), []uint32{6}},
		{"BODY html entity", body("tom & jerry"), []uint32{6}},
		{"BODY html word across inline tags", body("newsletter"), []uint32{6}},
		{"BODY html not the markup", body("<b>"), nil},
		{"BODY html not the style", body("color"), nil},
		{"BODY html not a comment", body("tracking"), nil},
		{"BODY html block elements end words", body("worldtom"), nil},
		{"BODY not the header", body("quarterly"), nil},
		{"BODY empty", body(""), []uint32{1, 2, 3, 4, 5, 6}},
		{"TEXT header", text("quarterly"), []uint32{1}},
		{"TEXT body", text("numbers"), []uint32{1}},
		{"TEXT header field name", text("x-custom: present"), []uint32{4}},
		{"TEXT and BODY", imap.SearchCriteria{Text: []string{"umlaut"}, Body: []string{"schreibt"}}, []uint32{4}},
		{"two BODY", imap.SearchCriteria{Body: []string{"viele", "here"}}, []uint32{2}},
		{"two BODY, one missing", imap.SearchCriteria{Body: []string{"viele", "nothere"}}, nil},

		{"NOT SEEN", not(flag(imap.FlagSeen)), []uint32{2, 3, 4, 5}},
		{"OR", or(flag(imap.FlagFlagged), flag(imap.FlagDraft)), []uint32{2, 4}},
		{"OR body header", or(body("numbers"), hdr("Subject", "fwd")), []uint32{1, 5}},
		{"NOT OR", not(or(flag(imap.FlagSeen), body("müller"))), []uint32{2, 3, 5}},
		{"nested", imap.SearchCriteria{
			Not: []imap.SearchCriteria{flag(imap.FlagDeleted)},
			Or: [][2]imap.SearchCriteria{{
				or(hdr("To", "bob"), on(20)),
				imap.SearchCriteria{Not: []imap.SearchCriteria{not(body("grüße"))}},
			}},
		}, []uint32{1, 2, 4, 5}},
		{"AND of everything", imap.SearchCriteria{
			SeqNum: []imap.SeqSet{seqs(1, 2, 3)}, Flag: []imap.Flag{imap.FlagSeen}, Since: date(1),
			Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "alice"}}, Body: []string{"up"},
		}, []uint32{1}},
	}
	// MODSEQ: every message from the fourth on.
	tests = append(tests, struct {
		name string
		c    imap.SearchCriteria
		want []uint32
	}{"MODSEQ", imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: cands[3].Message.ModSeq}}, []uint32{4, 5, 6}})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Search(context.Background(), f.st, &tt.c, cands)
			if err != nil {
				t.Fatal(err)
			}
			var gotUIDs []uint32
			for _, c := range got {
				gotUIDs = append(gotUIDs, c.Message.UID)
			}
			if !slices.Equal(gotUIDs, tt.want) {
				t.Errorf("got %v, want %v", gotUIDs, tt.want)
			}
		})
	}
}

// countingLoader counts what Search loads from the real store.
type countingLoader struct {
	*storage.Store
	objects, bodies int
}

func (c *countingLoader) Object(id storage.ObjectID) (storage.Object, error) {
	c.objects++
	return c.Store.Object(id)
}

// Envelope reads an object record too, decoding less of it.
func (c *countingLoader) Envelope(id storage.ObjectID) (*storage.Envelope, error) {
	c.objects++
	return c.Store.Envelope(id)
}

// ScanEnvelopes counts the envelopes read through the scan too.
func (c *countingLoader) ScanEnvelopes() (storage.EnvelopeReader, func()) {
	r, done := c.Store.ScanEnvelopes()
	return countingEnvelopes{r, c}, done
}

type countingEnvelopes struct {
	storage.EnvelopeReader
	c *countingLoader
}

func (e countingEnvelopes) Envelope(id storage.ObjectID) (*storage.Envelope, error) {
	e.c.objects++
	return e.EnvelopeReader.Envelope(id)
}

func (c *countingLoader) OpenObjectBody(o storage.Object) *storage.Body {
	c.bodies++
	return c.Store.OpenObjectBody(o)
}

// TestSearchLoadsLazily checks that cheaper keys decide first, and that a
// body is opened only when a key needs it.
func TestSearchLoadsLazily(t *testing.T) {
	f := searchMailbox(t)
	cands := f.candidates()
	tests := []struct {
		name            string
		c               imap.SearchCriteria
		objects, bodies int
	}{
		{"metadata only", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}, Larger: 10, Since: date(1)}, 0, 0},
		{"envelope", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "x"}}}, 6, 0},
		{"flag before body", imap.SearchCriteria{Body: []string{"x"}, Flag: []imap.Flag{imap.FlagFlagged}}, 1, 1},
		{"uid before header", imap.SearchCriteria{
			Header: []imap.SearchCriteriaHeaderField{{Key: "X-Custom", Value: ""}},
			UID:    []imap.UIDSet{{{Start: 2, Stop: 3}}},
		}, 2, 2},
		{"or: cheap side first", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{
			{Body: []string{"x"}}, {Flag: []imap.Flag{imap.FlagSeen}},
		}}}, 4, 4},
		{"body and text in one pass", imap.SearchCriteria{Body: []string{"a", "b"}, Text: []string{"c"}}, 6, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ld := &countingLoader{Store: f.st}
			if _, err := Search(context.Background(), ld, &tt.c, cands); err != nil {
				t.Fatal(err)
			}
			if ld.objects != tt.objects || ld.bodies != tt.bodies {
				t.Errorf("loaded %d objects and %d bodies, want %d and %d", ld.objects, ld.bodies, tt.objects, tt.bodies)
			}
		})
	}
}

// TestSearchUndeclaredLatin1 checks that 8-bit text without a charset is
// read as Latin-1, like storage reads such headers.
func TestSearchUndeclaredLatin1(t *testing.T) {
	f := newFixture(t)
	f.add("Subject: 8bit\nContent-Transfer-Encoding: 8bit\n\nHerr M\xfcller, \xc0 bient\xf4t\n", 0, nil, time.Time{})
	f.add("Subject: utf-8\n\nHerr M\xc3\xbcller\n", 0, nil, time.Time{})
	for _, tt := range []struct {
		needle string
		want   int
	}{{"MÜLLER", 2}, {"à BIENTÔT", 1}, {"m\xfcller", 2}, {"\xb6", 0}} {
		got, err := Search(context.Background(), f.st, &imap.SearchCriteria{Body: []string{tt.needle}}, f.candidates())
		if err != nil || len(got) != tt.want {
			t.Errorf("BODY %q: %d matches (%v), want %d", tt.needle, len(got), err, tt.want)
		}
	}
}

func TestSearchCancel(t *testing.T) {
	f := searchMailbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Search(ctx, f.st, &imap.SearchCriteria{Body: []string{"x"}}, f.candidates())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// TestSearchVanished checks that a message whose object is gone is left
// out rather than failing the SEARCH.
func TestSearchVanished(t *testing.T) {
	f := searchMailbox(t)
	cands := f.candidates()
	cands = append(cands, Candidate{SeqNum: 7, Message: storage.Message{UID: 99, Object: 1 << 40}})
	got, err := Search(context.Background(), f.st, &imap.SearchCriteria{Body: []string{"numbers"}}, cands)
	if err != nil || len(got) != 1 || got[0].Message.UID != 1 {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestMatcherChunks(t *testing.T) {
	text := "Grüße aus KÖLN, ſtraße and ΣΊΣΥΦΟΣ"
	needles := []string{"köln", "STRASSE", "straße", "σίσυφος", "aus k", "e a", "nothing"}
	want := []bool{true, true, true, true, true, true, false}
	for chunk := 1; chunk <= len(text); chunk++ {
		var nd [][]byte
		for _, n := range needles {
			nd = append(nd, foldString(n))
		}
		m := newMatcher(nd)
		for i := 0; i < len(text); i += chunk {
			m.Write([]byte(text[i:min(i+chunk, len(text))]))
		}
		m.boundary()
		if !slices.Equal(m.found, want) {
			t.Fatalf("chunk %d: found %v, want %v", chunk, m.found, want)
		}
	}
}
