package public

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"postroom/webui/autoconfig"
)

// BenchmarkEndpoints: one request to each client set-up endpoint through
// the public handler (rate limiter included, its burst set out of reach),
// over HTTP/1.1 keep-alive on 127.0.0.1, from parallel clients. The
// answer's requests per second is 1e9 / ns/op.
func BenchmarkEndpoints(b *testing.B) {
	const host = "mail.example.org"
	s := autoconfig.Settings{Hostname: host, Domains: []string{"example.org"}}
	for _, p := range []struct {
		proto autoconfig.Protocol
		port  int
		sec   autoconfig.Security
	}{{autoconfig.IMAP, 993, autoconfig.TLS}, {autoconfig.IMAP, 143, autoconfig.STARTTLS}, {autoconfig.POP3, 995, autoconfig.TLS},
		{autoconfig.POP3, 110, autoconfig.STARTTLS}, {autoconfig.SMTP, 465, autoconfig.TLS}, {autoconfig.SMTP, 587, autoconfig.STARTTLS}} {
		s.Servers = append(s.Servers, autoconfig.Server{Protocol: p.proto, Host: host, Port: p.port, Security: p.sec})
	}
	quiet := slog.New(slog.DiscardHandler)
	srv := httptest.NewServer(New(Options{
		Autoconfig: autoconfig.New(autoconfig.Options{Settings: func() autoconfig.Settings { return s }, Logger: quiet}),
		Logger:     quiet, PerSecond: 1e9, Burst: 1e9,
	}))
	defer srv.Close()
	adBody := `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>anna@example.org</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
	for _, c := range []struct{ name, method, path, body string }{
		{"thunderbird", "GET", "/mail/config-v1.1.xml?emailaddress=anna%40example.org", ""},
		{"autodiscover-xml", "POST", "/autodiscover/autodiscover.xml", adBody},
		{"autodiscover-json", "GET", "/autodiscover/autodiscover.json/v1.0/anna@example.org?Protocol=AutodiscoverV1", ""},
		{"mobileconfig", "GET", "/profile/mail.mobileconfig?emailaddress=anna%40example.org&protocol=imap", ""},
		{"not-found", "GET", "/status.json", ""},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
				for pb.Next() {
					req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 && c.name != "not-found" {
						b.Fatalf("%s: %d", c.name, resp.StatusCode)
					}
				}
			})
		})
	}
}
