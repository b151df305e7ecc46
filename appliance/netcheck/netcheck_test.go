package netcheck

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"postroom/appliance/config"
	"postroom/appliance/dkim"
	"postroom/appliance/dnsrecords"
	"postroom/internal/dnstest"
	"postroom/internal/testutil"
)

const host = "mail.example.org"

// testZones makes the records of domains for a box "mail.example.org"
// with POP3 on port 110 off, smarthost sh ("" none).
func testZones(t testing.TB, sh string, domains ...string) []dnsrecords.Zone {
	t.Helper()
	cfg := config.Default()
	cfg.Hostname = host
	cfg.Listen.POP3 = ""
	cfg.Queue.Smarthost.Host = sh
	keys := dkim.New(t.TempDir())
	var zones []dnsrecords.Zone
	for _, d := range domains {
		dk, err := keys.Domain(d)
		if err != nil {
			t.Fatal(err)
		}
		z, err := dnsrecords.For(cfg, d, dk)
		if err != nil {
			t.Fatal(err)
		}
		zones = append(zones, z)
	}
	return zones
}

// The host's address: the tests' SMTP servers listen there. Not 127.0.0.1,
// whose reverse lookup /etc/hosts answers before DNS is asked.
const hostIP = "127.0.0.2"

// published is the zone text of every record of zones, the host's address
// and its reverse DNS.
func published(zones []dnsrecords.Zone) []string {
	out := []string{
		host + ". 300 IN A " + hostIP,
		"2.0.0.127.in-addr.arpa. 300 IN PTR " + host + ".",
		`example.org. 300 IN TXT "google-site-verification=abc"`,
	}
	for _, z := range zones {
		for _, r := range z.Records {
			out = append(out, r.String())
		}
	}
	return out
}

// without returns zone lines without the records of name and type.
func without(lines []string, name, typ string) []string {
	return slices.DeleteFunc(slices.Clone(lines), func(l string) bool {
		rr, err := dns.NewRR(l)
		return err == nil && rr.Header().Name == name && dns.TypeToString[rr.Header().Rrtype] == typ
	})
}

// env is a box's surroundings: a DNS server, the box's own SMTP server
// greeting as host (where the MX leads), and a probe server "out there".
type env struct {
	dns       *dnstest.Server
	smtpPort  int
	probeAddr string
}

func newEnv(t testing.TB, lines []string) *env {
	t.Helper()
	return &env{
		dns:       dnstest.Start(t, lines...),
		smtpPort:  startSMTP(t, host),
		probeAddr: hostIP + ":" + strconv.Itoa(startSMTP(t, "mx.probe.test")),
	}
}

func (e *env) options(zones []dnsrecords.Zone) Options {
	return Options{
		Resolver: e.dns.Resolver(),
		Zones:    func(context.Context) ([]dnsrecords.Zone, error) { return zones, nil },
		Probe:    e.probeAddr,
		SMTPPort: e.smtpPort,
		Timeout:  30 * time.Second,
		Now:      testutil.NewClock(time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)).Now,
	}
}

func check(t *testing.T, o Options) Report {
	t.Helper()
	o.Logger = testutil.Logger(t)
	return New(o).Check(context.Background())
}

// items returns every item of the report by ID.
func items(r Report) map[string]Item {
	out := map[string]Item{}
	for _, d := range r.Domains {
		for _, it := range d.Items {
			out[it.ID] = it
		}
	}
	for _, it := range r.Box {
		out[it.ID] = it
	}
	return out
}

// notOK returns the items that are not OK, by ID.
func notOK(r Report) map[string]Item {
	out := map[string]Item{}
	for id, it := range items(r) {
		if it.State != OK {
			out[id] = it
		}
	}
	return out
}

