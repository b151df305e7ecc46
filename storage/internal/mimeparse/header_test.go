package mimeparse

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeHeaderValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"  folded\r\n  text \r\n", "folded  text"},
		{"=?utf-8?q?caf=C3=A9_cr=C3=A8me?=", "café crème"},
		{"=?UTF-8?B?w6l0w6k=?=", "été"},
		{"=?iso-8859-1?q?Andr=E9?= Pirard", "André Pirard"},
		{"=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
			"If you can read this you understand the example."}, // RFC 2047 8
		{"=?utf-8?q?a?= =?utf-8?q?b?=", "ab"},                              // white space between encoded words goes
		{"=?utf-8?q?a?= b =?utf-8?q?c?=", "a b c"},                         // other text stays
		{"=?windows-1252?q?=80_100?=", "€ 100"},                            // via go-message's charset tables
		{"=?koi8-r?b?8NLJ18XU?=", "Привет"},                                // ditto
		{"=?utf-8*en?q?lang?=", "lang"},                                    // RFC 2231 5 language suffix
		{"=?x-no-such-charset?q?abc?= d", "=?x-no-such-charset?q?abc?= d"}, // raw when undecodable
		{"=?utf-8?x?bad-encoding?=", "=?utf-8?x?bad-encoding?="},
		{"=?utf-8?b?!!!?=", "=?utf-8?b?!!!?="},
		{"not =?encoded", "not =?encoded"},
		{"caf\xc3\xa9", "café"},    // RFC 6532 UTF-8 header
		{"caf\xe9 \xa3", "café £"}, // 8-bit that is not UTF-8: Latin-1
		{"=?utf-8?q?bad=FF?=", "bad\u00ff"},
	}
	for _, tt := range tests {
		if got := DecodeHeaderValue(tt.in); got != tt.want {
			t.Errorf("DecodeHeaderValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseAddressList(t *testing.T) {
	tests := []struct {
		in   string
		want []Address
	}{
		{"", nil},
		{"ann@example.org", []Address{{"", "", "ann", "example.org"}}},
		{"Ann Smith <ann@example.org>, bob@example.net",
			[]Address{{"Ann Smith", "", "ann", "example.org"}, {"", "", "bob", "example.net"}}},
		{`"Smith, Ann" <ann@example.org>`, []Address{{"Smith, Ann", "", "ann", "example.org"}}},
		{`"A \"q\" B" <a@b>`, []Address{{`A "q" B`, "", "a", "b"}}},
		{"=?utf-8?q?Ren=C3=A9e?= <r@example.org>", []Address{{"Renée", "", "r", "example.org"}}},
		{`"=?utf-8?q?Ren=C3=A9e?=" <r@example.org>`, []Address{{"Renée", "", "r", "example.org"}}},
		{"Ren\xe9e <r@example.org>", []Address{{"Renée", "", "r", "example.org"}}},
		{"ann@example.org (Ann Smith)", []Address{{"Ann Smith", "", "ann", "example.org"}}},
		{"Ann (the boss) <ann@example.org>", []Address{{"Ann", "", "ann", "example.org"}}},
		{"John Q. Public <jqp@example.org>", []Address{{"John Q. Public", "", "jqp", "example.org"}}},
		{`"john doe"@example.org`, []Address{{"", "", "john doe", "example.org"}}},
		{"john . doe @ example . org", []Address{{"", "", "john.doe", "example.org"}}},
		// RFC 5322 4.4 obs-route, kept as the ENVELOPE's adl (RFC 9051 7.5.2)
		{"<@relay.example:ann@example.org>", []Address{{"", "@relay.example", "ann", "example.org"}}},
		{"Ann <@route1,@route2:user@example.com>", []Address{{"Ann", "@route1,@route2", "user", "example.com"}}},
		{"<@a.example, ,@b.example : bob@example.org>, x@y",
			[]Address{{"", "@a.example,@b.example", "bob", "example.org"}, {"", "", "x", "y"}}},
		{"Team: <@r (relay):c@d>;", []Address{{"", "", "Team", ""}, {"", "@r", "c", "d"}, {}}},
		{"<@:ann@example.org>", []Address{{"", "", "ann", "example.org"}}}, // an empty route
		{"< ann @ example.org >", []Address{{"", "", "ann", "example.org"}}},
		{"Ann <ann@example.org", []Address{{"Ann", "", "ann", "example.org"}}}, // unterminated
		{"Ann Smith ann@example.org", []Address{{"Ann Smith", "", "ann", "example.org"}}},
		{"postmaster", []Address{{"", "", "postmaster", MissingDomain}}},
		{"<postmaster>", []Address{{"", "", "postmaster", MissingDomain}}},
		{"this is not an address", []Address{{"this is not an address", "", MissingMailbox, MissingDomain}}},
		{"<>", nil},
		{", , a@b ,", []Address{{"", "", "a", "b"}}},
		{"undisclosed-recipients:;", []Address{{"", "", "undisclosed-recipients", ""}, {}}},
		{"Team: ann@example.org, Bob <bob@example.org>; carl@example.org",
			[]Address{{"", "", "Team", ""}, {"", "", "ann", "example.org"}, {"Bob", "", "bob", "example.org"}, {},
				{"", "", "carl", "example.org"}}},
		{"Team: ann@example.org", []Address{{"", "", "Team", ""}, {"", "", "ann", "example.org"}, {}}}, // no ';'
		{": ann@example.org;", []Address{{"", "", "ann", "example.org"}}},                              // no group name
		{"a@b;", []Address{{"", "", "a", "b"}}},
		{`"a@b"@c`, []Address{{"", "", "a@b", "c"}}},
		{"a\x00b@c", []Address{{"", "", "ab", "c"}}},
	}
	for _, tt := range tests {
		if got := parseAddressList(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseAddressList(%q) =\n  %q\nwant\n  %q", tt.in, got, tt.want)
		}
	}
}

func TestParseMsgIDs(t *testing.T) {
	tests := []struct {
		in    string
		first bool
		want  []string
	}{
		{"<a@b>", true, []string{"a@b"}},
		{"  <a@b> (comment <x@y>) ", true, []string{"a@b"}},
		{"<a@b> <c@d>\r\n <e@f>", false, []string{"a@b", "c@d", "e@f"}},
		{`"Your message of Monday <x@y>" <a@b>`, false, []string{"a@b"}},
		{"Your message of Monday", false, nil},
		{"a@b", false, []string{"a@b"}},
		{"bare-id", true, []string{"bare-id"}},
		{"<a@b", true, []string{"a@b"}},
		{"", true, nil},
	}
	for _, tt := range tests {
		if got := parseMsgIDs(tt.in, tt.first); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseMsgIDs(%q, %v) = %q, want %q", tt.in, tt.first, got, tt.want)
		}
	}
}

func TestEnvelope(t *testing.T) {
	raw := crlf(`Date: Mon, 7 Feb 1994 21:52:25
 -0800 (PST)
From: Fred Foobar <foobar@Blurdybloop.example>
Subject: =?iso-8859-1?Q?afternoon_m=E9eting?=
 =?utf-8?B?IOKCrA==?=
To: mooch@owatagu.siam.edu.example, Team: a@x.example;
cc: ann@x.example
BCC: hidden@x.example
Message-Id: <B27397-0100000@Blurdybloop.example>
In-Reply-To: <1@x.example> <2@x.example>
Subject: second subject is ignored
MIME-Version: 1.0

Hello Joe, do you think we can meet at 3:30 tomorrow?
`)
	_, env := Parse(strings.NewReader(raw), int64(len(raw)))
	fred := []Address{{"Fred Foobar", "", "foobar", "Blurdybloop.example"}}
	want := &Envelope{
		Date:    "Mon, 7 Feb 1994 21:52:25 -0800 (PST)",
		Subject: "afternoon méeting €",
		From:    fred,
		Sender:  fred, // RFC 9051 7.5.2 defaults
		ReplyTo: fred,
		To: []Address{{"", "", "mooch", "owatagu.siam.edu.example"},
			{"", "", "Team", ""}, {"", "", "a", "x.example"}, {}},
		Cc:        []Address{{"", "", "ann", "x.example"}},
		Bcc:       []Address{{"", "", "hidden", "x.example"}},
		InReplyTo: []string{"1@x.example", "2@x.example"},
		MessageID: "B27397-0100000@Blurdybloop.example",
	}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("envelope\n  %+v\nwant\n  %+v", env, want)
	}

	raw = crlf("From: a@x\nSender: s@x\nReply-To: \nSubject: \x00nul\n\n")
	_, env = Parse(strings.NewReader(raw), int64(len(raw)))
	if env.Sender[0].Mailbox != "s" || !reflect.DeepEqual(env.ReplyTo, env.From) || env.Subject != "nul" {
		t.Errorf("got %+v", env)
	}

	_, env = Parse(strings.NewReader(""), 0)
	if !reflect.DeepEqual(env, &Envelope{}) {
		t.Errorf("empty message: %+v", env)
	}
}

