package autoconfig

import (
	"encoding/xml"
	"net/http"
)

// Thunderbird's autoconfig file, version 1.1: what Thunderbird reads from
// http://autoconfig.DOMAIN/mail/config-v1.1.xml?emailaddress=ADDRESS and
// from DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml (the format of
// its ISPDB, wiki.mozilla.org Thunderbird:Autoconfiguration:ConfigFileFormat).
// The first incomingServer is the one it picks; the others are offered as
// alternatives (IMAP or POP3, TLS or STARTTLS). %EMAILADDRESS% is its
// placeholder for the address the person typed: the login is the full
// address, and the answer is the same for every address of a domain.

type tbClientConfig struct {
	XMLName  xml.Name   `xml:"clientConfig"`
	Version  string     `xml:"version,attr"`
	Provider tbProvider `xml:"emailProvider"`
}

type tbProvider struct {
	ID               string     `xml:"id,attr"`
	Domains          []string   `xml:"domain"`
	DisplayName      string     `xml:"displayName"`
	DisplayShortName string     `xml:"displayShortName"`
	Incoming         []tbServer `xml:"incomingServer"`
	Outgoing         []tbServer `xml:"outgoingServer"`
}

type tbServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"` // "SSL" (TLS from the first byte), "STARTTLS" or "plain"
	Authentication string `xml:"authentication"`
	Username       string `xml:"username"`
}

// tbUsername is Thunderbird's placeholder for the address as typed.
const tbUsername = "%EMAILADDRESS%"

func thunderbirdConfig(s Settings, domain string) tbClientConfig {
	socket := func(sec Security) string {
		if sec == TLS {
			return "SSL"
		}
		return "STARTTLS"
	}
	server := func(sv Server) tbServer {
		return tbServer{Type: string(sv.Protocol), Hostname: sv.Host, Port: sv.Port, SocketType: socket(sv.Security),
			Authentication: "password-cleartext", Username: tbUsername}
	}
	p := tbProvider{ID: domain, Domains: s.Domains, DisplayName: "Mail at " + domain + " (" + s.Hostname + ")", DisplayShortName: domain}
	for _, proto := range []Protocol{IMAP, POP3} {
		for _, sv := range s.Of(proto) {
			p.Incoming = append(p.Incoming, server(sv))
		}
	}
	for _, sv := range s.Of(SMTP) {
		p.Outgoing = append(p.Outgoing, server(sv))
	}
	return tbClientConfig{Version: "1.1", Provider: p}
}

// serveThunderbird answers both autoconfig paths. With ?emailaddress= the
// address's domain must be the box's (404 otherwise: Thunderbird then asks
// its other sources); without one, the domain is taken from the Host
// (autoconfig.DOMAIN or DOMAIN), else the box's first domain.
func (h *Handler) serveThunderbird(w http.ResponseWriter, r *http.Request, s Settings) {
	domain := ""
	if q := r.URL.Query().Get("emailaddress"); q != "" {
		_, d, err := ParseAddress(q)
		if err != nil || !s.Ours(d) {
			h.log.Debug("autoconfig: not one of our domains", "remote", r.RemoteAddr)
			http.NotFound(w, r)
			return
		}
		domain = d
	} else if d := requestDomain(r, s); d != "" {
		domain = d
	} else if len(s.Domains) > 0 {
		domain = s.Domains[0]
	} else {
		http.NotFound(w, r)
		return
	}
	writeXML(w, http.StatusOK, thunderbirdConfig(s, domain))
}

// requestDomain is the box's domain the request's Host names, directly or
// as autoconfig./autodiscover.DOMAIN; "" when it names none.
func requestDomain(r *http.Request, s Settings) string {
	host := hostOnly(r.Host)
	for _, prefix := range []string{"autoconfig.", "autodiscover.", ""} {
		if rest, ok := cutPrefixFold(host, prefix); ok && s.Ours(rest) {
			return rest
		}
	}
	return ""
}

func writeXML(w http.ResponseWriter, code int, v any) {
	b, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(code)
	w.Write([]byte(xml.Header))
	w.Write(b)
	w.Write([]byte("\n"))
}
