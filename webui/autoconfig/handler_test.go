package autoconfig_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"postroom/internal/testutil"
	"postroom/webui/autoconfig"
)

// The box of these tests: standard ports, two domains (one an IDN).
func testSettings() autoconfig.Settings {
	const host = "mail.example.org"
	return autoconfig.Settings{
		Hostname: host,
		Domains:  []string{"example.org", "xn--bcher-kva.example"},
		Servers: []autoconfig.Server{
			{Protocol: autoconfig.IMAP, Host: host, Port: 143, Security: autoconfig.STARTTLS},
			{Protocol: autoconfig.IMAP, Host: host, Port: 993, Security: autoconfig.TLS},
			{Protocol: autoconfig.POP3, Host: host, Port: 995, Security: autoconfig.TLS},
			{Protocol: autoconfig.POP3, Host: host, Port: 110, Security: autoconfig.STARTTLS},
			{Protocol: autoconfig.SMTP, Host: host, Port: 587, Security: autoconfig.STARTTLS},
			{Protocol: autoconfig.SMTP, Host: host, Port: 465, Security: autoconfig.TLS},
		},
	}
}

type box struct {
	url   string
	links *autoconfig.Links
	clock *testutil.Clock
}

func startBox(t *testing.T) *box {
	t.Helper()
	clock := testutil.NewClock(time.Date(2026, 10, 25, 1, 59, 0, 0, time.UTC))
	links := autoconfig.NewLinks(clock.Now)
	s := testSettings()
	srv := httptest.NewServer(autoconfig.New(autoconfig.Options{
		Settings: func() autoconfig.Settings { return s },
		Links:    links, Now: clock.Now, Logger: slog.New(slog.DiscardHandler),
	}))
	t.Cleanup(srv.Close)
	return &box{url: srv.URL, links: links, clock: clock}
}

