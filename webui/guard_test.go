package webui

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"postroom/appliance/status"
)

// TestKnownHost: through a real listener and net/http's client, the pages
// answer only requests that name the box; any other Host (a DNS-rebinding
// page's own name) gets 421 and a plain explanation, on every page.
func TestKnownHost(t *testing.T) {
	s := snapshot()
	s.Hostname = "Mail.Example.test"
	s.Addresses = []string{"192.0.2.7", "2001:db8::7"}
	bus := status.NewBus(s)
	h := New(Options{Bus: bus, Logger: slog.New(slog.DiscardHandler), Names: []string{"box.office.lan"}})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	for _, tc := range []struct {
		host string
		want int
	}{
		{"127.0.0.1:" + port, 200},
		{"127.0.0.1", 200},
		{"localhost:" + port, 200},
		{"LOCALHOST", 200},
		{"postroom.local", 200},
		{"postroom.local.:80", 200},
		{"mail.example.test:" + port, 200},
		{"MAIL.EXAMPLE.TEST", 200},
		{"box.office.lan", 200},
		{"[::1]:" + port, 200},
		{"[::1]", 200},
		{"192.0.2.7:8080", 200},
		{"[2001:db8::7]:8080", 200},
		{"[2001:db8::7]", 200},
		{"evil.test", 421},
		{"evil.test:" + port, 421},
		{"mail.example.test.evil.test", 421},
		{"postroom.local.evil.test:8080", 421},
		{"192.0.2.8", 421},
		{"[2001:db8::8]:8080", 421},
		{"example.test", 421},
	} {
		for _, path := range []string{"/", "/status.json", "/factory-reset"} {
			req, err := http.NewRequest("GET", srv.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tc.host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("GET %s with Host %q: %d; want %d", path, tc.host, resp.StatusCode, tc.want)
				continue
			}
			if tc.want == 421 && (!strings.Contains(string(body), "answers only to its own names") ||
				!strings.Contains(string(body), "mail.example.test") || strings.Contains(string(body), "Postroom on")) {
				t.Errorf("GET %s with Host %q: refusal says\n%s", path, tc.host, body)
			}
		}
	}

	// A host name set later (at set-up) is accepted at once.
	bus.Update(func(s *status.Snapshot) { s.Hostname = "post.office.test" })
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.Host = "post.office.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("new host name: %d", resp.StatusCode)
	}
}

// TestKnownHostIPv6Listener: on an IPv6 listener the client's own
// bracketed literal with the port passes.
func TestKnownHostIPv6Listener(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	srv := httptest.NewUnstartedServer(New(Options{Bus: status.NewBus(snapshot()), Logger: slog.New(slog.DiscardHandler)}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	resp, _ := get(t, "GET", srv.URL+"/status.json") // Host: [::1]:port
	if resp.StatusCode != 200 {
		t.Errorf("GET %s: %d", srv.URL, resp.StatusCode)
	}
}

// TestKnownHostLocalAddress: the address the client connected to is the
// box's, even before the Snapshot lists it (a new DHCP lease).
func TestKnownHostLocalAddress(t *testing.T) {
	h := New(Options{Bus: status.NewBus(snapshot()), Logger: slog.New(slog.DiscardHandler)})
	for _, tc := range []struct {
		local, host string
		want        int
	}{
		{"192.168.1.40:80", "192.168.1.40", 200},
		{"192.168.1.40:80", "192.168.1.41", 421},
		{"[fd00::40]:80", "[fd00::40]:80", 200},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr, req.Host = "192.168.1.23:4000", tc.host
		la, _ := net.ResolveTCPAddr("tcp", tc.local)
		req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, la))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("Host %s on %s: %d; want %d", tc.host, tc.local, rec.Code, tc.want)
		}
	}
}

func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"box.local":      "box.local",
		"box.local:8080": "box.local",
		"[::1]:8080":     "::1",
		"[::1]":          "::1",
		"::1":            "",
		"[::1":           "",
		"[::1]x":         "",
		"10.0.0.1:80":    "10.0.0.1",
	} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q; want %q", in, got, want)
		}
	}
}
