package boot

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// mDNS (RFC 6762): the box answers as postroom.local, so the address the
// display shows ("http://postroom.local") works on the office's network
// without a DNS entry. Only the host's own A and AAAA records are
// answered, with the addresses its wired interfaces have at the moment of
// the question (DHCP may change them).

// MDNSName is the name the box answers to.
const MDNSName = "postroom.local."

// hostZone is the mDNS zone of the box: name's addresses, read at each
// question from addrs.
type hostZone struct {
	name  string
	addrs func() []netip.Addr
}

// mdnsTTL is 120 s, RFC 6762's recommendation for host records.
const mdnsTTL = 120

// Records answers one question (hashicorp/mdns's Zone).
func (z hostZone) Records(q dns.Question) []dns.RR {
	if !strings.EqualFold(q.Name, z.name) {
		return nil
	}
	var out []dns.RR
	for _, a := range z.addrs() {
		hdr := dns.RR_Header{Name: z.name, Class: dns.ClassINET, Ttl: mdnsTTL}
		switch {
		case a.Is4() && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY):
			hdr.Rrtype = dns.TypeA
			out = append(out, &dns.A{Hdr: hdr, A: a.AsSlice()})
		case a.Is6() && !a.Is4In6() && (q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
			hdr.Rrtype = dns.TypeAAAA
			out = append(out, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
		}
	}
	return out
}