func TestReadHeader(t *testing.T) {
	raw := crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n" +
		"Subject: hello\n world\nX-Odd : spaced\nno colon line\nContent-Type: text/plain\n\nbody\n--b--\n")
	p, _ := Parse(strings.NewReader(raw), int64(len(raw)))
	fields, err := ReadHeader(strings.NewReader(raw), p.Children[0])
	if err != nil {
		t.Fatal(err)
	}
	want := []HeaderField{
		{"Subject", " hello\r\n world", "Subject: hello\r\n world\r\n"},
		{"X-Odd", " spaced", "X-Odd : spaced\r\n"},
		{"", "", "no colon line\r\n"},
		{"Content-Type", " text/plain", "Content-Type: text/plain\r\n"},
	}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("fields\n  %q\nwant\n  %q", fields, want)
	}
	var all strings.Builder
	for _, f := range fields {
		all.WriteString(f.Raw)
	}
	if hdr := raw[p.Children[0].HeaderStart:p.Children[0].BodyStart]; all.String()+"\r\n" != hdr {
		t.Errorf("fields join to %q, header is %q", all.String(), hdr)
	}
	if DecodeHeaderValue(fields[0].Value) != "hello world" {
		t.Errorf("decoded subject %q", DecodeHeaderValue(fields[0].Value))
	}

	// No blank line, no final line break.
	raw = " stray\r\nA: 1\r\nB: 2"
	p, _ = Parse(strings.NewReader(raw), int64(len(raw)))
	fields, err = ReadHeader(strings.NewReader(raw), p)
	want = []HeaderField{{"", "", " stray\r\n"}, {"A", " 1", "A: 1\r\n"}, {"B", " 2", "B: 2"}}
	if err != nil || !reflect.DeepEqual(fields, want) {
		t.Errorf("fields %q, %v; want %q", fields, err, want)
	}

	// A reader shorter than the structure says.
	if _, err := ReadHeader(strings.NewReader("A: 1"), p); !errors.Is(err, ErrShortRead) {
		t.Errorf("short read: %v", err)
	}
}
