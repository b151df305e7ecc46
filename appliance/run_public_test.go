package appliance

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postroom/appliance/certs"
	"postroom/appliance/config"
	"postroom/appliance/status"
	"postroom/storage"
	"postroom/webui/autoconfig"
)

// TestSettingsFromAutoconfigLogIn is issue 13's end-to-end check without
// Thunderbird (which does not run headless): the settings the running
// box's public handler gives a client are the ones that log in. The test
// reads the autoconfig XML as Thunderbird does (%EMAILADDRESS% replaced by
// the address typed), then logs in with every IMAP server it lists over
// go-imap, with the POP3 one over Python's poplib, and sends one message
// through every SMTP server over go-smtp, each with the security the XML
// names. The status page is not on the
// public port.
func TestSettingsFromAutoconfigLogIn(t *testing.T) {
	cfg := testConfig(t)
	free := "127.0.0.1:0"
	cfg.Listen = config.Listeners{SMTP: free, Submission: free, Submissions: free, IMAP: free, IMAPS: free,
		POP3S: free, Web: free, Public: free}
	r, password := startDemo(t, cfg)
	base := "http://" + r.addr(t, ServicePublic)

	resp, err := http.Get(base + "/mail/config-v1.1.xml?emailaddress=" + config.DemoUser)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var cc struct {
		Provider struct {
			Incoming []autoconfigServer `xml:"incomingServer"`
			Outgoing []autoconfigServer `xml:"outgoingServer"`
		} `xml:"emailProvider"`
	}
	if err := xml.Unmarshal(body, &cc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v\n%s", resp.StatusCode, err, body)
	}
	// What is on, on the ports it is bound to: IMAP both ways, POP3 over
	// TLS only (listen.pop3 is off), submission both ways.
	wantPorts := map[string]string{
		"imap SSL": ServiceIMAPS, "imap STARTTLS": ServiceIMAP, "pop3 SSL": ServicePOP3S,
		"smtp SSL": ServiceSubmissions, "smtp STARTTLS": ServiceSubmission,
	}
	all := append(cc.Provider.Incoming, cc.Provider.Outgoing...)
	if len(all) != len(wantPorts) {
		t.Fatalf("servers: %+v", all)
	}
	tlsConfig := &tls.Config{InsecureSkipVerify: true} // the dev box's self-signed certificate
	for _, sv := range all {
		name, ok := wantPorts[sv.Type+" "+sv.SocketType]
		_, port, _ := net.SplitHostPort(r.addr(t, name))
		if !ok || strconv.Itoa(sv.Port) != port || sv.Hostname != cfg.Hostname || sv.Username != "%EMAILADDRESS%" {
			t.Errorf("server %+v; want %s on port %s, host %s", sv, name, port, cfg.Hostname)
			continue
		}
		user := strings.ReplaceAll(sv.Username, "%EMAILADDRESS%", config.DemoUser)
		addr := net.JoinHostPort(sv.Hostname, strconv.Itoa(sv.Port))
		switch sv.Type {
		case "imap":
			var c *imapclient.Client
			if sv.SocketType == "SSL" {
				c, err = imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: tlsConfig})
			} else {
				c, err = imapclient.DialStartTLS(addr, &imapclient.Options{TLSConfig: tlsConfig})
			}
			if err != nil {
				t.Fatalf("%s: %v", addr, err)
			}
			if err := c.Login(user, password).Wait(); err != nil {
				t.Errorf("IMAP %s %s: login: %v", addr, sv.SocketType, err)
			}
			c.Logout().Wait()
			c.Close()
		case "pop3":
			// No POP3 client in Go's world: Python's poplib, as a script would.
			out, err := exec.Command("python3", "-c", `import poplib,ssl,sys
p = poplib.POP3_SSL(sys.argv[1], int(sys.argv[2]), context=ssl._create_unverified_context())
p.user(sys.argv[3]); p.pass_(sys.argv[4]); print(p.stat()[0] >= 0); p.quit()`, sv.Hostname, strconv.Itoa(sv.Port), user, password).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "True" {
				t.Errorf("POP3 %s %s: %v\n%s", addr, sv.SocketType, err, out)
			}
		case "smtp":
			var c *smtp.Client
			if sv.SocketType == "SSL" {
				c, err = smtp.DialTLS(addr, tlsConfig)
			} else {
				c, err = smtp.DialStartTLS(addr, tlsConfig)
			}
			if err != nil {
				t.Fatalf("%s: %v", addr, err)
			}
			if err := c.Auth(sasl.NewPlainClient("", user, password)); err != nil {
				t.Errorf("SMTP %s %s: AUTH: %v", addr, sv.SocketType, err)
			} else if err := c.SendMail(user, []string{user}, strings.NewReader("From: "+user+"\r\nTo: "+user+"\r\nSubject: set up by autoconfig\r\n\r\nIt works.\r\n")); err != nil {
				t.Errorf("SMTP %s: send: %v", addr, err)
			}
			c.Quit()
		}
	}

	// Outlook's form of the same: the ports agree.
	resp, err = http.Post(base+"/Autodiscover/Autodiscover.xml", "text/xml", strings.NewReader(
		`<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>`+
			config.DemoUser+`</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	_, imaps, _ := net.SplitHostPort(r.addr(t, ServiceIMAPS))
	if !bytes.Contains(body, []byte("<Port>"+imaps+"</Port>")) || !bytes.Contains(body, []byte("<LoginName>"+config.DemoUser+"</LoginName>")) {
		t.Errorf("autodiscover:\n%s", body)
	}

	// The public port answers nothing of the LAN pages.
	for _, path := range []string{"/", "/status.json", "/display.png"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("public %s: %d", path, resp.StatusCode)
		}
	}
}

type autoconfigServer struct {
	Type       string `xml:"type,attr"`
	Hostname   string `xml:"hostname"`
	Port       int    `xml:"port"`
	SocketType string `xml:"socketType"`
	Username   string `xml:"username"`
}

// TestClientSetupPageLinks: the set-up page the runner renders carries QR
// links under the public handler's address and the configured ports, and
// the runner's public handler serves each profile once.
func TestClientSetupPageLinks(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hostname = "mail.example.test"
	cfg.Listen = config.Listeners{Submissions: ":465", IMAPS: ":993", POP3S: ":995", Public: "127.0.0.1:0"}
	rn, ln := servePublic(t, cfg)

	page, err := rn.clientSetupPage(autoconfig.Account{Address: config.DemoUser, POPRetentionDays: 14})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<code>993</code>", "<code>995</code>", "<code>465</code>", "for 14 days after the download"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	links := regexp.MustCompile(`http://mail\.example\.test:`+port+`/p/[A-Z2-7]+`).FindAllString(string(page), -1)
	if len(links) != 4 { // href and text, IMAP and POP3
		t.Fatalf("links %q in:\n%s", links, page)
	}
	for i, link := range []string{links[0], links[0], links[2]} {
		// The phone reaches mail.example.test; here that is the listener.
		resp, err := http.Get("http://" + ln.Addr().String() + link[strings.Index(link, "/p/"):])
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := 200
		if i == 1 {
			want = 404 // used
		}
		if resp.StatusCode != want || (want == 200 && !bytes.Contains(body, []byte("<integer>993</integer>")) && !bytes.Contains(body, []byte("<integer>995</integer>"))) {
			t.Errorf("%s: %d\n%s", link, resp.StatusCode, body)
		}
	}
}

// servePublic runs only the runner's public service, on cfg.Listen.Public,
// with the status saying where it listens.
func servePublic(t *testing.T, cfg config.Config) (*runner, net.Listener) {
	t.Helper()
	bus := status.NewBus(status.Snapshot{})
	rn := &runner{cfg: cfg, bus: bus, log: slog.New(slog.DiscardHandler)}
	cm, err := certs.New(certs.Options{Dir: t.TempDir(), Hostname: cfg.Hostname, Logger: rn.log})
	if err != nil {
		t.Fatal(err)
	}
	rn.certs = cm
	sv := rn.publicServices()[0]
	ln, err := net.Listen("tcp", cfg.Listen.Public)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sv.serve(ln) }()
	t.Cleanup(func() {
		sv.shutdown(context.Background())
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	bus.Update(func(s *status.Snapshot) {
		s.SetService(status.Service{Name: ServicePublic, Addr: ln.Addr().String(), State: status.ServiceListening})
	})
	return rn, ln
}

// TestPublicConnectionBound: idle connections from one address cannot
// hold more than publicPerAddr sockets; the next one is told 503 in HTTP,
// and another address is still served.
func TestPublicConnectionBound(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = config.Listeners{IMAPS: ":993", Submissions: ":465", Public: "127.0.0.1:0"}
	_, ln := servePublic(t, cfg)
	addr := ln.Addr().String()
	dial := func(ip string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(time.Minute))
		t.Cleanup(func() { c.Close() })
		return c
	}
	for range publicPerAddr {
		dial("127.0.0.7") // idle: sends nothing
	}
	// The front admits in its accept loop: once the refusal comes, every
	// idle one before it was counted.
	extra := dial("127.0.0.7")
	resp, err := http.ReadResponse(bufio.NewReader(extra), nil)
	if err != nil {
		t.Fatalf("the connection over the bound: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(body), "too many connections from your address") {
		t.Errorf("over the bound: %d %q", resp.StatusCode, body)
	}
	other := dial("127.0.0.8")
	io.WriteString(other, "GET /mail/config-v1.1.xml HTTP/1.1\r\nHost: autoconfig.example.test\r\nConnection: close\r\n\r\n")
	resp, err = http.ReadResponse(bufio.NewReader(other), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("another address: %v %v", resp, err)
	}
}

// TestClientSetupFromStore: the page the web UI mounts reads the account's
// POP3 retention from the store, and refuses an account that does not exist.
func TestClientSetupFromStore(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = config.Listeners{IMAPS: ":993", POP3S: ":995", Submissions: ":465", Public: "127.0.0.1:0"}
	rn, _ := servePublic(t, cfg)
	st, err := storage.Open(storage.Options{Dir: filepath.Join(t.TempDir(), "store")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(context.Background()); err != nil {
			t.Error(err)
		}
		st.Close()
	})
	if _, err := st.CreateAccount("bob@example.test", "password-bob"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetPOPRetention("bob@example.test", 3); err != nil {
		t.Fatal(err)
	}
	page, err := clientSetup{rn, st}.SetupPage("Bob@Example.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Set up your mail program for bob@example.test", "for 3 days after the download", "/p/"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if _, err := (clientSetup{rn, st}).SetupPage("nobody@example.test"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
}
