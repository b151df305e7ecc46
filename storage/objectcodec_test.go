package storage

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postroom/storage/internal/mimeparse"
)

// sampleMessages are MIME shapes that exercise every field of the packed
// object record: nested multiparts, an enclosed message with its own
// envelope, parameters, dispositions, languages, groups and odd headers.
var sampleMessages = []string{
	"",
	"Subject: only a header",
	"From: \"Ann Example\" <ann@example.test>, Bob <bob@example.test>\r\nSender: s@example.test\r\nReply-To: r@example.test\r\n" +
		"To: undisclosed-recipients:;\r\nCc: friends: c1@example.test, c2@example.test;\r\nBcc: b@example.test\r\n" +
		"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nDate: Thu, 26 Nov 2026 10:00:00 +0100 (CET)\r\n" +
		"Message-ID: <m1@example.test>\r\nIn-Reply-To: <a@x> <b@y>\r\n\r\nHello\r\n",
	"Content-Type: multipart/mixed; boundary=X\r\nSubject: nested\r\n\r\npreamble\r\n--X\r\n" +
		"Content-Type: multipart/alternative; boundary=Y\r\n\r\n--Y\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\nContent-Language: de, en\r\n\r\nGr=C3=BC=C3=9Fe\r\n--Y\r\n" +
		"Content-Type: text/html\r\n\r\n<p>hi</p>\r\n--Y--\r\n--X\r\nContent-Type: message/rfc822\r\nContent-Description: forwarded\r\n\r\n" +
		"From: inner@example.test\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=Z\r\n\r\n--Z\r\n\r\ninner text\r\n--Z--\r\n" +
		"--X\r\nContent-Type: image/png; name=a.png\r\nContent-Disposition: attachment; filename=\"a b.png\"; size=3\r\n" +
		"Content-ID: <img1@x>\r\nContent-MD5: abc=\r\nContent-Location: http://x/a.png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBO\r\n--X--\r\nepilogue\r\n",
	// RFC 822 source routes, in the message and in an enclosed one.
	"From: Ann <@route1,@route2:user@example.com>\r\nTo: b@example.test, <@relay.example:c@example.test>\r\n" +
		"Content-Type: message/rfc822\r\n\r\nFrom: x@example.test\r\nCc: <@r.example:d@example.test>\r\n\r\ninner\r\n",
}

func sampleRecord(t testing.TB, msg string) *objectRecord {
	part, env := mimeparse.Parse(strings.NewReader(msg), int64(len(msg)))
	rec := &objectRecord{Size: int64(len(msg)), Lines: int64(strings.Count(msg, "\n")), RefCount: 3, Chunks: 1,
		Created: time.Date(2026, 11, 26, 10, 0, 0, 123, time.UTC), Structure: part, Envelope: env}
	for i := range rec.SHA256 {
		rec.SHA256[i] = byte(i*31 + len(msg))
	}
	return rec
}

// sameRecord compares as the JSON form did: an empty map or list and a
// missing one are the same record.
func sameRecord(t testing.TB, got, want *objectRecord) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Fatalf("round trip changed the record:\n got %s\nwant %s", g, w)
	}
}

func TestObjectCodecRoundTrip(t *testing.T) {
	msgs := append([]string(nil), sampleMessages...)
	files, _ := filepath.Glob("internal/mimeparse/testdata/*")
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			msgs = append(msgs, string(b))
		}
	}
	for i, msg := range msgs {
		want := sampleRecord(t, msg)
		if i%2 == 1 { // every other one with trace fields beside the body
			want.Prefix = []byte("Received: from a by b; Thu, 26 Nov 2026 10:00:00 +0000\r\n")
		}
		got, err := decodeObject(encodeObject(want))
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		sameRecord(t, got, want)
		// The envelope alone (header SEARCH) is the same envelope, source
		// routes included.
		env, err := decodeEnvelope(encodeObject(want))
		if err != nil {
			t.Fatalf("message %d: envelope: %v", i, err)
		}
		sameRecord(t, &objectRecord{Envelope: env}, &objectRecord{Envelope: want.Envelope})
		// Everything but the envelope (FETCH of sections), the routes of
		// enclosed messages' addresses included.
		lite, err := decodeObjectOpt(encodeObject(want), false)
		if err != nil {
			t.Fatalf("message %d: without the envelope: %v", i, err)
		}
		full := *want
		full.Envelope = nil
		sameRecord(t, lite, &full)
	}
	if env, err := decodeEnvelope(encodeObject(&objectRecord{Size: 5, Chunks: 1})); err != nil || env != nil {
		t.Fatalf("bare record's envelope: %+v, %v", env, err)
	}
	// A record without structure or envelope (a queued body being staged).
	bare := &objectRecord{Size: 5, Chunks: 1}
	got, err := decodeObject(encodeObject(bare))
	if err != nil || got.Structure != nil || got.Envelope != nil || got.Size != 5 {
		t.Fatalf("bare record: %+v, %v", got, err)
	}
}