// do sends one request with the given Host header and returns status and body.
func (b *box) do(t *testing.T, method, host, path, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, b.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if body != "" {
		req.Header.Set("Content-Type", "text/xml")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, got
}

// Thunderbird's config-v1.1 as its format page documents it.
type clientConfig struct {
	XMLName  xml.Name `xml:"clientConfig"`
	Version  string   `xml:"version,attr"`
	Provider struct {
		ID       string     `xml:"id,attr"`
		Domains  []string   `xml:"domain"`
		Incoming []tbServer `xml:"incomingServer"`
		Outgoing []tbServer `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

type tbServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Username       string `xml:"username"`
	Authentication string `xml:"authentication"`
}

func (s tbServer) String() string {
	return fmt.Sprintf("%s %s:%d %s %s %s", s.Type, s.Hostname, s.Port, s.SocketType, s.Username, s.Authentication)
}

func TestThunderbird(t *testing.T) {
	b := startBox(t)
	want := []string{
		"imap mail.example.org:993 SSL %EMAILADDRESS% password-cleartext",
		"imap mail.example.org:143 STARTTLS %EMAILADDRESS% password-cleartext",
		"pop3 mail.example.org:995 SSL %EMAILADDRESS% password-cleartext",
		"pop3 mail.example.org:110 STARTTLS %EMAILADDRESS% password-cleartext",
	}
	wantOut := []string{
		"smtp mail.example.org:465 SSL %EMAILADDRESS% password-cleartext",
		"smtp mail.example.org:587 STARTTLS %EMAILADDRESS% password-cleartext",
	}
	var first []byte
	for _, c := range []struct{ host, path, provider string }{
		{"autoconfig.example.org", "/mail/config-v1.1.xml?emailaddress=anna%40example.org", "example.org"},
		{"example.org", "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=anna%40example.org", "example.org"},
		// Unknown, upper case, plus-tagged: the same answer.
		{"autoconfig.example.org", "/mail/config-v1.1.xml?emailaddress=nobody-here%40example.org", "example.org"},
		{"autoconfig.example.org", "/mail/config-v1.1.xml?emailaddress=Anna%2Bnews%40EXAMPLE.ORG", "example.org"},
		// Without an address: the domain of the Host.
		{"autoconfig.example.org", "/mail/config-v1.1.xml", "example.org"},
		// A Unicode domain is the box's IDN domain.
		{"autoconfig.xn--bcher-kva.example", "/mail/config-v1.1.xml?emailaddress=anna%40b%C3%BCcher.example", "xn--bcher-kva.example"},
	} {
		code, hdr, body := b.do(t, "GET", c.host, c.path, "")
		if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/xml") {
			t.Fatalf("%s%s: %d %s\n%s", c.host, c.path, code, hdr.Get("Content-Type"), body)
		}
		var cc clientConfig
		if err := xml.Unmarshal(body, &cc); err != nil {
			t.Fatalf("%s: %v\n%s", c.path, err, body)
		}
		if cc.Version != "1.1" || cc.Provider.ID != c.provider || strings.Join(cc.Provider.Domains, ",") != "example.org,xn--bcher-kva.example" {
			t.Errorf("%s: version %q provider %q domains %v", c.path, cc.Version, cc.Provider.ID, cc.Provider.Domains)
		}
		checkServers(t, c.path+" incoming", cc.Provider.Incoming, want)
		checkServers(t, c.path+" outgoing", cc.Provider.Outgoing, wantOut)
		if c.provider == "example.org" {
			if first == nil {
				first = body
			} else if !bytes.Equal(first, body) {
				t.Errorf("%s: the answer differs from the first one's:\n%s\n%s", c.path, first, body)
			}
		}
	}
	for _, path := range []string{
		"/mail/config-v1.1.xml?emailaddress=anna%40gmail.com",           // not ours
		"/mail/config-v1.1.xml?emailaddress=example.org",                // no local part
		"/mail/config-v1.1.xml?emailaddress=%3Cscript%3E%40example.org", // no address
	} {
		if code, _, body := b.do(t, "GET", "autoconfig.example.org", path, ""); code != 404 {
			t.Errorf("%s: %d, want 404\n%s", path, code, body)
		}
	}
}

func checkServers(t *testing.T, what string, got []tbServer, want []string) {
	t.Helper()
	var s []string
	for _, g := range got {
		s = append(s, g.String())
	}
	if strings.Join(s, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got %q\nwant %q", what, s, want)
	}
}

// Outlook's POX response as MS-OXDSCLI 2.2.4 documents it, namespaces
// included: a Response in the outlook/2006a namespace is what Outlook reads.
type adResponse struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response struct {
		XMLName xml.Name
		Account struct {
			AccountType string
			Action      string
			Protocol    []struct {
				Type, Server string
				Port         int
				LoginName    string
				SPA, SSL     string
				Encryption   string
				AuthRequired string
			}
		}
		Error *struct {
			ErrorCode int
			Message   string
		}
	}
}

const outlookNS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"

func adRequest(addr, schema string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>` + addr + `</EMailAddress>
    <AcceptableResponseSchema>` + schema + `</AcceptableResponseSchema>
  </Request>
</Autodiscover>`
}

func postAutodiscover(t *testing.T, b *box, path, body string) (adResponse, []byte) {
	t.Helper()
	code, _, got := b.do(t, "POST", "autodiscover.example.org", path, body)
	if code != 200 {
		t.Fatalf("POST %s: %d\n%s", path, code, got)
	}
	var r adResponse
	if err := xml.Unmarshal(got, &r); err != nil {
		t.Fatalf("POST %s: %v\n%s", path, err, got)
	}
	return r, got
}

func TestAutodiscoverXML(t *testing.T) {
	b := startBox(t)
	want := []string{
		"IMAP mail.example.org:993 login=anna@example.org SPA=off SSL=on enc=SSL auth=on",
		"IMAP mail.example.org:143 login=anna@example.org SPA=off SSL=on enc=TLS auth=on",
		"POP3 mail.example.org:995 login=anna@example.org SPA=off SSL=on enc=SSL auth=on",
		"POP3 mail.example.org:110 login=anna@example.org SPA=off SSL=on enc=TLS auth=on",
		"SMTP mail.example.org:465 login=anna@example.org SPA=off SSL=on enc=SSL auth=on",
		"SMTP mail.example.org:587 login=anna@example.org SPA=off SSL=on enc=TLS auth=on",
	}
	for _, path := range []string{"/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml", "/AUTODISCOVER/AUTODISCOVER.XML"} {
		for _, addr := range []string{"anna@example.org", "ANNA@Example.Org", " anna@example.org "} {
			r, raw := postAutodiscover(t, b, path, adRequest(addr, outlookNS))
			if r.Response.XMLName.Space != outlookNS || r.Response.Error != nil {
				t.Fatalf("%s %s: not an outlook settings response:\n%s", path, addr, raw)
			}
			a := r.Response.Account
			if a.AccountType != "email" || a.Action != "settings" {
				t.Errorf("AccountType %q Action %q", a.AccountType, a.Action)
			}
			var got []string
			for _, p := range a.Protocol {
				got = append(got, fmt.Sprintf("%s %s:%d login=%s SPA=%s SSL=%s enc=%s auth=%s", p.Type, p.Server, p.Port, p.LoginName, p.SPA, p.SSL, p.Encryption, p.AuthRequired))
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s %q:\n got %q\nwant %q", path, addr, got, want)
			}
		}
	}
	// An unknown address gets the same shape, with its own login.
	_, known := postAutodiscover(t, b, PathAD, adRequest("anna@example.org", outlookNS))
	_, unknown := postAutodiscover(t, b, PathAD, adRequest("zed@example.org", outlookNS))
	if !bytes.Equal(bytes.ReplaceAll(unknown, []byte("zed@"), []byte("anna@")), known) {
		t.Errorf("unknown address answered differently:\n%s\n%s", known, unknown)
	}
	// No schema given: Outlook's is assumed.
	if r, _ := postAutodiscover(t, b, PathAD, adRequest("anna@example.org", "")); len(r.Response.Account.Protocol) != 6 {
		t.Errorf("without AcceptableResponseSchema: %d protocols", len(r.Response.Account.Protocol))
	}
}

const PathAD = "/autodiscover/autodiscover.xml"

// TestAutodiscoverBadInput: every bad request gets a clear Autodiscover
// error, quickly, and an entity bomb expands nothing.
func TestAutodiscoverBadInput(t *testing.T) {
	b := startBox(t)
	bomb := `<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;">]>
<Autodiscover><Request><EMailAddress>&lol9;@example.org</EMailAddress></Request></Autodiscover>`
	external := `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>`
	for _, c := range []struct {
		name, body string
		code       int
	}{
		{"entity bomb", bomb, 600},
		{"external entity", external, 600},
		{"not XML", "EMailAddress=anna@example.org", 600},
		{"empty", " ", 600},
		{"no address", adRequest("", outlookNS), 600},
		{"oversized", adRequest("anna@example.org"+strings.Repeat(" ", 9000), outlookNS), 600},
		{"truncated", adRequest("anna@example.org", outlookNS)[:120], 600},
		{"ActiveSync", adRequest("anna@example.org", "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"), 601},
		{"not ours", adRequest("anna@gmail.com", outlookNS), 500},
		{"not an address", adRequest("anna", outlookNS), 500},
	} {
		r, raw := postAutodiscover(t, b, PathAD, c.body)
		if r.Response.Error == nil || r.Response.Error.ErrorCode != c.code || r.Response.Error.Message == "" {
			t.Errorf("%s: want error %d:\n%s", c.name, c.code, raw)
		}
		if bytes.Contains(raw, []byte("root:")) || bytes.Contains(raw, []byte("lollol")) {
			t.Errorf("%s: the answer carries the entity:\n%s", c.name, raw)
		}
	}
	if code, hdr, _ := b.do(t, "GET", "", PathAD, ""); code != 405 || hdr.Get("Allow") != "POST" {
		t.Errorf("GET %s: %d Allow %q", PathAD, code, hdr.Get("Allow"))
	}
}

func TestAutodiscoverJSON(t *testing.T) {
	b := startBox(t)
	type answer struct {
		Protocol, Url, ErrorCode, ErrorMessage string
	}
	for _, c := range []struct {
		host, path string
		code       int
		want       answer
	}{
		{"autodiscover.example.org", "/autodiscover/autodiscover.json?Email=anna%40example.org&Protocol=AutodiscoverV1", 200,
			answer{Protocol: "AutodiscoverV1", Url: "https://autodiscover.example.org/autodiscover/autodiscover.xml"}},
		{"example.org", "/autodiscover/autodiscover.json/v1.0/anna@example.org?Protocol=AutodiscoverV1", 200,
			answer{Protocol: "AutodiscoverV1", Url: "https://example.org/autodiscover/autodiscover.xml"}},
		// Outlook 2019's spelling; an unknown address; a foreign Host is
		// not echoed into the URL.
		{"evil.test", "/Autodiscover/Autodiscover.json/v1.0/nobody%40example.org?Protocol=Autodiscoverv1&RedirectCount=1", 200,
			answer{Protocol: "AutodiscoverV1", Url: "https://mail.example.org/autodiscover/autodiscover.xml"}},
		{"example.org", "/autodiscover/autodiscover.json?Email=anna%40example.org&Protocol=ActiveSync", 400,
			answer{ErrorCode: "InvalidProtocol", ErrorMessage: "The given protocol value 'ActiveSync' is invalid. Supported values are 'AutodiscoverV1'"}},
		{"example.org", "/autodiscover/autodiscover.json/v1.0/anna@gmail.com?Protocol=AutodiscoverV1", 404,
			answer{ErrorCode: "InvalidUser", ErrorMessage: "The email address cannot be found."}},
	} {
		code, hdr, body := b.do(t, "GET", c.host, c.path, "")
		var got answer
		if err := json.Unmarshal(body, &got); err != nil || code != c.code || got != c.want || hdr.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("%s%s: %d %+v (%v)\nwant %d %+v", c.host, c.path, code, got, err, c.code, c.want)
		}
	}
}

// parsePlist reads an XML property list into maps, slices, strings, ints
// and bools, failing on anything the format does not allow.
func parsePlist(t *testing.T, b []byte) map[string]any {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var value func(start xml.StartElement) any
	next := func() (xml.StartElement, bool) {
		for {
			tok, err := d.Token()
			if err != nil {
				t.Fatalf("plist: %v", err)
			}
			switch tok := tok.(type) {
			case xml.StartElement:
				return tok, true
			case xml.EndElement:
				return xml.StartElement{}, false
			}
		}
	}
	text := func() string {
		var s string
		if err := d.DecodeElement(&s, nil); err != nil {
			t.Fatal(err)
		}
		return s
	}
	value = func(st xml.StartElement) any {
		switch st.Name.Local {
		case "dict":
			m := map[string]any{}
			for {
				k, ok := next()
				if !ok {
					return m
				}
				if k.Name.Local != "key" {
					t.Fatalf("plist: %s where a key belongs", k.Name.Local)
				}
				var key string
				d.DecodeElement(&key, &k)
				v, _ := next()
				m[key] = value(v)
			}
		case "array":
			var a []any
			for {
				v, ok := next()
				if !ok {
					return a
				}
				a = append(a, value(v))
			}
		case "string":
			var s string
			d.DecodeElement(&s, &st)
			return s
		case "integer":
			var s string
			d.DecodeElement(&s, &st)
			n, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("plist integer %q", s)
			}
			return n
		case "true", "false":
			d.Skip()
			return st.Name.Local == "true"
		}
		t.Fatalf("plist: unexpected <%s>", st.Name.Local)
		_ = text
		return nil
	}
	root, _ := next()
	if root.Name.Local != "plist" {
		t.Fatalf("root <%s>", root.Name.Local)
	}
	top, _ := next()
	m, ok := value(top).(map[string]any)
	if !ok {
		t.Fatal("plist root is not a dict")
	}
	return m
}

