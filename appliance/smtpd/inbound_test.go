package smtpd

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"postroom/appliance/mailauth"
	"postroom/appliance/mailauth/mailauthtest"
	"postroom/internal/dnstest"
)

// inboundEnv is the MX role with the checks on, against a test DNS zone.
// The client is always 127.0.0.1.
type inboundEnv struct {
	*testEnv
	dns *dnstest.Server
	key *mailauthtest.Key // signs for signed.test
}

func newInboundEnv(t testing.TB, onDNSError string, tweak func(*Options)) *inboundEnv {
	t.Helper()
	key := mailauthtest.NewKey(t, "signed.test", "s1")
	srv := dnstest.Start(t,
		`pass.test. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`fail.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`soft.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 ~all"`,
		`reject.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.reject.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`signed.test. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.signed.test. 300 IN TXT "v=DMARC1; p=reject; adkim=s"`,
		key.Record(),
	)
	v := &mailauth.Verifier{Resolver: srv.Resolver(), Hostname: "mx.example.test",
		Logger: slog.New(slog.DiscardHandler), OnDNSError: onDNSError}
	env := newEnv(t, func(o *Options) {
		o.Checker = v
		if tweak != nil {
			tweak(o)
		}
	})
	return &inboundEnv{testEnv: env, dns: srv, key: key}
}

// sendMX sends one message from 127.0.0.1 and returns the final reply.
func (e *inboundEnv) sendMX(from string, msg []byte, want string) {
	e.t.Helper()
	e.transcript(
		s("MAIL FROM:<"+from+">", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		s("DATA", "354 "),
		raw(string(msg)+".\r\n", want),
		s("QUIT", "221 "),
	)
}

// stored returns alice's only message in mailbox and checks the order of
// our fields on top: Return-Path, Authentication-Results, Received.
func (e *inboundEnv) stored(mailbox string) (authResults string, rest []byte) {
	e.t.Helper()
	msgs := readMailbox(e.t, e.st, alice, mailbox)
	if len(msgs) != 1 {
		e.t.Fatalf("%s has %d messages, want 1", mailbox, len(msgs))
	}
	hdr, _, err := mailauth.ReadHeader(bytes.NewReader(msgs[0]))
	if err != nil {
		e.t.Fatal(err)
	}
	f := mailauth.Fields(hdr)
	if len(f) < 3 || f[0].Name != "Return-Path" || f[1].Name != "Authentication-Results" || f[2].Name != "Received" {
		e.t.Fatalf("top fields are not Return-Path, Authentication-Results, Received:\n%s", hdr)
	}
	return f[1].Value, msgs[0][f[2].End:]
}

func mxMsg(from string) []byte {
	return []byte("From: <" + from + ">\r\nTo: alice@example.test\r\nSubject: inbound\r\n" +
		"Message-ID: <in@x>\r\n\r\nHello Alice.\r\n")
}

func TestInboundChecks(t *testing.T) {
	for _, tc := range []struct {
		name, from, hdrFrom string
		sign, tamper        bool
		mailbox             string
		results             []string
	}{
		{name: "spf pass", from: "a@pass.test", hdrFrom: "a@pass.test", mailbox: "INBOX",
			results: []string{"spf=pass smtp.mailfrom=a@pass.test", "dkim=none", "dmarc=none header.from=pass.test"}},
		{name: "spf fail to Junk", from: "a@fail.test", hdrFrom: "a@fail.test", mailbox: "Junk",
			results: []string{"spf=fail smtp.mailfrom=a@fail.test"}},
		{name: "spf softfail stays", from: "a@soft.test", hdrFrom: "a@soft.test", mailbox: "INBOX",
			results: []string{"spf=softfail"}},
		{name: "spf none", from: "a@unknown.test", hdrFrom: "a@unknown.test", mailbox: "INBOX",
			results: []string{"spf=none", "dmarc=none"}},
		{name: "dmarc reject to Junk", from: "a@unknown.test", hdrFrom: "ceo@reject.test", mailbox: "Junk",
			results: []string{"spf=none", "dmarc=fail", "header.from=reject.test"}},
		{name: "dkim pass", from: "a@signed.test", hdrFrom: "a@signed.test", sign: true, mailbox: "INBOX",
			results: []string{"spf=fail", "dkim=pass header.d=signed.test", "dmarc=pass"}},
		{name: "dkim fail", from: "a@signed.test", hdrFrom: "a@signed.test", sign: true, tamper: true, mailbox: "Junk",
			results: []string{"dkim=fail", "dmarc=fail"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newInboundEnv(t, "", nil)
			msg := mxMsg(tc.hdrFrom)
			if tc.sign {
				msg = e.key.Sign(t, msg)
			}
			if tc.tamper {
				msg = bytes.Replace(msg, []byte("Hello"), []byte("Hullo"), 1)
			}
			e.sendMX(tc.from, msg, "250 ")
			ar, rest := e.stored(tc.mailbox)
			if !bytes.Equal(rest, msg) {
				t.Errorf("message after our fields differs:\n%q", rest)
			}
			if !strings.HasPrefix(ar, "mx.example.test;") {
				t.Errorf("authserv-id: %q", ar)
			}
			for _, r := range tc.results {
				if !strings.Contains(ar, r) {
					t.Errorf("Authentication-Results lacks %q: %q", r, ar)
				}
			}
			other := "INBOX"
			if tc.mailbox == "INBOX" {
				other = "Junk"
			}
			if n := len(readMailbox(t, e.st, alice, other)); n != 0 {
				t.Errorf("%s has %d messages", other, n)
			}
			if tc.mailbox == "Junk" && !strings.Contains(e.logs.String(), "junk=true") {
				t.Errorf("Junk not logged:\n%s", e.logs.String())
			}
		})
	}
}

// TestInboundDNSFailure: SERVFAIL is a 451 4.4.3 (the sender retries) or,
// by policy, an accepted message marked temperror. Never lost.
func TestInboundDNSFailure(t *testing.T) {
	e := newInboundEnv(t, mailauth.DNSErrorTempFail, nil)
	e.dns.Fail("pass.test", dns.RcodeServerFailure)
	e.sendMX("a@pass.test", mxMsg("a@pass.test"), "451 4.4.3 ")
	if n := len(e.inbox(alice)); n != 0 {
		t.Fatalf("stored despite 451: %d", n)
	}
	e.dns.Fail("pass.test", dns.RcodeSuccess)
	e.sendMX("a@pass.test", mxMsg("a@pass.test"), "250 ")
	ar, _ := e.stored("INBOX")
	if !strings.Contains(ar, "spf=pass") {
		t.Errorf("retry after the DNS came back: %q", ar)
	}

	acc := newInboundEnv(t, mailauth.DNSErrorAccept, nil)
	acc.dns.Fail("_dmarc.reject.test", dns.RcodeServerFailure)
	acc.sendMX("a@pass.test", mxMsg("x@reject.test"), "250 ")
	ar, _ = acc.stored("INBOX")
	if !strings.Contains(ar, "dmarc=temperror") {
		t.Errorf("accept policy: %q", ar)
	}
}

// TestInboundForgedResults: an Authentication-Results field naming our
// host is removed (RFC 8601 5); another host's stays.
func TestInboundForgedResults(t *testing.T) {
	e := newInboundEnv(t, "", nil)
	forged := "Authentication-Results: MX.example.test;\r\n\tspf=pass smtp.mailfrom=ceo@reject.test;\r\n\tdmarc=pass\r\n"
	theirs := "Authentication-Results: relay.other.test; spf=pass smtp.mailfrom=a@pass.test\r\n"
	msg := []byte(forged + theirs + "From: a@pass.test\r\nSubject: forged\r\n" + forged + "\r\nbody\r\n" + forged)
	e.sendMX("a@pass.test", msg, "250 ")
	ar, rest := e.stored("INBOX")
	want := theirs + "From: a@pass.test\r\nSubject: forged\r\n\r\nbody\r\n" + forged
	if string(rest) != want {
		t.Errorf("after our fields:\n got %q\nwant %q", rest, want)
	}
	if !strings.Contains(ar, "spf=pass smtp.mailfrom=a@pass.test") {
		t.Errorf("our results: %q", ar)
	}
	if !strings.Contains(e.logs.String(), "removed_auth_results=2") {
		t.Errorf("removal not logged")
	}
}

// TestInboundChecksBDAT: the checked path takes CHUNKING too, and a
// message with no header section at all.
func TestInboundChecksBDAT(t *testing.T) {
	e := newInboundEnv(t, "", nil)
	e.transcript(
		s("MAIL FROM:<a@pass.test>", "250 "),
		s("RCPT TO:<alice@example.test>", "250 "),
		raw("BDAT 5\r\nhello", "250 "),
		raw("BDAT 7 LAST\r\n world!", "250 "),
	)
	_, rest := e.stored("INBOX")
	if string(rest) != "hello world!" {
		t.Errorf("%q", rest)
	}
}

// TestWithoutCuts: the forged fields cut out of a staged message leave
// exactly the bytes around them.
func TestWithoutCuts(t *testing.T) {
	var msg bytes.Buffer
	lines(&msg, 3<<20)
	src := msg.Bytes()
	for _, c := range []struct {
		cuts [][2]int64
		want []byte
	}{
		{nil, src},
		{[][2]int64{{0, 10}, {100, 200}}, append(append([]byte{}, src[10:100]...), src[200:]...)},
		{[][2]int64{{int64(len(src)) - 5, int64(len(src))}}, src[:len(src)-5]},
	} {
		got, err := io.ReadAll(without(bytes.NewReader(src), int64(len(src)), c.cuts))
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("cuts %v: %d bytes, %v; want %d", c.cuts, len(got), err, len(c.want))
		}
	}
}
