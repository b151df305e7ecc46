package mailauth

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
	"github.com/miekg/dns"

	"postroom/appliance/mailauth/mailauthtest"
	"postroom/internal/dnstest"
)

var (
	loopback = netip.MustParseAddr("127.0.0.1")
	other    = netip.MustParseAddr("192.0.2.7")
)

func msgFrom(from string) []byte {
	return []byte("From: Sender <" + from + ">\r\nTo: <alice@example.test>\r\nSubject: test\r\n" +
		"Message-ID: <1@x>\r\n\r\nHello.\r\n")
}

// zone publishes: good.test (SPF allows 127.0.0.1, DMARC reject, DKIM key),
// soft.test (~all), none.test (no records), strict.test (-all for another
// address, DMARC reject), quar.test (org policy sp=quarantine for sub.quar.test),
// relaxed.test (DMARC p=none).
func zone(t *testing.T) (*dnstest.Server, *mailauthtest.Key) {
	key := mailauthtest.NewKey(t, "good.test", "sel")
	srv := dnstest.Start(t,
		`good.test. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`_dmarc.good.test. 300 IN TXT "v=DMARC1; p=reject"`,
		key.Record(),
		`soft.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 ~all"`,
		`none.test. 300 IN A 192.0.2.9`,
		`strict.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.strict.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`quar.test. 300 IN TXT "v=spf1 -all"`,
		`sub.quar.test. 300 IN TXT "v=spf1 -all"`,
		`_dmarc.quar.test. 300 IN TXT "v=DMARC1; p=none; sp=quarantine"`,
		`relaxed.test. 300 IN TXT "v=spf1 -all"`,
		`_dmarc.relaxed.test. 300 IN TXT "v=DMARC1; p=none"`,
	)
	return srv, key
}

func verifier(srv *dnstest.Server) *Verifier {
	return &Verifier{Resolver: srv.Resolver(), Hostname: "mx.example.test", Logger: slog.New(slog.DiscardHandler)}
}

func TestVerify(t *testing.T) {
	srv, key := zone(t)
	otherKey := mailauthtest.NewKey(t, "good.test", "other") // not published
	v := verifier(srv)
	signed := key.Sign(t, msgFrom("a@good.test"))
	tampered := bytes.Replace(signed, []byte("Hello."), []byte("Hellp."), 1)

	for _, tc := range []struct {
		name              string
		ip                netip.Addr
		helo, from        string
		msg               []byte
		spf, dmarc        string
		dkim              []authres.ResultValue
		junk, tempfail    bool
		headerHas, reason string
	}{
		{name: "spf pass", ip: loopback, from: "a@good.test", msg: msgFrom("a@good.test"),
			spf: "pass", dmarc: "pass", headerHas: "spf=pass smtp.mailfrom=a@good.test"},
		{name: "spf fail, dmarc reject", ip: other, from: "a@good.test", msg: msgFrom("a@good.test"),
			spf: "fail", dmarc: "fail", junk: true, reason: "SPF fail for good.test; DMARC reject policy of good.test"},
		{name: "spf softfail", ip: other, from: "b@soft.test", msg: msgFrom("b@soft.test"),
			spf: "softfail", dmarc: "none"},
		{name: "spf none", ip: loopback, from: "c@none.test", msg: msgFrom("c@none.test"),
			spf: "none", dmarc: "none", headerHas: "dkim=none"},
		{name: "unknown domain", ip: loopback, from: "c@nowhere.test", msg: msgFrom("c@nowhere.test"),
			spf: "none", dmarc: "none"},
		{name: "null sender uses helo", ip: loopback, helo: "good.test", from: "", msg: msgFrom("mailer-daemon@good.test"),
			spf: "pass", dmarc: "pass", headerHas: "spf=pass smtp.helo=good.test"},
		{name: "helo literal, null sender", ip: loopback, helo: "[127.0.0.1]", from: "", msg: msgFrom("x@none.test"),
			spf: "none", dmarc: "none"},
		{name: "dkim pass rescues spf fail", ip: other, from: "a@good.test", msg: signed,
			spf: "fail", dmarc: "pass", dkim: []authres.ResultValue{"pass"}, headerHas: "dkim=pass header.d=good.test"},
		{name: "dkim fail (body changed)", ip: other, from: "a@good.test", msg: tampered,
			spf: "fail", dmarc: "fail", dkim: []authres.ResultValue{"fail"}, junk: true},
		{name: "dkim key not published", ip: loopback, from: "a@good.test", msg: otherKey.Sign(t, msgFrom("a@good.test")),
			spf: "pass", dmarc: "pass", dkim: []authres.ResultValue{"permerror"}},
		{name: "spoofed From, envelope elsewhere", ip: loopback, from: "c@none.test", msg: msgFrom("boss@strict.test"),
			spf: "none", dmarc: "fail", junk: true, reason: "DMARC reject policy of strict.test"},
		{name: "subdomain policy quarantine", ip: loopback, from: "c@none.test", msg: msgFrom("x@sub.quar.test"),
			spf: "none", dmarc: "fail", junk: true, reason: "DMARC quarantine policy of sub.quar.test"},
		{name: "p=none does not junk", ip: loopback, from: "c@none.test", msg: msgFrom("x@relaxed.test"),
			spf: "none", dmarc: "fail"},
		{name: "relaxed alignment: envelope subdomain", ip: other, from: "x@sub.quar.test", msg: msgFrom("y@quar.test"),
			spf: "fail", dmarc: "fail", junk: true},
		{name: "header injection via helo", ip: loopback, helo: "evil\r\nX-Injected: 1", from: "", msg: msgFrom("x@none.test"),
			spf: "none", dmarc: "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			helo := tc.helo
			if helo == "" {
				helo = "client.test"
			}
			vd, err := v.Verify(context.Background(), Input{RemoteIP: tc.ip, HELO: helo, MailFrom: tc.from}, bytes.NewReader(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			if string(vd.SPF) != tc.spf || string(vd.DMARC.Result) != tc.dmarc || vd.Junk != tc.junk || vd.TempFail != tc.tempfail {
				t.Errorf("spf=%s dmarc=%s junk=%v tempfail=%v (reason %q), want spf=%s dmarc=%s junk=%v",
					vd.SPF, vd.DMARC.Result, vd.Junk, vd.TempFail, vd.Reason, tc.spf, tc.dmarc, tc.junk)
			}
			var dk []authres.ResultValue
			for _, d := range vd.DKIM {
				dk = append(dk, d.Result)
			}
			if len(dk) != len(tc.dkim) || (len(dk) > 0 && dk[0] != tc.dkim[0]) {
				t.Errorf("dkim %v, want %v", dk, tc.dkim)
			}
			if tc.reason != "" && vd.Reason != tc.reason {
				t.Errorf("reason %q, want %q", vd.Reason, tc.reason)
			}
			checkHeader(t, vd.Header)
			if tc.headerHas != "" && !strings.Contains(vd.Header, tc.headerHas) {
				t.Errorf("header lacks %q:\n%s", tc.headerHas, vd.Header)
			}
		})
	}
}

// checkHeader: one field, ours, parseable, no stray line breaks.
func checkHeader(t *testing.T, h string) {
	t.Helper()
	if !strings.HasPrefix(h, "Authentication-Results: mx.example.test;\r\n\t") || !strings.HasSuffix(h, "\r\n") {
		t.Fatalf("header %q", h)
	}
	f := Fields([]byte(h + "\r\n"))
	if len(f) != 1 {
		t.Fatalf("header is %d fields: %q", len(f), h)
	}
	id, results, err := authres.Parse(f[0].Value)
	if err != nil || id != "mx.example.test" || len(results) < 3 {
		t.Fatalf("authres.Parse(%q) = %q, %d results, %v", f[0].Value, id, len(results), err)
	}
}

// TestDNSFailure: SERVFAIL never loses mail: a temporary refusal, or an
// accepted message marked temperror.
func TestDNSFailure(t *testing.T) {
	srv, _ := zone(t)
	for _, name := range []string{"good.test", "_dmarc.good.test"} {
		t.Run(name, func(t *testing.T) {
			srv.Fail(name, dns.RcodeServerFailure)
			defer srv.Fail(name, dns.RcodeSuccess)
			in := Input{RemoteIP: loopback, HELO: "client.test", MailFrom: "a@good.test"}

			v := verifier(srv)
			vd, err := v.Verify(context.Background(), in, bytes.NewReader(msgFrom("a@good.test")))
			if err != nil {
				t.Fatal(err)
			}
			if !vd.TempFail || vd.Junk || !strings.Contains(vd.Reason, "DNS lookup failed") {
				t.Errorf("tempfail policy: %+v", vd)
			}
			if !strings.Contains(vd.Header, "=temperror") {
				t.Errorf("header without temperror:\n%s", vd.Header)
			}

			v.OnDNSError = DNSErrorAccept
			vd, err = v.Verify(context.Background(), in, bytes.NewReader(msgFrom("a@good.test")))
			if err != nil {
				t.Fatal(err)
			}
			if vd.TempFail || vd.Junk || !strings.Contains(vd.Header, "=temperror") {
				t.Errorf("accept policy: %+v", vd)
			}
		})
	}
}

// TestDKIMTempFail: a SERVFAIL for the key is temperror, not fail.
func TestDKIMTempFail(t *testing.T) {
	srv, key := zone(t)
	srv.Fail("sel._domainkey.good.test", dns.RcodeServerFailure)
	v := verifier(srv)
	vd, err := v.Verify(context.Background(), Input{RemoteIP: loopback, HELO: "c.test", MailFrom: "a@good.test"},
		bytes.NewReader(key.Sign(t, msgFrom("a@good.test"))))
	if err != nil {
		t.Fatal(err)
	}
	if len(vd.DKIM) != 1 || vd.DKIM[0].Result != authres.ResultTempError || !vd.TempFail {
		t.Errorf("%+v", vd)
	}
}

// TestNoHeader: a message that is all header, or has no end to its
// header, is still verified (and never an error of ours).
func TestOddMessages(t *testing.T) {
	srv, _ := zone(t)
	v := verifier(srv)
	in := Input{RemoteIP: loopback, HELO: "c.test", MailFrom: "a@good.test"}
	for _, msg := range []string{
		"",
		"Subject: only a header\r\n",
		"no colon here\r\n\r\nbody",
		"From: a@good.test\nSubject: bare LF\n\nbody\n",
		"From: " + strings.Repeat("x", MaxHeader+10) + "\r\n\r\n",
		"From: \xe9t\xe9 <a@good.test>\r\n\r\nLatin-1 display name\r\n",
		"From: a@good.test\r\nFrom: b@strict.test\r\n\r\ntwo From fields\r\n",
		"From: <a@good.test\r\n\r\nunparseable\r\n",
	} {
		vd, err := v.Verify(context.Background(), in, strings.NewReader(msg))
		if err != nil {
			t.Errorf("%q: %v", trunc(msg), err)
			continue
		}
		checkHeader(t, vd.Header)
	}
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func TestFromHeaderDomain(t *testing.T) {
	for hdr, want := range map[string]string{
		"From: a@Example.TEST\r\n\r\n":                        "example.test",
		"From: \"x\" <a@example.test.>\r\n\r\n":               "example.test",
		"From: a@x.test, b@x.test\r\n\r\n":                    "x.test",
		"From: a@x.test, b@y.test\r\n\r\n":                    "",
		"From: a@x.test\r\nfrom: b@x.test\r\n\r\n":            "",
		"Subject: none\r\n\r\n":                               "",
		"From: <broken@bad.test\r\n\r\n":                      "bad.test",
		"From: =?utf-8?q?J=C3=B6rg?= <j@umlaut.test>\r\n\r\n": "umlaut.test",
		"From: Name\r\n <folded@fold.test>\r\n\r\n":           "fold.test",
	} {
		if got := fromHeaderDomain([]byte(hdr)); got != want {
			t.Errorf("%q: %q, want %q", hdr, got, want)
		}
	}
}

func TestClaimsHost(t *testing.T) {
	for v, want := range map[string]bool{
		"mx.example.test; spf=pass":                          true,
		"MX.Example.Test.; dkim=pass":                        true,
		"mx.example.test 1; none":                            true,
		"(comment) mx.example.test; spf=pass":                true,
		"mx.example.test":                                    true,
		"other.test; spf=pass smtp.mailfrom=mx.example.test": false,
		"mx.example.test.evil; spf=pass":                     false,
		"":                                                   false,
	} {
		if got := ClaimsHost(v, "mx.example.test"); got != want {
			t.Errorf("ClaimsHost(%q) = %v", v, got)
		}
	}
}

func TestReadHeaderAndFields(t *testing.T) {
	msg := "A: 1\r\nB: two\r\n  folded\r\nnot a field\r\nC:\r\n\r\nbody: not a header\r\n"
	hdr, rest, err := ReadHeader(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rest)
	if string(hdr)+string(body) != msg || string(body) != "body: not a header\r\n" {
		t.Fatalf("split %q | %q", hdr, body)
	}
	f := Fields(hdr)
	if len(f) != 3 || f[1].Value != "two  folded" || msg[f[1].Start:f[1].End] != "B: two\r\n  folded\r\n" || f[2].Name != "C" {
		t.Fatalf("fields %+v", f)
	}
	long := "X: " + strings.Repeat("y", MaxHeader+1)
	hdr, rest, err = ReadHeader(strings.NewReader(long + "\r\n\r\nbody"))
	if err != ErrNoHeader {
		t.Fatalf("over-long header: %v", err)
	}
	body, _ = io.ReadAll(rest)
	if string(hdr)+string(body) != long+"\r\n\r\nbody" {
		t.Fatal("over-long header: bytes lost")
	}
}

func FuzzFields(f *testing.F) {
	for _, s := range []string{"A: 1\r\n\r\n", "From: a@b\r\n c\r\n\r\nx", ":\r\n", "\r\n", "a\nb: c\n\n",
		"Authentication-Results: (x) host; spf=pass\r\n\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		hdr, rest, err := ReadHeader(bytes.NewReader(b))
		tail, _ := io.ReadAll(rest)
		if !bytes.Equal(append(append([]byte{}, hdr...), tail...), b) {
			t.Fatalf("ReadHeader lost bytes (err %v)", err)
		}
		prev := 0
		for _, fl := range Fields(hdr) {
			if fl.Start < prev || fl.End <= fl.Start || fl.End > len(hdr) {
				t.Fatalf("bad offsets %+v", fl)
			}
			prev = fl.End
			ClaimsHost(fl.Value, "mx.example.test")
			Addresses(fl.Value)
		}
		fromHeaderDomain(hdr)
	})
}
