package autoconfig_test

import (
	"encoding/xml"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"postroom/webui/autoconfig"
)

// FuzzAutodiscover: whatever the body, the answer is HTTP 200 and a
// readable Autodiscover document, either settings for an address of ours
// or one of the three errors.
func FuzzAutodiscover(f *testing.F) {
	f.Add(adRequest("anna@example.org", outlookNS))
	f.Add(adRequest("anna@gmail.com", ""))
	f.Add(`<!DOCTYPE a [<!ENTITY b "c">]><Autodiscover><Request><EMailAddress>&b;</EMailAddress></Request></Autodiscover>`)
	f.Add("<Autodiscover><Request><EMailAddress>a@b\x00c</EMailAddress>")
	s := testSettings()
	h := autoconfig.New(autoconfig.Options{Settings: func() autoconfig.Settings { return s }, Logger: slog.New(slog.DiscardHandler)})
	f.Fuzz(func(t *testing.T, body string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/autodiscover/autodiscover.xml", strings.NewReader(body)))
		if w.Code != 200 {
			t.Fatalf("HTTP %d", w.Code)
		}
		var r adResponse
		if err := xml.Unmarshal(w.Body.Bytes(), &r); err != nil {
			t.Fatalf("unreadable answer: %v\n%s", err, w.Body.Bytes())
		}
		if e := r.Response.Error; e != nil {
			if e.ErrorCode != 500 && e.ErrorCode != 600 && e.ErrorCode != 601 {
				t.Fatalf("error %d", e.ErrorCode)
			}
			return
		}
		if len(r.Response.Account.Protocol) != 6 {
			t.Fatalf("settings with %d protocols", len(r.Response.Account.Protocol))
		}
		login := r.Response.Account.Protocol[0].LoginName
		if _, d, err := autoconfig.ParseAddress(login); err != nil || !s.Ours(d) {
			t.Fatalf("settings for %q", login)
		}
	})
}

// FuzzParseAddress: a parsed address parses to itself, in lower case,
// with an ASCII domain.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"anna@example.org", "Anna@Bücher.Example", "a+b@x.", "@x", "a@", "a@b@c", "ä@ß.de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		addr, domain, err := autoconfig.ParseAddress(in)
		if err != nil {
			return
		}
		again, d2, err := autoconfig.ParseAddress(addr)
		if err != nil || again != addr || d2 != domain {
			t.Fatalf("%q -> %q -> %q, %v", in, addr, again, err)
		}
		if !strings.HasSuffix(addr, "@"+domain) || strings.ToLower(addr) != addr {
			t.Fatalf("%q -> %q (%q)", in, addr, domain)
		}
		for _, r := range domain {
			if r > 0x7f {
				t.Fatalf("domain %q is not ASCII", domain)
			}
		}
	})
}
