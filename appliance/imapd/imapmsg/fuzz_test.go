package imapmsg

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/emersion/go-imap/v2"

	"postroom/storage"
)

// bytesBody is a message held in memory, for fuzzing without a store.
type bytesBody struct{ *bytes.Reader }

func (b bytesBody) Size() int64 { return b.Reader.Size() }

func addCorpusSeeds(f *testing.F, add func(msg string)) {
	for _, raw := range corpus {
		add(crlf(raw))
	}
	add(crlf(deepMessage(55)))
	add("")
	add("\n\n")
	add("Content-Type: multipart/mixed; boundary=a\n\n--a\n\n--a--")
}

// FuzzSection fetches random sections of random messages: nothing panics,
// every section is as long as announced, every single part's section is as
// long as its BODYSTRUCTURE says, and BINARY.SIZE is BINARY's length.
func FuzzSection(f *testing.F) {
	addCorpusSeeds(f, func(msg string) {
		f.Add([]byte(msg), []byte{1, 2}, uint8(0), int64(0), int64(-1))
		f.Add([]byte(msg), []byte{2}, uint8(2), int64(3), int64(10))
	})
	f.Fuzz(func(t *testing.T, msg, path []byte, spec uint8, off, size int64) {
		b := bytesBody{bytes.NewReader(msg)}
		root, env := storage.ParseMIME(b, b.Size())
		Envelope(env)
		bs := BodyStructure(root, true)
		BodyStructure(root, false)

		item := &imap.FetchItemBodySection{}
		for _, p := range path {
			item.Part = append(item.Part, int(p%8))
		}
		switch spec % 6 {
		case 1:
			item.Specifier = imap.PartSpecifierHeader
		case 2:
			item.Specifier = imap.PartSpecifierText
		case 3:
			item.Specifier = imap.PartSpecifierMIME
		case 4:
			item.Specifier, item.HeaderFields = imap.PartSpecifierHeader, []string{"Subject", "content-type"}
		case 5:
			item.Specifier, item.HeaderFieldsNot = imap.PartSpecifierHeader, []string{"Subject"}
		}
		if spec >= 128 {
			item.Partial = &imap.SectionPartial{Offset: off, Size: size}
		}
		r, n, err := Section(b, root, item)
		if err != nil {
			t.Fatalf("section: %v", err)
		}
		readExact(t, r, n)

		bin := &imap.FetchItemBinarySection{Part: item.Part, Partial: item.Partial}
		r, n, err = BinarySection(b, root, bin)
		if err == ErrUnknownCTE {
			return
		}
		if err != nil {
			t.Fatalf("binary: %v", err)
		}
		got := readExact(t, r, n)
		bsize, err := BinarySize(b, root, item.Part)
		if err != nil {
			t.Fatalf("binary size: %v", err)
		}
		if item.Partial == nil && int(bsize) != len(got) {
			t.Fatalf("BINARY.SIZE %d, BINARY gave %d", bsize, len(got))
		}

		bs.Walk(func(path []int, part imap.BodyStructure) bool {
			sp, ok := part.(*imap.BodyStructureSinglePart)
			if !ok {
				return true
			}
			r, n, err := Section(b, root, &imap.FetchItemBodySection{Part: path})
			if err != nil {
				t.Fatal(err)
			}
			if got := readExact(t, r, n); len(got) != int(sp.Size) {
				t.Fatalf("part %v: BODYSTRUCTURE size %d, section %d", path, sp.Size, len(got))
			}
			return true
		})
	})
}