func TestProfile(t *testing.T) {
	b := startBox(t)
	for _, c := range []struct {
		proto, kind string
		inPort      int
	}{{"imap", "EmailTypeIMAP", 993}, {"pop3", "EmailTypePOP", 995}, {"IMAP", "EmailTypeIMAP", 993}} {
		code, hdr, body := b.do(t, "GET", "example.org", "/profile/mail.mobileconfig?emailaddress=Anna%40example.org&protocol="+c.proto, "")
		if code != 200 || hdr.Get("Content-Type") != "application/x-apple-aspen-config" ||
			!strings.Contains(hdr.Get("Content-Disposition"), `anna-`+strings.ToLower(c.proto)+`.mobileconfig`) {
			t.Fatalf("%s: %d %v\n%s", c.proto, code, hdr, body)
		}
		checkProfile(t, body, c.kind, c.inPort)
		if c.proto == "pop3" {
			checkPlistlib(t, body) // once: python starts slowly on a busy machine
		}
	}
	for _, q := range []string{"emailaddress=anna%40gmail.com", "emailaddress=anna%40example.org&protocol=smtp", "emailaddress=nonsense"} {
		if code, _, _ := b.do(t, "GET", "", "/profile/mail.mobileconfig?"+q, ""); code == 200 {
			t.Errorf("%s: 200", q)
		}
	}
}

