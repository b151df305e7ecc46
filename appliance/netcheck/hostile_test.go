package netcheck

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"postroom/internal/dnstest"
)

// hostileDNS serves base's zone, except that every name under loop.test
// answers with a CNAME loop (a -> b -> a, both in the answer) and every
// name under slow.test never answers. It returns a resolver that asks it.
func hostileDNS(t *testing.T, base *dnstest.Server) *net.Resolver {
	t.Helper()
	stop := make(chan struct{})
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		if len(req.Question) != 1 {
			base.ServeDNS(w, req)
			return
		}
		name := strings.ToLower(req.Question[0].Name)
		switch {
		case dns.IsSubDomain("slow.test.", name):
			<-stop // no answer: the client's time runs out
			return
		case dns.IsSubDomain("loop.test.", name):
			m := new(dns.Msg)
			m.SetReply(req)
			a, _ := dns.NewRR(name + " 300 IN CNAME other." + name)
			b, _ := dns.NewRR("other." + name + " 300 IN CNAME " + name)
			m.Answer = []dns.RR{a, b}
			w.WriteMsg(m)
			return
		}
		base.ServeDNS(w, req)
	})
	// One port for UDP and TCP: the UDP port the kernel picks may be
	// taken for TCP by another program, so a few are tried.
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ; try++ {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		if try == 20 {
			t.Fatal(err)
		}
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: handler}, {Listener: ln, Handler: handler}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	t.Cleanup(func() { close(stop) }) // runs before the Shutdowns
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// hugeTXT is one TXT record of n strings of 255 bytes, starting with text.
func hugeTXT(name, text string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s 300 IN TXT %q", name, text)
	for i := range n {
		fmt.Fprintf(&b, " %q", strings.Repeat(string(rune('a'+i%26)), 255))
	}
	return b.String()
}

// TestHostileDNS: a huge TXT record, hundreds of TXT records, CNAME loops
// and a server that never answers end in time, with what was found cut
// short in the words.
func TestHostileDNS(t *testing.T) {
	zones := testZones(t, "", "example.org")
	many := without(published(zones), "example.org.", "TXT")
	for i := range 300 {
		many = append(many, fmt.Sprintf(`example.org. 300 IN TXT "v=spf1 ip4:192.0.2.%d -all"`, i%250))
	}
	for _, tc := range []struct {
		name    string
		lines   []string
		domains []string
		timeout time.Duration
		check   func(t *testing.T, r Report)
	}{
		{name: "huge SPF record", lines: append(without(published(zones), "example.org.", "TXT"), hugeTXT("example.org.", "v=spf1 ", 200)),
			check: func(t *testing.T, r Report) {
				it := items(r)["example.org-spf"]
				if it.State != Wrong || len(it.Found) != 1 || len(it.Found[0]) > maxFoundLen+len("…") || len(it.Words) > 400 {
					t.Errorf("SPF: %s, %d found (%d bytes), words %d bytes", it.State, len(it.Found), len(it.Found[0]), len(it.Words))
				}
				if p := r.Status().Problems; len(p) != 1 || len(p[0]) > 200 {
					t.Errorf("problems %q", p)
				}
			}},
		{name: "300 SPF records", lines: many,
			check: func(t *testing.T, r Report) {
				it := items(r)["example.org-spf"]
				if it.State != Wrong || len(it.Found) != maxFound+1 || it.Found[maxFound] != "(and 295 more)" {
					t.Errorf("SPF: %s, found %q", it.State, it.Found)
				}
				if len(it.Words) > 1000 {
					t.Errorf("words of %d bytes", len(it.Words))
				}
			}},
		{name: "CNAME loops", lines: published(zones), domains: []string{"loop.test"},
			check: func(t *testing.T, r Report) {
				for _, it := range r.Domains[0].Items {
					if it.State == OK && it.Record.Value != "0 0 0 ." {
						t.Errorf("%s: OK in a loop: %+v", it.ID, it)
					}
					if len(it.Words) > 600 {
						t.Errorf("%s: words of %d bytes", it.ID, len(it.Words))
					}
				}
			}},
		{name: "no answer", lines: published(zones), domains: []string{"slow.test"}, timeout: time.Second,
			check: func(t *testing.T, r Report) {
				for _, it := range r.Domains[0].Items {
					if it.State != Unknown || !strings.Contains(it.Words, "no answer in time") {
						t.Errorf("%s: %s %q", it.ID, it.State, it.Words)
					}
				}
				if st := r.Status(); len(st.Problems) != 0 {
					t.Errorf("a silent DNS server is no problem of the records: %q", st.Problems)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.lines)
			z := zones
			if tc.domains != nil {
				// The domain's records, then example.org's box: the host
				// name is still mail.example.org.
				z = testZones(t, "", tc.domains...)
			}
			o := e.options(z)
			o.Resolver = hostileDNS(t, e.dns)
			if tc.timeout > 0 {
				o.Timeout = tc.timeout
			}
			done := make(chan Report, 1)
			go func() { done <- check(t, o) }()
			select {
			case r := <-done:
				tc.check(t, r)
			case <-time.After(2 * time.Minute): // generous: the check's own bound is o.Timeout
				t.Fatal("the check did not end")
			}
		})
	}
}

// TestHostileSMTP: a server on port 25 that talks without end is cut off
// and its words do not reach the page.
func TestHostileSMTP(t *testing.T) {
	zones := testZones(t, "", "example.org")
	ln, err := net.Listen("tcp", hostIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line := "220-" + strings.Repeat("x", 1000) + "\r\n"
				for {
					c.SetWriteDeadline(time.Now().Add(10 * time.Second))
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	o := newEnv(t, published(zones)).options(zones)
	o.SMTPPort = ln.Addr().(*net.TCPAddr).Port
	o.Probe = hostIP + ":" + strconv.Itoa(o.SMTPPort)
	r := check(t, o)
	for _, id := range []string{"mx-reach-127-0-0-2", "port25-out"} {
		it := items(r)[id]
		if it.State != Wrong || len(it.Words) > 400 || strings.Contains(it.Words, "xxxx") {
			t.Errorf("%s: %s %q", id, it.State, it.Words)
		}
	}
}