// FuzzDecode checks the lenient decoders: they decode what the standard
// encoders write exactly as the standard decoders do, and give the same
// bytes however the input is split, since BINARY decodes twice.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("Gr=C3=BC=C3=9Fe soft=\r\nbreak  \r\n="))
	f.Add([]byte("aGVsbG8=\r\nd29y bGQ=="))
	f.Add([]byte("\x00\xff  \t\r\n=\r=\n=4=41=a1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		enc := base64.StdEncoding.EncodeToString(data)
		var wrapped strings.Builder
		for i := 0; i < len(enc); i += 76 {
			wrapped.WriteString(enc[i:min(i+76, len(enc))] + "\r\n")
		}
		if got := decodeAll(t, newBase64Reader(strings.NewReader(wrapped.String()))); !bytes.Equal(got, data) {
			t.Fatalf("base64: got %q, want %q", got, data)
		}

		var qp bytes.Buffer
		w := quotedprintable.NewWriter(&qp)
		w.Write(data)
		w.Close()
		want, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(qp.Bytes())))
		if err != nil {
			t.Fatalf("stdlib cannot read its own %q: %v", qp.Bytes(), err)
		}
		if got := decodeAll(t, newQPReader(bytes.NewReader(qp.Bytes()))); !bytes.Equal(got, want) {
			t.Fatalf("quoted-printable of %q: got %q, want %q", qp.Bytes(), got, want)
		}

		for _, mk := range []func(io.Reader) io.Reader{
			func(r io.Reader) io.Reader { return newBase64Reader(r) },
			func(r io.Reader) io.Reader { return newQPReader(r) },
		} {
			whole := decodeAll(t, mk(bytes.NewReader(data)))
			split := decodeAll(t, iotest.OneByteReader(mk(iotest.HalfReader(bytes.NewReader(data)))))
			if !bytes.Equal(whole, split) {
				t.Fatalf("split input decodes differently: %q vs %q", whole, split)
			}
		}
	})
}

func decodeAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzSearch checks BODY matching of random text under each transfer
// encoding against folding the whole text at once, and the streaming
// matcher against the same reference for any split of the text.
func FuzzSearch(f *testing.F) {
	f.Add("Grüße aus KÖLN", "köln", uint8(0), uint8(3))
	f.Add("ſtraße\r\nline two", "STRASSE", uint8(1), uint8(1))
	f.Add("a\xffb\xe2\x82", "\xe2\x82", uint8(2), uint8(2))
	f.Fuzz(func(t *testing.T, text, needle string, cte, chunk uint8) {
		if cte%3 == 0 {
			// Unencoded, the text is one line: a line break after the
			// header would start another part of the message.
			text = strings.NewReplacer("\r", "", "\n", "").Replace(text)
		}
		want := bytes.Contains(foldString(text), foldString(needle))

		// The streaming matcher, text split every chunk bytes.
		m := newMatcher([][]byte{foldString(needle)})
		step := int(chunk%16) + 1
		for i := 0; i < len(text); i += step {
			m.Write([]byte(text[i:min(i+step, len(text))]))
		}
		m.boundary()
		if m.found[0] != want {
			t.Fatalf("matcher: found %v, want %v", m.found[0], want)
		}

		// The whole path: a message with the text encoded, scanned.
		var body, enc string
		switch cte % 3 {
		case 0:
			body = text
		case 1:
			enc = "base64"
			body = base64.StdEncoding.EncodeToString([]byte(text))
		case 2:
			enc = "quoted-printable"
			var qp bytes.Buffer
			w := quotedprintable.NewWriter(&qp)
			w.Binary = true // keeps "\r" and "\n" exact
			w.Write([]byte(text))
			w.Close()
			body = qp.String()
		}
		msg := "Subject: s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: " + enc + "\r\n\r\n" + body
		b := bytesBody{bytes.NewReader([]byte(msg))}
		root, _ := storage.ParseMIME(b, b.Size())
		sm := newMatcher([][]byte{foldString(needle)})
		sc := textScan{ctx: context.Background(), b: b, buf: make([]byte, 7)}
		if err := sc.body(root, sm); err != nil && err != errAllFound {
			t.Fatal(err)
		}
		if sm.found[0] != want {
			t.Fatalf("%s scan of %q: found %v, want %v", enc, body, sm.found[0], want)
		}
	})
}

