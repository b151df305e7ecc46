package public

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"postroom/internal/testutil"
	"postroom/webui/autoconfig"
)

func startPublic(t *testing.T, clock *testutil.Clock) string {
	t.Helper()
	s := autoconfig.Settings{Hostname: "mail.example.org", Domains: []string{"example.org"},
		Servers: []autoconfig.Server{{Protocol: autoconfig.IMAP, Host: "mail.example.org", Port: 993, Security: autoconfig.TLS}}}
	quiet := slog.New(slog.DiscardHandler)
	srv := httptest.NewServer(New(Options{
		Autoconfig: autoconfig.New(autoconfig.Options{Settings: func() autoconfig.Settings { return s }, Logger: quiet}),
		Logger:     quiet, PerSecond: 1, Burst: 3, Now: clock.Now,
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// clientFrom is an HTTP client whose connections come from the loopback
// address ip, so that one test is several clients.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}, Timeout: time.Minute}
}

func get(t *testing.T, c *http.Client, url string) (int, http.Header) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func TestRateLimit(t *testing.T) {
	clock := testutil.NewClock(time.Date(2026, 3, 29, 0, 59, 59, 0, time.UTC))
	url := startPublic(t, clock) + "/mail/config-v1.1.xml?emailaddress=anna%40example.org"
	a, b := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	for i := range 3 {
		if code, _ := get(t, a, url); code != 200 {
			t.Fatalf("request %d of the burst: %d", i, code)
		}
	}
	code, hdr := get(t, a, url)
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Fatalf("over the burst: %d, Retry-After %q", code, hdr.Get("Retry-After"))
	}
	// Another address has its own bucket; 404s count too.
	if code, _ := get(t, b, url); code != 200 {
		t.Errorf("second client: %d", code)
	}
	clock.Advance(time.Second)
	if code, _ := get(t, a, url); code != 200 {
		t.Errorf("a second later: %d", code)
	}
	if code, _ := get(t, a, url); code != http.StatusTooManyRequests {
		t.Errorf("then again: %d", code)
	}
}

// TestOnlyClientPaths: the public handler serves the set-up paths and 404
// for everything the LAN pages answer.
func TestOnlyClientPaths(t *testing.T) {
	clock := testutil.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	base := startPublic(t, clock)
	c := clientFrom("127.0.0.3")
	for _, path := range []string{"/", "/status.json", "/display.png", "/factory-reset", "/login", "/admin", "/favicon.ico"} {
		clock.Advance(time.Hour) // a full bucket for each
		if code, _ := get(t, c, base+path); code != 404 {
			t.Errorf("GET %s: %d", path, code)
		}
	}
	clock.Advance(time.Hour)
	if code, _ := get(t, c, base+"/.well-known/autoconfig/mail/config-v1.1.xml"); code != 200 {
		t.Errorf("autoconfig: %d", code)
	}
}

func TestClientKey(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.7:5555":              "192.0.2.7/32",
		"[::ffff:192.0.2.7]:5555":     "192.0.2.7/32",
		"[2001:db8:1:2:3:4:5:6]:5555": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ff::1]:1":      "2001:db8:1:2::/64",
		"nonsense":                    "invalid Prefix",
	} {
		if got := clientKey(remote); got.String() != want {
			t.Errorf("clientKey(%q) = %s, want %s", remote, got, want)
		}
	}
}
