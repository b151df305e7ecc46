package netcheck

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"postroom/appliance/dnsrecords"
)

// box checks the host name's address and reverse DNS, port 25 outwards,
// and port 25 inwards at the host's address. The two connection tests run
// beside the lookups.
func (c *Checker) box(ctx context.Context, z dnsrecords.Zone) []Item {
	var probe Item
	var wg sync.WaitGroup
	wg.Go(func() { probe = c.probe(ctx, z.Smarthost) })
	host := z.Host
	addr, ips := c.address(ctx, host)
	items := []Item{addr}
	reach := make([]Item, len(ips))
	for i, ip := range ips {
		wg.Go(func() { reach[i] = c.reach(ctx, host, ip) })
		items = append(items, c.ptr(ctx, host, ip))
	}
	if len(ips) == 0 {
		reach = append(reach, Item{ID: "mx-reach", Title: "Incoming mail reaches this box", State: Off,
			Words: "Not checked: " + host + " has no address to try."})
	}
	wg.Wait()
	items = append(items, probe)
	return append(items, reach...)
}

// address looks up the host name and returns its item and the addresses
// to test (at most maxAddrs, IPv4 first: most lines have no IPv6).
func (c *Checker) address(ctx context.Context, host string) (Item, []net.IP) {
	it := Item{ID: "host-address", Title: "Address of " + host}
	addrs, err := c.o.Resolver.LookupHost(ctx, host)
	if err != nil && len(addrs) == 0 {
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			it.State, it.Words = Unknown, "DNS did not answer ("+errWords(err)+"). The box asks again later."
			return it, nil
		}
	}
	var ips []net.IP
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip != nil {
			ips = append(ips, ip)
		}
	}
	slices.SortStableFunc(ips, func(a, b net.IP) int {
		return boolInt(a.To4() == nil) - boolInt(b.To4() == nil)
	})
	if len(ips) > maxAddrs {
		ips = ips[:maxAddrs]
	}
	if len(ips) == 0 {
		it.State = Missing
		it.Words = host + " has no address in DNS: nothing on the internet can find the box."
		it.Fix = "Add an A record for " + host + " with your office's public IP address (your router's status page shows it) at your DNS provider."
		return it, nil
	}
	names := make([]string, len(ips))
	for i, ip := range ips {
		names[i] = ip.String()
		if ip.IsPrivate() || ip.IsLinkLocalUnicast() || cgnat.Contains(ip) {
			it.State = Wrong
			it.Words = host + " points to " + ip.String() + ", an address inside a private network: the internet cannot reach it."
			it.Fix = "Give " + host + " your office's public IP address (your router's status page shows it), and let the router forward port 25 to this box."
			return it, ips
		}
	}
	it.State, it.Words = OK, host+" has the address "+strings.Join(names, " and ")+"."
	return it, ips
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598): a
// line behind it has no public address of its own.
var cgnat = &net.IPNet{IP: net.IPv4(100, 64, 0, 0), Mask: net.CIDRMask(10, 32)}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ptr checks the reverse DNS of ip, which only its owner (the internet
// provider) can set.
func (c *Checker) ptr(ctx context.Context, host string, ip net.IP) Item {
	it := Item{ID: "ptr-" + addrID(ip), Title: "Reverse DNS of " + ip.String()}
	rec, err := dnsrecords.PTR(host, ip)
	if err != nil {
		it.State, it.Words = Unknown, err.Error()
		return it
	}
	it.Record = &rec
	fix := "Ask your internet provider to set the reverse DNS (PTR) of " + ip.String() + " to " + host + "; some providers have a form for it on their customer page. Nobody else can set it."
	names, err := c.o.Resolver.LookupAddr(ctx, ip.String())
	if err != nil && len(names) == 0 {
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			it.State, it.Words = Unknown, "DNS did not answer ("+errWords(err)+"). The box asks again later."
			return it
		}
	}
	it.Found = cutFound(names)
	for _, n := range names {
		if strings.EqualFold(strings.TrimSuffix(n, "."), host) {
			it.State, it.Found, it.Words = OK, nil, "Correct: "+ip.String()+" is "+host+"."
			return it
		}
	}
	if len(names) == 0 {
		it.State, it.Fix = Missing, fix
		it.Words = ip.String() + " has no reverse DNS: many mail servers refuse mail from an address without it."
		return it
	}
	it.State, it.Fix = Wrong, fix
	it.Words = "The reverse DNS of " + ip.String() + " names " + quote(it.Found) + ", not " + host + ": some mail servers refuse mail when the names do not match."
	return it
}