func checkProfile(t *testing.T, body []byte, kind string, inPort int) {
	t.Helper()
	top := parsePlist(t, body)
	if top["PayloadType"] != "Configuration" || top["PayloadVersion"] != 1 || top["PayloadUUID"] == "" || top["PayloadIdentifier"] == "" {
		t.Errorf("top level: %v", top)
	}
	content, _ := top["PayloadContent"].([]any)
	if len(content) != 1 {
		t.Fatalf("PayloadContent: %v", top["PayloadContent"])
	}
	mail := content[0].(map[string]any)
	want := map[string]any{
		"PayloadType":                            "com.apple.mail.managed",
		"PayloadVersion":                         1,
		"EmailAccountType":                       kind,
		"EmailAddress":                           "anna@example.org",
		"IncomingMailServerHostName":             "mail.example.org",
		"IncomingMailServerPortNumber":           inPort,
		"IncomingMailServerUseSSL":               true,
		"IncomingMailServerUsername":             "anna@example.org",
		"IncomingMailServerAuthentication":       "EmailAuthPassword",
		"OutgoingMailServerHostName":             "mail.example.org",
		"OutgoingMailServerPortNumber":           465,
		"OutgoingMailServerUseSSL":               true,
		"OutgoingMailServerUsername":             "anna@example.org",
		"OutgoingMailServerAuthentication":       "EmailAuthPassword",
		"OutgoingPasswordSameAsIncomingPassword": true,
	}
	for k, v := range want {
		if mail[k] != v {
			t.Errorf("%s = %#v, want %#v", k, mail[k], v)
		}
	}
	for k := range mail {
		if strings.Contains(k, "Password") && k != "OutgoingPasswordSameAsIncomingPassword" {
			t.Errorf("the profile carries %s", k)
		}
	}
	if mail["PayloadUUID"] == top["PayloadUUID"] {
		t.Error("the payloads share a UUID")
	}
}

