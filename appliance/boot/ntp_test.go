package boot

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// ntpServer is a time server on 127.0.0.1 whose clock is at; reply may
// spoil its answers.
func ntpServer(t *testing.T, at time.Time, reply func(b []byte)) string {
	t.Helper()
	return ntpServerOn(t, "127.0.0.1:0", at, reply)
}

// ntpServerOn is ntpServer on addr.
func ntpServerOn(t *testing.T, addr string, at time.Time, reply func(b []byte)) string {
	t.Helper()
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 128)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 48 {
				continue
			}
			var out [48]byte
			out[0] = 0<<6 | 4<<3 | 4 // server
			out[1] = 2               // stratum 2
			copy(out[24:32], buf[40:48])
			binary.BigEndian.PutUint64(out[32:], toNTP(at))
			binary.BigEndian.PutUint64(out[40:], toNTP(at))
			if reply != nil {
				reply(out[:])
			}
			c.WriteTo(out[:], from)
		}
	}()
	return c.LocalAddr().String()
}

func TestNTPTimestamps(t *testing.T) {
	for _, tm := range []time.Time{time.Date(2026, 12, 6, 21, 0, 0, 123456789, time.UTC), time.Date(1970, 1, 1, 0, 0, 1, 0, time.UTC)} {
		if got := fromNTP(toNTP(tm)); got.Sub(tm).Abs() > time.Nanosecond {
			t.Errorf("%v came back as %v", tm, got)
		}
	}
}

// TestQueryNTP: a box that starts at its last known time (a week behind)
// learns the offset from a local time server; bad answers are refused.
func TestQueryNTP(t *testing.T) {
	real := time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC)
	stale := func() time.Time { return real.Add(-7 * 24 * time.Hour) }
	srv := ntpServer(t, real, nil)
	var set time.Duration
	a, err := syncClockOnce(context.Background(), []string{"127.0.0.1:1", srv}, stale, func(off time.Duration) error { set = off; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if a.Offset != 7*24*time.Hour || set != a.Offset || a.Stratum != 2 {
		t.Errorf("answer %+v, set %v", a, set)
	}
	for name, spoil := range map[string]func(b []byte){
		"kiss of death":  func(b []byte) { b[1] = 0; copy(b[12:], "RATE") },
		"unsynchronised": func(b []byte) { b[0] = 3<<6 | 4<<3 | 4 },
		"client mode":    func(b []byte) { b[0] = 4<<3 | 3 },
	} {
		srv := ntpServer(t, real, spoil)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := QueryNTP(ctx, srv, stale)
		cancel()
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// An answer to another question is ignored: the query times out.
	srv = ntpServer(t, real, func(b []byte) { b[24]++ })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := QueryNTP(ctx, srv, stale); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("a mismatched answer: %v", err)
	}
}

// TestTimeServers: the leases' time servers come first, by interface, each
// once; a lease that names none (a fixed address) forgets its interface's;
// Changed says when they change, not when a renewal repeats them.
func TestTimeServers(t *testing.T) {
	ts := NewTimeServers()
	a, b := netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr("192.168.1.2")
	defaults := []string{"0.pool.ntp.org:123"}
	changed := func() bool {
		select {
		case <-ts.Changed():
			return true
		default:
			return false
		}
	}
	steps := []struct {
		iface   string
		servers []netip.Addr
		want    []string
		changed bool
	}{
		{"eth1", []netip.Addr{a}, []string{"192.168.1.1:123", "0.pool.ntp.org:123"}, true},
		{"eth0", []netip.Addr{b, a}, []string{"192.168.1.2:123", "192.168.1.1:123", "0.pool.ntp.org:123"}, true},
		{"eth0", []netip.Addr{b, a}, []string{"192.168.1.2:123", "192.168.1.1:123", "0.pool.ntp.org:123"}, false}, // a renewal
		{"eth0", nil, []string{"192.168.1.1:123", "0.pool.ntp.org:123"}, true},
		{"eth1", nil, defaults, true},
	}
	for i, s := range steps {
		ts.Set(s.iface, s.servers)
		if got := ts.Servers(defaults); !slices.Equal(got, s.want) || changed() != s.changed {
			t.Errorf("step %d: %v, want %v (changed %v)", i, got, s.want, s.changed)
		}
	}
}
