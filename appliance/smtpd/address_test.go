package smtpd

import (
	"crypto/tls"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // normalised, or "" for an error
		err  error
	}{
		{"alice@example.test", "alice@example.test", nil},
		{"Alice@Example.TEST", "alice@example.test", nil},
		{"alice@example.test.", "alice@example.test", nil},
		{"a.b+tag@sub.example.test", "a.b+tag@sub.example.test", nil},
		{"jos\xc3\xa9@b\xc3\xbccher.test", "jos\xc3\xa9@b\xc3\xbccher.test", nil},
		{"JOS\xc3\x89@example.test", "jos\xc3\xa9@example.test", nil},
		{"user@[192.0.2.1]", "user@[192.0.2.1]", nil},
		{"user@[IPv6:2001:DB8::1]", "user@[ipv6:2001:db8::1]", nil},
		{"a b@example.test", "a b@example.test", nil}, // from a quoted local part
		{"user%remote@example.test", "", errAddrRelay},
		{"remote!user@example.test", "", errAddrRelay},
		{"user@remote@example.test", "", errAddrRelay},
		{"@example.test", "", errAddrSyntax},
		{"user", "", errAddrSyntax},
		{"PostMaster", "postmaster", nil}, // RFC 5321 4.1.1.3: the one address without a domain
		{"abuse", "", errAddrSyntax},
		{"postmaster@", "", errAddrSyntax},
		{"user@", "", errAddrSyntax},
		{"user@.", "", errAddrSyntax},
		{"user@example.test..", "", errAddrSyntax},
		{"user@.example.test", "", errAddrSyntax},
		{"user@exa_mple.test", "", errAddrSyntax},
		{"user@exa mple.test", "", errAddrSyntax},
		{"user@[]", "", errAddrSyntax},
		{"user@[1.2.3.4", "", errAddrSyntax},
		{"us\rer@example.test", "", errAddrSyntax},
		{"user@example.test\x00", "", errAddrSyntax},
		{"\xff@example.test", "", errAddrSyntax},
		{strings.Repeat("a", 250) + "@example.test", "", errAddrSyntax},
		{"a@" + strings.Repeat("b", 64) + ".test", "", errAddrSyntax},
	} {
		got, err := parseAddress(tc.in)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("parseAddress(%q) = %q, %v; want %v", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("parseAddress(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "<>",
		"alice@example.test":         "<alice@example.test>",
		"a.b+c@example.test":         "<a.b+c@example.test>",
		"a b@example.test":           `<"a b"@example.test>`,
		`a"b\c@example.test`:         `<"a\"b\\c"@example.test>`,
		".a@example.test":            `<".a"@example.test>`,
		"a..b@example.test":          `<"a..b"@example.test>`,
		"jos\xc3\xa9@example.test":   "<jos\xc3\xa9@example.test>",
		"a\r\nX: y@example.test":     `<"a??X: y"@example.test>`,
		"a@exa\r\nmple(x)\\.test":    "<a@exa??mple?x??.test>",
		"user@remote.test@local.tst": `<"user@remote.test"@local.tst>`,
	} {
		if got := formatPath(in); got != want {
			t.Errorf("formatPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTraceHeaders(t *testing.T) {
	date := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))
	base := traceInfo{
		helo: "client.test", remote: netip.MustParseAddr("192.0.2.7"), hostname: "mx.example.test",
		id: "abc123", from: "sender@remote.test", forRcpt: "alice@example.test", date: date,
	}
	got := traceHeaders(base)
	want := "Return-Path: <sender@remote.test>\r\n" +
		"Received: from client.test ([192.0.2.7])\r\n" +
		"\tby mx.example.test with ESMTP id abc123\r\n" +
		"\tfor <alice@example.test>;\r\n" +
		"\tWed, 04 Mar 2026 05:06:07 +0100\r\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	v6 := base
	v6.remote = netip.MustParseAddr("2001:db8::1")
	v6.helo = "bad helo(x)"
	v6.forRcpt = ""
	v6.from = ""
	v6.utf8 = true
	v6.tls = &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256}
	got = traceHeaders(v6)
	want = "Return-Path: <>\r\n" +
		"Received: from [IPv6:2001:db8::1] ([IPv6:2001:db8::1]) (HELO bad helo?x?)\r\n" +
		"\t(using TLS 1.3 with cipher TLS_AES_128_GCM_SHA256)\r\n" +
		"\tby mx.example.test with UTF8SMTPS id abc123;\r\n" +
		"\tWed, 04 Mar 2026 05:06:07 +0100\r\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	mapped := base
	mapped.remote = netip.MustParseAddr("::ffff:192.0.2.9")
	if got := traceHeaders(mapped); !strings.Contains(got, "([192.0.2.9])") {
		t.Errorf("IPv4-mapped address not unmapped:\n%s", got)
	}
}

func TestIsHeloDomain(t *testing.T) {
	for h, want := range map[string]bool{
		"client.test": true, "localhost": true, "a-b.c": true, "[192.0.2.1]": true,
		"[IPv6:2001:db8::1]": true, "": false, "a..b": false, "[2001:db8::1]": false,
		"[IPv6:192.0.2.1]": false, "[300.1.1.1]": false, "a b": false, "a_b": false,
		"(x)": false, "exa\xc3\xa9.test": false,
	} {
		if got := isHeloDomain(h); got != want {
			t.Errorf("isHeloDomain(%q) = %v", h, got)
		}
	}
}

// FuzzParseAddress: normalisation never panics, its result is a fixed
// point, and it never lets through what the relay check must see.
//
//	go test -fuzz FuzzParseAddress -fuzztime 30s ./appliance/smtpd/
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"alice@example.test", "Alice@Example.TEST.", "u%r@l", "r!u@l",
		"a@[1.2.3.4]", "a@[IPv6:::1]", "jos\xc3\xa9@b\xc3\xbccher.test", "a@b@c", "@", "a@.", "a@b..",
		"\"q\"@x", "a\x00@b", "\xff@x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		a, err := parseAddress(in)
		if err != nil {
			if !errors.Is(err, errAddrSyntax) && !errors.Is(err, errAddrRelay) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		out := a.String()
		if strings.ContainsAny(a.local, "@%!") {
			t.Fatalf("%q: routing character survived in %q", in, a.local)
		}
		if strings.HasSuffix(a.domain, ".") || a.domain == "" {
			t.Fatalf("%q: domain %q", in, a.domain)
		}
		if a.local != strings.ToLower(a.local) || a.domain != strings.ToLower(a.domain) {
			t.Fatalf("%q: not lower case: %q", in, out)
		}
		for i := 0; i < len(out); i++ {
			if out[i] < 0x20 || out[i] == 0x7f {
				t.Fatalf("%q: control octet in %q", in, out)
			}
		}
		if !utf8.ValidString(out) {
			t.Fatalf("%q: invalid UTF-8 %q", in, out)
		}
		// utf8 describes what the client sent (it decides whether SMTPUTF8
		// was needed), so it may change: "İ" lower-cases to ASCII "i".
		again, err := parseAddress(out)
		if err != nil || again.local != a.local || again.domain != a.domain {
			t.Fatalf("not a fixed point: %q -> %q -> %q, %v", in, out, again.String(), err)
		}
		// The domain the relay decision sees does not depend on case or a
		// trailing dot.
		if b, err := parseAddress(strings.ToUpper(in)); err == nil && b.domain != a.domain {
			if strings.ToLower(strings.ToUpper(in)) == strings.ToLower(in) {
				t.Fatalf("%q: case changes the domain: %q vs %q", in, a.domain, b.domain)
			}
		}
	})
}