func TestAllCorrect(t *testing.T) {
	zones := testZones(t, "", "example.org", "example.net")
	e := newEnv(t, published(zones))
	r := check(t, e.options(zones))
	if bad := notOK(r); len(bad) > 0 {
		t.Fatalf("not OK: %+v", bad)
	}
	if len(r.Domains) != 2 || len(r.Domains[0].Items) != 13 || r.Domains[1].Name != "example.net" {
		t.Errorf("domains: %+v", r.Domains)
	}
	want := []string{"host-address", "ptr-127-0-0-2", "port25-out", "mx-reach-127-0-0-2"}
	var got []string
	for _, it := range r.Box {
		got = append(got, it.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("box items %q, want %q", got, want)
	}
	it := items(r)
	for id, words := range map[string]string{
		"mx-reach-127-0-0-2": "Mail for your domains reaches this box: 127.0.0.2 answers on port 25 as mail.example.org.",
		"port25-out":         "The box can reach other mail servers on port 25 (127.0.0.2 answered).",
		"ptr-127-0-0-2":      "Correct: 127.0.0.2 is mail.example.org.",
	} {
		if it[id].Words != words {
			t.Errorf("%s: %q, want %q", id, it[id].Words, words)
		}
	}
	if p := it["ptr-127-0-0-2"].Record; p == nil || p.Name != "2.0.0.127.in-addr.arpa." || p.Value != host+"." {
		t.Errorf("PTR record %+v", p)
	}
	if st := r.Status(); len(st.Problems)+len(st.Notes) > 0 || !st.Checked.Equal(r.Checked) {
		t.Errorf("status %+v", st)
	}
}

// TestEachMissing: with one record removed, that record alone is missing,
// with words and a fix; only the MX and SPF are problems for the status.
func TestEachMissing(t *testing.T) {
	zones := testZones(t, "", "example.org")
	all := published(zones)
	for _, rec := range zones[0].Records {
		if rec.Value == "0 0 0 ." {
			continue // a service that is off needs no record
		}
		t.Run(rec.Name+" "+rec.Type, func(t *testing.T) {
			e := newEnv(t, slices.DeleteFunc(slices.Clone(all), func(l string) bool { return l == rec.String() }))
			r := check(t, e.options(zones))
			bad := notOK(r)
			id := itemID("example.org", rec)
			it, ok := bad[id]
			if len(bad) != 1 || !ok || it.State != Missing || it.Words == "" || !strings.Contains(it.Fix, "name "+rec.Name) {
				t.Fatalf("not OK: %+v; want only %s missing", bad, id)
			}
			st := r.Status()
			switch rec.Kind {
			case dnsrecords.KindMX:
				if !slices.Equal(st.Problems, []string{"The MX record of example.org is missing: its mail cannot arrive. The DNS page says what to add."}) {
					t.Errorf("status %+v", st)
				}
			case dnsrecords.KindSPF:
				if !slices.Equal(st.Problems, []string{"example.org has no SPF record: its mail may be taken for spam. The DNS page says what to add."}) {
					t.Errorf("status %+v", st)
				}
			default:
				if len(st.Problems) != 0 || !slices.Equal(st.Notes, []string{"example.org: 1 more DNS record to fix (the DNS page says which)."}) {
					t.Errorf("status %+v", st)
				}
			}
		})
	}
	t.Run("host address", func(t *testing.T) {
		e := newEnv(t, without(all, host+".", "A"))
		bad := notOK(check(t, e.options(zones)))
		if bad["host-address"].State != Missing || bad["mx-reach"].State != Off || len(bad) != 2 {
			t.Errorf("not OK: %+v", bad)
		}
	})
	t.Run("reverse DNS", func(t *testing.T) {
		e := newEnv(t, without(all, "2.0.0.127.in-addr.arpa.", "PTR"))
		bad := notOK(check(t, e.options(zones)))
		it := bad["ptr-127-0-0-2"]
		if len(bad) != 1 || it.State != Missing || !strings.Contains(it.Fix, "Ask your internet provider to set the reverse DNS (PTR) of 127.0.0.2 to mail.example.org") {
			t.Errorf("not OK: %+v", bad)
		}
	})
}

// TestWrong: a record that says something else is wrong, in words that
// say what was found and what to change it to.
func TestWrong(t *testing.T) {
	zones := testZones(t, "", "example.org")
	all := published(zones)
	other := testZones(t, "", "example.org")[0].Records[3] // another RSA key
	for _, tc := range []struct {
		name    string
		lines   []string
		id      string
		words   string // the item's Words start so
		fix     string // in Fix
		problem string // the status problem; "" none
	}{
		{name: "MX elsewhere", lines: append(without(all, "example.org.", "MX"), "example.org. 300 IN MX 10 mail.oldprovider.com."),
			id: "example.org-mx", words: "Your MX record points to mail.oldprovider.com, not to this box: mail for example.org goes there.",
			fix: "Change it to mail.example.org (MX, preference 10)", problem: "The MX record of example.org points to mail.oldprovider.com, not to this box. The DNS page says what to change."},
		{name: "SPF of the old provider", lines: append(without(all, "example.org.", "TXT"), `example.org. 300 IN TXT "v=spf1 include:old.test -all"`),
			id: "example.org-spf", words: "Your SPF record says “v=spf1 include:old.test -all”: it does not name this box as a sender, so your mail may be taken for forged mail.",
			fix: "to the value shown", problem: "The SPF record of example.org is wrong: its mail may be taken for spam. The DNS page says what to change."},
		{name: "two SPF records", lines: append(slices.Clone(all), `example.org. 300 IN TXT "v=spf1 a -all"`),
			id: "example.org-spf", words: "example.org has 2 SPF records (“v=spf1 mx -all”, “v=spf1 a -all”): receivers treat that as an error and trust none of them.",
			fix: "delete the others", problem: "The SPF record of example.org is wrong: its mail may be taken for spam. The DNS page says what to change."},
		{name: "DKIM of another key", lines: append(without(all, "pr-rsa._domainkey.example.org.", "TXT"), other.String()),
			id: "example.org-dkim-pr-rsa", words: "A different key is published under this name", fix: "Replace it"},
		{name: "DMARC none", lines: append(without(all, "_dmarc.example.org.", "TXT"), `_dmarc.example.org. 300 IN TXT "v=DMARC1; p=none"`),
			id: "example.org-dmarc", words: "Your DMARC record says “v=DMARC1; p=none”, with another policy than the box suggests.", fix: "p=none only watches"},
		{name: "autoconfig elsewhere", lines: append(without(all, "autoconfig.example.org.", "CNAME"), "autoconfig.example.org. 300 IN CNAME www.example.org.", "www.example.org. 300 IN A 192.0.2.80"),
			id: "example.org-client-autoconfig", words: "autoconfig.example.org. points to “www.example.org.”, not to this box: mail programs get the wrong settings.", fix: "Make it a CNAME to mail.example.org."},
		{name: "IMAP on another port", lines: append(without(all, "_imaps._tcp.example.org.", "SRV"), "_imaps._tcp.example.org. 300 IN SRV 0 1 994 mail.example.org."),
			id: "example.org-srv-imaps", words: "DNS says “0 1 994 mail.example.org.”: mail programs would look for the server in the wrong place.", fix: "to the value shown"},
		{name: "an off service published", lines: append(without(all, "_pop3._tcp.example.org.", "SRV"), "_pop3._tcp.example.org. 300 IN SRV 0 1 110 mail.example.org."),
			id: "example.org-srv-pop3", words: "This box does not offer this service, but DNS names “0 1 110 mail.example.org.”", fix: "Delete the record"},
		{name: "reverse DNS of the line", lines: append(without(all, "2.0.0.127.in-addr.arpa.", "PTR"), "2.0.0.127.in-addr.arpa. 300 IN PTR dsl-1.provider.test."),
			id: "ptr-127-0-0-2", words: "The reverse DNS of 127.0.0.2 names “dsl-1.provider.test.”, not mail.example.org: some mail servers refuse mail when the names do not match.",
			fix: "Ask your internet provider"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := check(t, newEnv(t, tc.lines).options(zones))
			bad := notOK(r)
			it, ok := bad[tc.id]
			if len(bad) != 1 || !ok || it.State != Wrong || !strings.HasPrefix(it.Words, tc.words) || !strings.Contains(it.Fix, tc.fix) {
				t.Fatalf("not OK: %+v\nwant only %s wrong: %q, fix with %q", bad, tc.id, tc.words, tc.fix)
			}
			st := r.Status()
			if tc.problem != "" && !slices.Equal(st.Problems, []string{tc.problem}) || tc.problem == "" && len(st.Problems) > 0 {
				t.Errorf("status problems %q, want %q", st.Problems, tc.problem)
			}
		})
	}
	t.Run("private address", func(t *testing.T) {
		lines := append(without(all, host+".", "A"), host+". 300 IN A 192.168.1.20")
		bad := notOK(check(t, newEnv(t, lines).options(zones)))
		it := bad["host-address"]
		if it.State != Wrong || it.Words != "mail.example.org points to 192.168.1.20, an address inside a private network: the internet cannot reach it." {
			t.Errorf("not OK: %+v", bad)
		}
	})
}