func addrID(ip net.IP) string {
	return strings.NewReplacer(".", "-", ":", "-").Replace(ip.String())
}

// probe finds out whether the line lets the box reach other mail servers
// on port 25, from Probe's greeting.
func (c *Checker) probe(ctx context.Context, smarthost string) Item {
	it := Item{ID: "port25-out", Title: "Sending mail on port 25"}
	if c.o.Probe == "" {
		why := c.o.ProbeOff
		if why == "" {
			why = "no test server is set (port25_probe in config.json)"
		}
		it.State, it.Words = Off, "Not checked: "+why+"."
		return it
	}
	host, _, _ := net.SplitHostPort(c.o.Probe)
	_, _, err := c.greet(ctx, c.o.Probe, "")
	var te *textproto.Error
	switch {
	case err == nil || errors.As(err, &te):
		// Any SMTP reply, even a refusal, came through port 25.
		it.State, it.Words = OK, "The box can reach other mail servers on port 25 ("+host+" answered)."
	case smarthost != "":
		it.State = OK
		it.Words = "Port 25 outwards seems closed (" + connWords(err) + "), but outgoing mail leaves through the smarthost " + smarthost + ": nothing to do."
	default:
		it.State = Wrong
		it.Words = "The box cannot reach other mail servers on port 25 (" + host + ": " + connWords(err) + "): your internet provider probably blocks it, so outgoing mail cannot leave."
		it.Fix = "Send outgoing mail through a smarthost (your provider's or a mail service's outgoing server, with its user name and password): set it under Settings."
		it.FixLink = "/settings#smarthost"
	}
	return it
}

// reach connects to ip on the SMTP port as another mail server would and
// checks that the box itself answers: the greeting, or the EHLO answer,
// names the box's host.
func (c *Checker) reach(ctx context.Context, host string, ip net.IP) Item {
	it := Item{ID: "mx-reach-" + addrID(ip), Title: "Incoming mail reaches this box (" + ip.String() + ")"}
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(c.o.SMTPPort))
	banner, ehlo, err := c.greet(ctx, addr, host)
	var te *textproto.Error
	switch {
	case err != nil && !errors.As(err, &te):
		it.State = Wrong
		it.Words = "Nothing answered on port 25 at " + ip.String() + " (" + connWords(err) + "): mail from outside cannot reach the box."
		it.Fix = "Make your router forward port 25 (TCP) to this box. Some routers do not let the box reach its own public address from inside: if yours forwards the port, mail from outside still arrives, and only this test cannot tell."
	case sameHost(banner, host) || sameHost(ehlo, host):
		it.State, it.Words = OK, "Mail for your domains reaches this box: "+ip.String()+" answers on port 25 as "+host+"."
	default:
		name := cut(firstWord(banner), maxWordsLen)
		if name == "" {
			name = "an unnamed server"
		}
		it.State = Wrong
		it.Words = ip.String() + " answers on port 25, but as " + name + ", not as this box: mail goes to another server."
		it.Fix = "Make your router forward port 25 to this box, or give " + host + " the address that leads here."
	}
	return it
}

// sameHost reports whether an SMTP reply text starts with host.
func sameHost(text, host string) bool {
	return text != "" && strings.EqualFold(strings.TrimSuffix(firstWord(text), "."), host)
}

func firstWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// greet connects to addr and reads the greeting; with ehlo set it says
// EHLO ehlo and reads the answer's first line too, then QUIT. Nothing else
// is sent. The conversation is bounded by connectTimeout and ctx, and
// what is read by 8 KiB: a server that talks for ever is cut off.
func (c *Checker) greet(ctx context.Context, addr, ehlo string) (banner, ehloLine string, err error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := c.o.Dial(ctx, "tcp", addr)
	if err != nil {
		return "", "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	r := textproto.NewReader(bufio.NewReader(io.LimitReader(conn, 8<<10)))
	_, banner, err = r.ReadResponse(220)
	banner, _, _ = strings.Cut(banner, "\n")
	if err != nil || ehlo == "" {
		io.WriteString(conn, "QUIT\r\n")
		return banner, "", err
	}
	if _, err := io.WriteString(conn, "EHLO "+ehlo+"\r\n"); err != nil {
		return banner, "", err
	}
	_, ehloLine, err = r.ReadResponse(250)
	ehloLine, _, _ = strings.Cut(ehloLine, "\n")
	io.WriteString(conn, "QUIT\r\n")
	return banner, ehloLine, err
}

// connWords says why a connection failed, shortly.
func connWords(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "no answer in time"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed without a greeting"
	}
	return errWords(err)
}