// TestObjectCodecReadsJSON: records written before the packed form (JSON
// after version byte 1) still read the same.
func TestObjectCodecReadsJSON(t *testing.T) {
	want := sampleRecord(t, sampleMessages[3])
	old, err := encodeJSON(vObject, want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeObject(old)
	if err != nil {
		t.Fatal(err)
	}
	sameRecord(t, got, want)
}

// TestObjectCodecRejectsDamage: every truncation, a wrong version and
// trailing bytes are errCorrupt, never a panic or a half record.
func TestObjectCodecRejectsDamage(t *testing.T) {
	for _, m := range sampleMessages[3:] {
		b := encodeObject(sampleRecord(t, m))
		for n := 0; n < len(b); n++ {
			if rec, err := decodeObject(b[:n]); err == nil {
				t.Fatalf("truncated to %d of %d bytes: decoded %+v", n, len(b), rec)
			}
			decodeEnvelope(b[:n]) // must not panic
		}
	}
	b := encodeObject(sampleRecord(t, sampleMessages[3]))
	if _, err := decodeObject(append(bytes.Clone(b), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	if _, err := decodeObject(append([]byte{9}, b[1:]...)); err == nil {
		t.Fatal("unknown version accepted")
	}
}

// TestObjectCodecRoutes: source routes (the ENVELOPE's adl) survive the
// packed form, a record without any is written as before (no flag 8), and
// a route for an address the record lacks is errCorrupt.
func TestObjectCodecRoutes(t *testing.T) {
	rec := sampleRecord(t, sampleMessages[len(sampleMessages)-1])
	got, err := decodeObject(encodeObject(rec))
	if err != nil {
		t.Fatal(err)
	}
	inner := got.Structure.Envelope
	if got.Envelope.From[0].Route != "@route1,@route2" || got.Envelope.To[0].Route != "" ||
		got.Envelope.To[1].Route != "@relay.example" || inner == nil || inner.Cc[0].Route != "@r.example" {
		t.Fatalf("routes after the round trip: from %+v to %+v inner %+v", got.Envelope.From, got.Envelope.To, inner)
	}
	d := dec{b: encodeObject(sampleRecord(t, sampleMessages[2]))}
	d.byte1()
	d.uv()
	d.uv()
	d.b = d.b[32:]
	d.uv()
	d.uv()
	d.v()
	if flags := d.byte1(); flags != 3 {
		t.Fatalf("a record without routes has flags %b, want 11", flags)
	}
	// Point the last route at an address past the end.
	b := encodeObject(rec)
	route := "@r.example"
	i := bytes.LastIndex(b, []byte(route))
	bad := append(bytes.Clone(b[:i-2]), 99, byte(len(route)))
	bad = append(bad, route...)
	if _, err := decodeObject(bad); err == nil {
		t.Fatal("a route for a missing address was accepted")
	}
}

func FuzzObjectCodec(f *testing.F) {
	for _, m := range sampleMessages {
		f.Add([]byte(m), false)
		f.Add(encodeObject(sampleRecord(f, m)), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, raw bool) {
		if raw {
			// Any bytes: an error or a record that encodes back the same.
			rec, err := decodeObject(data)
			if err != nil || data[0] != vObjectPacked {
				return
			}
			again, err := decodeObject(encodeObject(rec))
			if err != nil {
				t.Fatalf("re-encoded record does not decode: %v", err)
			}
			sameRecord(t, again, rec)
			return
		}
		want := sampleRecord(t, string(data))
		got, err := decodeObject(encodeObject(want))
		if err != nil {
			t.Fatal(err)
		}
		sameRecord(t, got, want)
	})
}

func BenchmarkObjectDecode(b *testing.B) {
	rec := sampleRecord(b, sampleMessages[2])
	packed := encodeObject(rec)
	js, _ := encodeJSON(vObject, rec)
	for _, c := range []struct {
		name string
		b    []byte
	}{{"json", js}, {"packed", packed}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.b)))
			for b.Loop() {
				if _, err := decodeObject(c.b); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