// TestConnectivity: port 25 outwards and inwards, against listeners on
// 127.0.0.1 that greet, greet as another server, refuse, or hang.
func TestConnectivity(t *testing.T) {
	zones := testZones(t, "", "example.org")
	smarthosted := testZones(t, "relay.provider.test", "example.org")
	refused := closedPort(t)
	hang := hangingPort(t)
	other := startSMTP(t, "mx.elsewhere.test")
	for _, tc := range []struct {
		name    string
		zones   []dnsrecords.Zone
		change  func(o *Options)
		id      string
		state   State
		words   string
		fixLink string
	}{
		{name: "probe refused", change: func(o *Options) { o.Probe = hostIP + ":" + strconv.Itoa(refused) }, id: "port25-out", state: Wrong,
			words: "The box cannot reach other mail servers on port 25 (127.0.0.2: connection refused): your internet provider probably blocks it, so outgoing mail cannot leave.", fixLink: "/settings#smarthost"},
		{name: "probe hangs", change: func(o *Options) { o.Probe = hostIP + ":" + strconv.Itoa(hang); o.Timeout = time.Second }, id: "port25-out", state: Wrong,
			words: "The box cannot reach other mail servers on port 25 (127.0.0.2: no answer in time): your internet provider probably blocks it, so outgoing mail cannot leave.", fixLink: "/settings#smarthost"},
		{name: "probe refused, smarthost", zones: smarthosted, change: func(o *Options) { o.Probe = hostIP + ":" + strconv.Itoa(refused) }, id: "port25-out", state: OK,
			words: "Port 25 outwards seems closed (connection refused), but outgoing mail leaves through the smarthost relay.provider.test: nothing to do."},
		{name: "no probe", change: func(o *Options) { o.Probe, o.ProbeOff = "", "development mode never reaches the internet" }, id: "port25-out", state: Off,
			words: "Not checked: development mode never reaches the internet."},
		{name: "MX leads to another server", change: func(o *Options) { o.SMTPPort = other }, id: "mx-reach-127-0-0-2", state: Wrong,
			words: "127.0.0.2 answers on port 25, but as mx.elsewhere.test, not as this box: mail goes to another server."},
		{name: "MX refused", change: func(o *Options) { o.SMTPPort = refused }, id: "mx-reach-127-0-0-2", state: Wrong,
			words: "Nothing answered on port 25 at 127.0.0.2 (connection refused): mail from outside cannot reach the box."},
		{name: "MX hangs", change: func(o *Options) { o.SMTPPort = hang; o.Timeout = time.Second }, id: "mx-reach-127-0-0-2", state: Wrong,
			words: "Nothing answered on port 25 at 127.0.0.2 (no answer in time): mail from outside cannot reach the box."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := zones
			if tc.zones != nil {
				z = tc.zones
			}
			lines := published(z)
			o := newEnv(t, lines).options(z)
			tc.change(&o)
			r := check(t, o)
			all := items(r)
			for id, it := range notOK(r) {
				if id != tc.id && !strings.HasPrefix(id, "example.org-spf") { // the smarthost changes SPF
					t.Errorf("also not OK: %+v", it)
				}
			}
			it := all[tc.id]
			if it.State != tc.state || it.Words != tc.words || it.FixLink != tc.fixLink || (tc.state == Wrong) != (it.Fix != "") {
				t.Errorf("%s: %+v\nwant %s %q", tc.id, it, tc.state, tc.words)
			}
			if st := r.Status(); tc.state == Wrong && !slices.Contains(st.Notes, tc.words) {
				t.Errorf("status notes %q lack %q", st.Notes, tc.words)
			}
		})
	}
}

