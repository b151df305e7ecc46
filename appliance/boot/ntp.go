package boot

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// The clock (issue #14 part 3): a Pi has no real-time clock. The init
// starts from the last known time kept on the data disk (State), then asks
// NTP servers (SNTP, RFC 4330) and steps the clock to their time; the
// kernel is told the clock is synchronised, which is what the status page
// reads (appliance/run_panel_linux.go). Until then the status page says
// the clock is not synchronised.

// ntpEpoch is 1900-01-01, where NTP time starts.
var ntpEpoch = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

func toNTP(t time.Time) uint64 {
	d := t.Sub(ntpEpoch)
	sec := uint64(d / time.Second)
	frac := uint64(d%time.Second) << 32 / uint64(time.Second)
	return sec<<32 | frac
}

func fromNTP(v uint64) time.Time {
	sec := time.Duration(v>>32) * time.Second
	frac := time.Duration((v & 0xffffffff) * uint64(time.Second) >> 32)
	return ntpEpoch.Add(sec + frac)
}

// NTPAnswer is what one server said.
type NTPAnswer struct {
	Server  string        // syncClockOnce: the server that answered
	Offset  time.Duration // add to the local clock to get the server's
	RTT     time.Duration
	Stratum uint8
}

// QueryNTP asks server ("host:port") for the time once, with now as the
// local clock. It refuses answers that do not match the question or come
// from a server that is not synchronised itself.
func QueryNTP(ctx context.Context, server string, now func() time.Time) (NTPAnswer, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", server)
	if err != nil {
		return NTPAnswer{}, err
	}
	defer c.Close()
	// Deadlines are on the system clock, whatever now says: that is the
	// clock the network waits on.
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	c.SetDeadline(deadline)
	var req [48]byte
	req[0] = 0<<6 | 4<<3 | 3 // no leap warning, version 4, client
	t1 := now()
	xmit := toNTP(t1)
	binary.BigEndian.PutUint64(req[40:], xmit)
	if _, err := c.Write(req[:]); err != nil {
		return NTPAnswer{}, err
	}
	var resp [68]byte
	for {
		n, err := c.Read(resp[:])
		if err != nil {
			return NTPAnswer{}, err
		}
		t4 := now()
		if n < 48 {
			continue // not an NTP packet: wait for the answer
		}
		if binary.BigEndian.Uint64(resp[24:]) != xmit {
			continue // an answer to another question (or spoofed)
		}
		leap, mode, stratum := resp[0]>>6, resp[0]&7, resp[1]
		switch {
		case mode != 4:
			return NTPAnswer{}, fmt.Errorf("%s: not a server's answer (mode %d)", server, mode)
		case stratum == 0:
			return NTPAnswer{}, fmt.Errorf("%s: refused (kiss code %q)", server, resp[12:16])
		case leap == 3 || stratum > 15:
			return NTPAnswer{}, fmt.Errorf("%s: the server's own clock is not synchronised", server)
		}
		t2 := fromNTP(binary.BigEndian.Uint64(resp[32:]))
		t3 := fromNTP(binary.BigEndian.Uint64(resp[40:]))
		if t3.Before(t2) {
			return NTPAnswer{}, errors.New(server + ": the answer's times are out of order")
		}
		offset := (t2.Sub(t1) + t3.Sub(t4)) / 2
		rtt := t4.Sub(t1) - t3.Sub(t2)
		return NTPAnswer{Offset: offset, RTT: rtt, Stratum: stratum}, nil
	}
}

// NTPServers are asked in turn until one answers, after the time servers
// the DHCP leases named (TimeServers): an office network that names its
// own (a router, a domain controller) may block the public ones.
var NTPServers = []string{"0.pool.ntp.org:123", "1.pool.ntp.org:123", "2.pool.ntp.org:123", "time.cloudflare.com:123"}

// TimeServers are the time servers the DHCP leases named, per interface.
type TimeServers struct {
	mu      sync.Mutex
	byIface map[string][]netip.Addr
	changed chan struct{}
}

// NewTimeServers returns an empty set: only the defaults until a lease
// names some.
func NewTimeServers() *TimeServers {
	return &TimeServers{byIface: map[string][]netip.Addr{}, changed: make(chan struct{}, 1)}
}

// Set records iface's time servers (none: forget them, as a fixed address
// or a link-local one does), and signals Changed when they differ.
func (ts *TimeServers) Set(iface string, servers []netip.Addr) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if slices.Equal(ts.byIface[iface], servers) {
		return
	}
	ts.byIface[iface] = slices.Clone(servers)
	select {
	case ts.changed <- struct{}{}:
	default:
	}
}

// Changed receives when the servers have changed since the last receive.
func (ts *TimeServers) Changed() <-chan struct{} { return ts.changed }

// Servers lists the DHCP leases' time servers (by interface name, each
// once, port 123), then defaults.
func (ts *TimeServers) Servers(defaults []string) []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var out []string
	for _, iface := range slices.Sorted(maps.Keys(ts.byIface)) {
		for _, a := range ts.byIface[iface] {
			if s := netip.AddrPortFrom(a, 123).String(); !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return append(out, defaults...)
}

// syncClockOnce asks servers in turn and sets the clock with set from the
// first good answer. It returns that answer.
func syncClockOnce(ctx context.Context, servers []string, now func() time.Time, set func(offset time.Duration) error) (NTPAnswer, error) {
	var errs []error
	for _, s := range servers {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		a, err := QueryNTP(qctx, s, now)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		a.Server = s
		if err := set(a.Offset); err != nil {
			return a, fmt.Errorf("setting the clock: %w", err)
		}
		return a, nil
	}
	return NTPAnswer{}, fmt.Errorf("no time server answered: %w", errors.Join(errs...))
}