// checkPlistlib reads the profile with Python's plistlib, Apple's format
// as another implementation reads it.
func checkPlistlib(t *testing.T, body []byte) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Log("no python3: plistlib check skipped")
		return
	}
	cmd := exec.Command(py, "-c", `import plistlib,sys
p = plistlib.loads(sys.stdin.buffer.read())
m = p["PayloadContent"][0]
assert p["PayloadType"] == "Configuration", p
assert m["PayloadType"] == "com.apple.mail.managed", m
assert isinstance(m["IncomingMailServerPortNumber"], int) and m["IncomingMailServerUseSSL"] is True, m
assert not any("Password" in k and k != "OutgoingPasswordSameAsIncomingPassword" for k in m), m
print("ok")`)
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Errorf("plistlib: %v\n%s", err, out)
	}
}

func TestOneTimeLink(t *testing.T) {
	b := startBox(t)
	token, expires, err := b.links.New("anna@example.org", autoconfig.POP3)
	if err != nil {
		t.Fatal(err)
	}
	if got := expires.Sub(b.clock.Now()); got != 15*time.Minute {
		t.Errorf("expires in %v", got)
	}
	if code, _, _ := b.do(t, "HEAD", "", "/p/"+token, ""); code != 404 {
		t.Errorf("HEAD: %d", code)
	}
	code, _, body := b.do(t, "GET", "", "/p/"+token, "")
	if code != 200 {
		t.Fatalf("first use: %d %s", code, body)
	}
	checkProfile(t, body, "EmailTypePOP", 995)
	if code, _, body := b.do(t, "GET", "", "/p/"+token, ""); code != 404 || !strings.Contains(string(body), "used or has expired") {
		t.Errorf("second use: %d %s", code, body)
	}
	// Expiry: a link works until 15 minutes have passed, not after.
	early, _, _ := b.links.New("anna@example.org", autoconfig.IMAP)
	late, _, _ := b.links.New("anna@example.org", autoconfig.IMAP)
	b.clock.Advance(15*time.Minute - time.Second)
	if code, _, _ := b.do(t, "GET", "", "/p/"+early, ""); code != 200 {
		t.Errorf("at 14:59: %d", code)
	}
	b.clock.Advance(time.Second)
	if code, _, _ := b.do(t, "GET", "", "/p/"+late, ""); code != 404 {
		t.Errorf("at 15:00: %d", code)
	}
	if code, _, _ := b.do(t, "GET", "", "/p/NOSUCHTOKEN", ""); code != 404 {
		t.Errorf("made-up token: %d", code)
	}
}

// TestNothingElse: the handler answers its own paths only.
func TestNothingElse(t *testing.T) {
	b := startBox(t)
	for _, c := range []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/status.json"}, {"GET", "/display.png"}, {"GET", "/factory-reset"},
		{"POST", "/factory-reset"}, {"GET", "/admin"}, {"GET", "/login"}, {"GET", "/mail/"},
		{"GET", "/mail/config-v1.1.xml/../../status.json"}, {"GET", "/.well-known/acme-challenge/x"},
		{"GET", "/profile/other.mobileconfig"}, {"GET", "/p/"}, {"POST", "/mail/config-v1.1.xml"},
		{"GET", "/autodiscover/autodiscover.json/v2.0/anna@example.org"}, {"DELETE", "/autodiscover/autodiscover.json"},
	} {
		if code, _, body := b.do(t, c.method, "example.org", c.path, ""); code != 404 {
			t.Errorf("%s %s: %d\n%s", c.method, c.path, code, body)
		}
	}
}
