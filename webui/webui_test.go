package webui

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"postroom/appliance/status"
)

func newServer(t *testing.T, s status.Snapshot) (*httptest.Server, *status.Bus) {
	t.Helper()
	bus := status.NewBus(s)
	srv := httptest.NewServer(New(Options{Bus: bus, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	return srv, bus
}

func get(t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func snapshot() status.Snapshot {
	return status.Snapshot{
		Phase:    status.PhaseRunning,
		Hostname: "postroom.local",
		Services: []status.Service{
			{Name: "smtp", Title: "Incoming mail (SMTP)", Addr: "127.0.0.1:2525", State: status.ServiceListening},
			{Name: "web", Title: "Web page", Addr: "127.0.0.1:8080", State: status.ServiceFailed, Error: "address already in use"},
		},
		Addresses: []string{"192.0.2.7"},
		MailDay:   time.Now().Format(time.DateOnly),
		MailToday: 7,
		Problem:   "The web page could not start: <address already in use>",
	}
}

func TestStatusPage(t *testing.T) {
	srv, _ := newServer(t, snapshot())
	resp, body := get(t, "GET", srv.URL+"/")
	if resp.StatusCode != 200 {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q", ct)
	}
	for _, want := range []string{
		`id="phase">Running<`,
		"Incoming mail (SMTP)", "127.0.0.1:2525", `class="state-listening">Working<`,
		"Not working: address already in use",
		"&lt;address already in use&gt;", // the problem, escaped
		`id="mail-today">7<`,
		"192.0.2.7",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if strings.Contains(body, "<address already") {
		t.Error("problem text was not escaped")
	}
	if resp.Header.Get("Content-Security-Policy") == "" {
		t.Error("no Content-Security-Policy header")
	}
}

func TestStatusPageFollowsBus(t *testing.T) {
	srv, bus := newServer(t, status.Snapshot{Phase: status.PhaseBooting})
	if _, body := get(t, "GET", srv.URL+"/"); !strings.Contains(body, "No services started yet") || !strings.Contains(body, "All is well") {
		t.Errorf("booting page:\n%s", body)
	}
	bus.Update(func(s *status.Snapshot) { s.Phase = status.PhaseShuttingDown })
	if _, body := get(t, "GET", srv.URL+"/"); !strings.Contains(body, `id="phase">Stopping<`) {
		t.Error("page does not show the new phase")
	}
}

func TestStatusJSON(t *testing.T) {
	want := snapshot()
	srv, _ := newServer(t, want)
	resp, body := get(t, "GET", srv.URL+"/status.json")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /status.json = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var got status.Snapshot
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("decode: %v\n%s", err, body)
	}
	if got.Phase != want.Phase || got.Problem != want.Problem || got.MailToday != 7 || len(got.Services) != 2 ||
		got.Services[0] != want.Services[0] || got.Time.IsZero() {
		t.Errorf("status.json = %+v", got)
	}
}

func TestStaleMailCountReadsZero(t *testing.T) {
	s := snapshot()
	s.MailDay = "2000-01-01"
	srv, _ := newServer(t, s)
	_, body := get(t, "GET", srv.URL+"/status.json")
	if !strings.Contains(body, `"mail_today": 0`) {
		t.Errorf("yesterday's count shown as today's:\n%s", body)
	}
}

func TestStatusJSONEmptyLists(t *testing.T) {
	srv, _ := newServer(t, status.Snapshot{Phase: status.PhaseBooting})
	_, body := get(t, "GET", srv.URL+"/status.json")
	if !strings.Contains(body, `"services": []`) || !strings.Contains(body, `"addresses": []`) {
		t.Errorf("empty lists are not []:\n%s", body)
	}
}

func TestRoutes(t *testing.T) {
	srv, _ := newServer(t, snapshot())
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/", 200},
		{"HEAD", "/", 200},
		{"GET", "/status.json", 200},
		{"GET", "/nope", 404},
		{"GET", "/status.json/x", 404},
		{"POST", "/", 405},
		{"DELETE", "/status.json", 405},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, _ := get(t, tt.method, srv.URL+tt.path)
			if resp.StatusCode != tt.want {
				t.Errorf("= %d; want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// TestOnlyOnTheLAN: a client outside the local network gets 403 on every
// page; loopback, private and link-local clients get the page.
func TestOnlyOnTheLAN(t *testing.T) {
	h := New(Options{Bus: status.NewBus(status.Snapshot{Phase: status.PhaseRunning}), Logger: slog.New(slog.DiscardHandler)})
	for _, c := range []struct {
		remote string
		want   int
	}{
		{"203.0.113.9:4000", http.StatusForbidden},
		{"[2001:db8::1]:4000", http.StatusForbidden},
		{"100.64.0.1:4000", http.StatusForbidden},
		{"garbage", http.StatusForbidden},
		{"127.0.0.1:4000", http.StatusOK},
		{"192.168.1.23:4000", http.StatusOK},
		{"[fe80::1]:4000", http.StatusOK},
		{"[::ffff:10.0.0.7]:4000", http.StatusOK},
	} {
		for _, path := range []string{"/", "/status.json"} {
			req := httptest.NewRequest("GET", path, nil)
			req.RemoteAddr, req.Host = c.remote, "localhost:8080"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != c.want {
				t.Errorf("GET %s from %s: %d, want %d", path, c.remote, rec.Code, c.want)
			}
		}
	}
}