// FuzzTraceHeaders: whatever a client says in HELO, MAIL FROM and RCPT TO,
// the trace fields we prepend stay well-formed header fields: CRLF line
// ends, continuation lines that start with a tab, no control octets, and
// exactly the two fields.
//
//	go test -fuzz FuzzTraceHeaders -fuzztime 30s ./appliance/smtpd/
func FuzzTraceHeaders(f *testing.F) {
	f.Add("client.test", "sender@remote.test", "alice@example.test", true)
	f.Add("(x)\r\n", "a\"b\\c@remote", "", false)
	f.Add("[IPv6:::1]", "", "q p@example.test", true)
	f.Add("\xff\x00", "\r\nX-Evil: 1@x", "a@b\r\nc", false)
	f.Fuzz(func(t *testing.T, helo, from, rcpt string, utf8 bool) {
		h := traceHeaders(traceInfo{
			helo: helo, remote: netip.MustParseAddr("192.0.2.1"), hostname: "mx.example.test",
			id: "id", from: from, forRcpt: rcpt, utf8: utf8, date: time.Unix(0, 0).UTC(),
		})
		if !strings.HasSuffix(h, "\r\n") {
			t.Fatalf("not CRLF-terminated: %q", h)
		}
		lines := strings.Split(strings.TrimSuffix(h, "\r\n"), "\r\n")
		fields := 0
		for _, l := range lines {
			for i := 0; i < len(l); i++ {
				if c := l[i]; c < 0x20 && c != '\t' || c == 0x7f {
					t.Fatalf("control octet %#x in %q", c, l)
				}
			}
			switch {
			case strings.HasPrefix(l, "\t"):
			case strings.HasPrefix(l, "Return-Path: "), strings.HasPrefix(l, "Received: "):
				fields++
			default:
				t.Fatalf("stray line %q in\n%s", l, h)
			}
		}
		if fields != 2 || !strings.HasPrefix(h, "Return-Path: ") {
			t.Fatalf("want Return-Path then Received, got\n%s", h)
		}
	})
}
