package dnstest

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestLookups(t *testing.T) {
	long := strings.Repeat("k", 250)
	srv := Start(t,
		"example.test. 300 IN MX 20 mx2.example.test.",
		"example.test. 300 IN MX 10 mx1.example.test.",
		"mx1.example.test. 300 IN A 127.0.0.1",
		"mx2.example.test. 300 IN AAAA ::1",
		"example.test. 300 IN TXT \"v=spf1 -all\"",
		// Long enough to need TCP or EDNS0: four 250-byte strings.
		"big._domainkey.example.test. 300 IN TXT \""+long+"\" \""+long+"\" \""+long+"\" \""+long+"\"",
	)
	r := srv.Resolver()
	ctx := context.Background()
	if n := srv.Queries(); n != 0 {
		t.Errorf("Queries before any = %d", n)
	}

	mxs, err := r.LookupMX(ctx, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.Queries(); n < 1 {
		t.Errorf("Queries after LookupMX = %d", n)
	}
	var hosts []string
	for _, mx := range mxs {
		hosts = append(hosts, mx.Host)
	}
	if !slices.Equal(hosts, []string{"mx1.example.test.", "mx2.example.test."}) {
		t.Errorf("MX = %v", hosts)
	}
	addrs, err := r.LookupHost(ctx, "mx1.example.test")
	if err != nil || !slices.Equal(addrs, []string{"127.0.0.1"}) {
		t.Errorf("A = %v, %v", addrs, err)
	}
	addrs, err = r.LookupHost(ctx, "MX2.Example.Test")
	if err != nil || !slices.Equal(addrs, []string{"::1"}) {
		t.Errorf("AAAA (mixed case) = %v, %v", addrs, err)
	}
	txt, err := r.LookupTXT(ctx, "example.test")
	if err != nil || !slices.Equal(txt, []string{"v=spf1 -all"}) {
		t.Errorf("TXT = %q, %v", txt, err)
	}
	txt, err = r.LookupTXT(ctx, "big._domainkey.example.test")
	if err != nil || len(txt) != 1 || len(txt[0]) != 1000 {
		t.Errorf("big TXT = %d records, %v", len(txt), err)
	}

	// Unknown name: NXDOMAIN, which net reports as IsNotFound.
	_, err = r.LookupMX(ctx, "nowhere.example.test")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("unknown name: %v, want not found", err)
	}
	// Empty non-terminal and known name without the type: NODATA, no error
	// records (Go reports "no such host" too, but via NODATA, not NXDOMAIN).
	if rc := rcode(t, srv, "_domainkey.example.test.", dns.TypeTXT); rc != dns.RcodeSuccess {
		t.Errorf("empty non-terminal rcode = %s", dns.RcodeToString[rc])
	}
	if rc := rcode(t, srv, "mx1.example.test.", dns.TypeMX); rc != dns.RcodeSuccess {
		t.Errorf("NODATA rcode = %s", dns.RcodeToString[rc])
	}
	if rc := rcode(t, srv, "nowhere.example.test.", dns.TypeA); rc != dns.RcodeNameError {
		t.Errorf("unknown rcode = %s", dns.RcodeToString[rc])
	}

	// Add at run time.
	srv.Add("late.test. 60 IN A 127.0.0.2")
	addrs, err = r.LookupHost(ctx, "late.test")
	if err != nil || !slices.Equal(addrs, []string{"127.0.0.2"}) {
		t.Errorf("added A = %v, %v", addrs, err)
	}

	// Fail: SERVFAIL is a temporary error for net, and can be lifted.
	srv.Fail("example.test", dns.RcodeServerFailure)
	_, err = r.LookupMX(ctx, "example.test")
	if !errors.As(err, &de) || de.IsNotFound || !de.IsTemporary {
		t.Errorf("failed name: %v, want temporary", err)
	}
	if rc := rcode(t, srv, "example.test.", dns.TypeMX); rc != dns.RcodeServerFailure {
		t.Errorf("failed rcode = %s", dns.RcodeToString[rc])
	}
	srv.Fail("example.test", dns.RcodeSuccess)
	if _, err := r.LookupMX(ctx, "example.test"); err != nil {
		t.Errorf("after lifting failure: %v", err)
	}
}

// rcode asks srv directly over UDP and TCP (they must agree) and returns the rcode.
func rcode(t *testing.T, srv *Server, name string, qtype uint16) int {
	t.Helper()
	var got []int
	for _, netw := range []string{"udp", "tcp"} {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		c := &dns.Client{Net: netw}
		in, _, err := c.Exchange(m, srv.Addr())
		if err != nil {
			t.Fatalf("%s exchange %s: %v", netw, name, err)
		}
		if in.Rcode == dns.RcodeSuccess && len(in.Answer) != 0 && qtype != dns.TypeA {
			t.Errorf("%s %s: unexpected answers %v", netw, name, in.Answer)
		}
		got = append(got, in.Rcode)
	}
	if got[0] != got[1] {
		t.Errorf("%s: udp rcode %d, tcp rcode %d", name, got[0], got[1])
	}
	return got[0]
}

func TestBadRecordFails(t *testing.T) {
	ft := &fakeTB{TB: t}
	func() {
		defer func() { recover() }()
		Start(ft, "example.test. 300 IN MX notanumber mx.example.test.")
	}()
	if !ft.failed {
		t.Error("bad record accepted")
	}
}

type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Fatalf(string, ...any) { f.failed = true; panic("fatal") }
func (f *fakeTB) Helper()               {}