// startSMTP runs a real SMTP server (go-smtp) on hostIP that greets as
// name, and returns its port.
func startSMTP(t testing.TB, name string) int {
	t.Helper()
	srv := smtp.NewServer(refuseAll{})
	srv.Domain = name
	ln, err := net.Listen("tcp", hostIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// refuseAll is a backend that takes no mail: the checks send none.
type refuseAll struct{}

func (refuseAll) NewSession(*smtp.Conn) (smtp.Session, error) {
	return nil, &smtp.SMTPError{Code: 554, Message: "no mail here"}
}

// closedPort returns a port on hostIP where nothing listens.
func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", hostIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// hangingPort returns a port on hostIP that accepts and never says a
// word.
func hangingPort(t *testing.T) int {
	ln, err := net.Listen("tcp", hostIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestRun: a check at start, then one per tick and per Recheck, each
// handed to OnReport; a fixed record shows at the next check.
func TestRun(t *testing.T) {
	zones := testZones(t, "", "example.org")
	lines := append(without(published(zones), "example.org.", "MX"), "example.org. 300 IN MX 10 mail.oldprovider.com.")
	e := newEnv(t, lines)
	o := e.options(zones)
	o.Logger = testutil.Logger(t)
	tick := make(chan time.Time)
	o.Tick = tick
	reports := make(chan Report, 10)
	o.OnReport = func(r Report) { reports <- r }
	c := New(o)
	if r := c.Report(); !r.Checked.IsZero() || r.Running {
		t.Fatalf("before Run: %+v", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	next := func() Report {
		t.Helper()
		select {
		case r := <-reports:
			return r
		case <-time.After(time.Minute):
			t.Fatal("no report")
			return Report{}
		}
	}
	if r := next(); len(r.Status().Problems) != 1 || r.Running {
		t.Fatalf("first check: %+v", r.Status())
	}
	e.dns.Add("example.org. 300 IN MX 10 mail.example.org.")
	tick <- time.Time{}
	if r := next(); len(r.Status().Problems) != 0 {
		t.Fatalf("after the fix: %+v", r.Status())
	}
	if !c.Recheck() {
		t.Error("Recheck refused while nothing ran")
	}
	next()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r := c.Report(); r.Checked.IsZero() || len(r.Domains) != 1 {
		t.Errorf("last report %+v", r)
	}
}

// TestRunRetriesUnknown: a check that got no answer (a box that started
// before its line) is made again after Retry, not Every.
func TestRunRetriesUnknown(t *testing.T) {
	zones := testZones(t, "", "example.org")
	e := newEnv(t, published(zones))
	e.dns.Fail("_dmarc.example.org.", dns.RcodeServerFailure)
	o := e.options(zones)
	o.Logger = testutil.Logger(t)
	o.Tick = make(chan time.Time) // never
	asked := make(chan time.Duration, 1)
	fire := make(chan time.Time)
	o.After = func(d time.Duration) <-chan time.Time { asked <- d; return fire }
	reports := make(chan Report, 10)
	o.OnReport = func(r Report) { reports <- r }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go New(o).Run(ctx)
	r := <-reports
	if it := items(r)["example.org-dmarc"]; it.State != Unknown {
		t.Fatalf("DMARC %+v", it)
	}
	if d := <-asked; d != DefaultRetry {
		t.Fatalf("retry after %v", d)
	}
	e.dns.Fail("_dmarc.example.org.", dns.RcodeSuccess)
	fire <- time.Time{}
	if r := <-reports; len(notOK(r)) != 0 {
		t.Fatalf("after the retry: %+v", notOK(r))
	}
	select {
	case d := <-asked:
		t.Errorf("a retry after %v with nothing unknown", d)
	default:
	}
}

// TestRecheckWhileRunning: a second Recheck before the check ran is
// refused, and Report says Running at once.
func TestRecheckWhileRunning(t *testing.T) {
	c := New(Options{Zones: func(context.Context) ([]dnsrecords.Zone, error) { return nil, nil }})
	if !c.Recheck() || !c.Report().Running || c.Recheck() {
		t.Fatal("Recheck")
	}
	r := c.Check(context.Background())
	if r.Running || c.Report().Running || !c.Recheck() {
		t.Fatalf("after the check: %+v", r)
	}
}

// TestNoDNS: a resolver that answers nothing (development mode) gives
// unknown everywhere, one note, no problem.
func TestNoDNS(t *testing.T) {
	zones := testZones(t, "", "example.org")
	o := Options{
		Resolver: &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, fmt.Errorf("development mode: no DNS")
		}},
		Zones: func(context.Context) ([]dnsrecords.Zone, error) { return zones, nil },
	}
	r := check(t, o)
	for id, it := range items(r) {
		if it.State != Unknown && it.State != Off {
			t.Errorf("%s: %+v", id, it)
		}
	}
	if st := r.Status(); len(st.Problems) != 0 || !slices.Equal(st.Notes, []string{"Part of the DNS check got no answer; the box asks again later."}) {
		t.Errorf("status %+v", st)
	}
	if w := items(r)["example.org-mx"].Words; !strings.HasPrefix(w, "DNS did not answer (") {
		t.Errorf("words %q", w)
	}
}

// TestProbeByName: the probe server's name is looked up through the
// configured resolver, not the system's.
func TestProbeByName(t *testing.T) {
	zones := testZones(t, "", "example.org")
	e := newEnv(t, append(published(zones), "mx.probe.test. 300 IN A "+hostIP))
	o := e.options(zones)
	_, port, _ := net.SplitHostPort(e.probeAddr)
	o.Probe = "mx.probe.test:" + port
	it := items(check(t, o))["port25-out"]
	if it.State != OK || it.Words != "The box can reach other mail servers on port 25 (mx.probe.test answered)." {
		t.Errorf("%+v", it)
	}
}