// FuzzCriteria builds random SEARCH criteria over the SEARCH test mailbox
// and checks the laws any evaluation must keep: NOT c is the complement
// of c, OR c d the union, and c AND d (written as NOT NOT c, NOT NOT d)
// the intersection, whichever keys are cheap or expensive.
func FuzzCriteria(f *testing.F) {
	fx := searchMailbox(f)
	cands := fx.candidates()
	f.Add([]byte{0, 1, 7, 2}, []byte{9, 3})
	f.Add([]byte{10, 0, 11, 2, 12, 5}, []byte{13, 1, 8, 4})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		ca, cb := randomCriteria(&a, 0), randomCriteria(&b, 0)
		run := func(c imap.SearchCriteria) map[uint32]bool {
			got, err := Search(context.Background(), fx.st, &c, cands)
			if err != nil {
				t.Fatal(err)
			}
			out := map[uint32]bool{}
			for _, g := range got {
				out[g.Message.UID] = true
			}
			return out
		}
		not := func(c imap.SearchCriteria) imap.SearchCriteria {
			return imap.SearchCriteria{Not: []imap.SearchCriteria{c}}
		}
		sa, sb := run(ca), run(cb)
		sNot := run(not(ca))
		sOr := run(imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{ca, cb}}})
		sAnd := run(imap.SearchCriteria{Not: []imap.SearchCriteria{not(ca), not(cb)}})
		for _, c := range cands {
			u := c.Message.UID
			if sNot[u] == sa[u] || sOr[u] != (sa[u] || sb[u]) || sAnd[u] != (sa[u] && sb[u]) {
				t.Fatalf("uid %d: a=%v b=%v not=%v or=%v and=%v\na=%+v\nb=%+v", u, sa[u], sb[u], sNot[u], sOr[u], sAnd[u], ca, cb)
			}
		}
	})
}

// randomCriteria reads criteria from fuzz bytes: each byte picks a key,
// the next one its argument.
func randomCriteria(p *[]byte, depth int) imap.SearchCriteria {
	next := func() byte {
		if len(*p) == 0 {
			return 0
		}
		c := (*p)[0]
		*p = (*p)[1:]
		return c
	}
	words := []string{"", "alice", "grüße", "numbers", "müller", "secret", "inner", "world", "x-custom", "report", "Present"}
	flags := []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft, "$Important", `\Recent`}
	fields := []string{"From", "To", "Cc", "Bcc", "Subject", "X-Custom", "Date"}
	var c imap.SearchCriteria
	for range 3 {
		if len(*p) == 0 {
			break
		}
		op, arg := next(), next()
		w := words[int(arg)%len(words)]
		switch op % 15 {
		case 0:
			c.Flag = append(c.Flag, flags[int(arg)%len(flags)])
		case 1:
			c.NotFlag = append(c.NotFlag, flags[int(arg)%len(flags)])
		case 2:
			c.SeqNum = append(c.SeqNum, imap.SeqSet{{Start: uint32(arg % 8), Stop: uint32(arg / 32)}})
		case 3:
			c.UID = append(c.UID, imap.UIDSet{{Start: imap.UID(arg % 8), Stop: imap.UID(arg / 32)}})
		case 4:
			c.Since = date(int(arg%25) + 1)
		case 5:
			c.Before = date(int(arg%25) + 1)
		case 6:
			c.SentSince = date(int(arg%25) + 1)
		case 7:
			c.SentBefore = date(int(arg%25) + 1)
		case 8:
			c.Larger = int64(arg) * 32
		case 9:
			c.Smaller = int64(arg) * 32
		case 10:
			c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: fields[int(arg)%len(fields)], Value: words[int(arg/16)%len(words)]})
		case 11:
			c.Body = append(c.Body, w)
		case 12:
			c.Text = append(c.Text, w)
		case 13:
			if depth < 4 {
				c.Not = append(c.Not, randomCriteria(p, depth+1))
			}
		case 14:
			if depth < 4 {
				c.Or = append(c.Or, [2]imap.SearchCriteria{randomCriteria(p, depth+1), randomCriteria(p, depth+1)})
			}
		}
	}
	return c
}
