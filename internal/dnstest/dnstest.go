// Package dnstest runs a small authoritative DNS server on 127.0.0.1 for
// tests: the outbound queue resolves MX/A records through it, and the
// inbound checks (SPF, DKIM, DMARC) read TXT records from it.
//
// Records are given in zone-file syntax, one resource record per string:
//
//	srv := dnstest.Start(t,
//		"example.test. 300 IN MX 10 mx.example.test.",
//		"mx.example.test. 300 IN A 127.0.0.1",
//	)
//	r := srv.Resolver() // *net.Resolver that only ever asks srv
//
// The server claims to be authoritative for the whole name space: an unknown
// name answers NXDOMAIN, a known name without records of the asked type (or
// a name that only has records below it) answers NOERROR with no answers
// (NODATA). Fail makes one name answer with a chosen rcode, e.g.
// dns.RcodeServerFailure to simulate a broken resolver path.
//
// Files: dnstest.go (server, zone, handler), dnstest_test.go.
package dnstest

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// Server is a running test DNS server listening on one UDP and one TCP socket
// bound to the same 127.0.0.1 port.
type Server struct {
	tb   testing.TB
	addr string
	udp  *dns.Server
	tcp  *dns.Server
	mu   sync.Mutex
	rrs  map[string][]dns.RR // owner name (lower case, FQDN) -> records
	fail map[string]int      // owner name -> forced rcode
	// queries counts the queries received, for tests that prove none
	// was sent.
	queries atomic.Int64
}

// Start starts a server holding records and stops it at test cleanup.
// A record that does not parse fails the test.
func Start(tb testing.TB, records ...string) *Server {
	tb.Helper()
	s := &Server{tb: tb, rrs: map[string][]dns.RR{}, fail: map[string]int{}}
	s.Add(records...)

	// UDP and TCP share the port number, as a real server does; retry a few
	// times in case the UDP port happens to be taken on TCP.
	var pc net.PacketConn
	var ln net.Listener
	var err error
	for range 20 {
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("dnstest: listen udp: %v", err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		tb.Fatalf("dnstest: listen tcp: %v", err)
	}
	s.addr = pc.LocalAddr().String()
	s.udp = &dns.Server{PacketConn: pc, Handler: s}
	s.tcp = &dns.Server{Listener: ln, Handler: s}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() {
			// ActivateAndServe returns when Shutdown is called; an error
			// before that means the test is broken anyway.
			_ = srv.ActivateAndServe()
		}()
		<-started
	}
	tb.Cleanup(func() {
		_ = s.udp.Shutdown()
		_ = s.tcp.Shutdown()
	})
	return s
}

// Add adds records (zone-file syntax) to the running server.
func (s *Server) Add(records ...string) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range records {
		rr, err := dns.NewRR(rec)
		if err != nil || rr == nil {
			s.tb.Fatalf("dnstest: bad record %q: %v", rec, err)
			return
		}
		name := strings.ToLower(rr.Header().Name)
		s.rrs[name] = append(s.rrs[name], rr)
	}
}

// Fail makes queries for name (any type) answer with rcode, e.g.
// dns.RcodeServerFailure. rcode dns.RcodeSuccess removes the failure.
func (s *Server) Fail(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.ToLower(dns.Fqdn(name))
	if rcode == dns.RcodeSuccess {
		delete(s.fail, name)
		return
	}
	s.fail[name] = rcode
}

// Addr returns the host:port the server listens on (UDP and TCP).
func (s *Server) Addr() string { return s.addr }

// Resolver returns a pure-Go resolver whose every query goes to this server,
// whatever address the system configuration names.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, s.addr)
		},
	}
}

// Queries returns how many queries the server has received.
func (s *Server) Queries() int { return int(s.queries.Load()) }

// ServeDNS answers one query from the zone (dns.Handler).
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	s.queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)

	s.mu.Lock()
	rcode, failed := s.fail[name]
	rrs := s.rrs[name]
	known := s.hasName(name)
	s.mu.Unlock()

	switch {
	case failed:
		m.Authoritative = false
		m.Rcode = rcode
	case !known:
		m.Rcode = dns.RcodeNameError
	default:
		m.Answer = answers(rrs, q.Qtype)
	}
	// A large TXT set (an RSA DKIM key) may not fit a plain 512-byte UDP
	// answer: mark it truncated so the client retries over TCP.
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

// answers returns the records of type qtype, following one CNAME if the name
// has one and the CNAME target was not asked for.
func answers(rrs []dns.RR, qtype uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		t := rr.Header().Rrtype
		if t == qtype || qtype == dns.TypeANY || (t == dns.TypeCNAME && qtype != dns.TypeCNAME) {
			out = append(out, dns.Copy(rr))
		}
	}
	return out
}

// hasName reports whether name owns records or is an empty non-terminal
// (a name with records below it, like _domainkey.example.test.): such a name
// exists and answers NODATA, not NXDOMAIN. s.mu must be held.
func (s *Server) hasName(name string) bool {
	if _, ok := s.rrs[name]; ok {
		return true
	}
	for owner := range s.rrs {
		if strings.HasSuffix(owner, "."+name) {
			return true
		}
	}
	return false
}
