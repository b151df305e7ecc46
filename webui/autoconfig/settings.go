// Package autoconfig tells mail clients how to reach this box, so that a
// person types an address and a password and nothing else. It answers the
// questions each client family asks, all from one Settings value:
//
//	thunderbird.go   Thunderbird (and K-9/Thunderbird for Android, Evolution,
//	                 KMail, FairEmail): GET /mail/config-v1.1.xml and
//	                 /.well-known/autoconfig/mail/config-v1.1.xml
//	autodiscover.go  Outlook: POST /autodiscover/autodiscover.xml (the POX
//	                 form of MS-OXDSCLI) and the JSON form new Outlook asks
//	                 first, GET /autodiscover/autodiscover.json
//	mobileconfig.go  Apple Mail on iPhone, iPad and Mac: a .mobileconfig
//	                 profile per address and protocol, no password, signed
//	                 with the box's certificate when it is a trusted one
//	links.go         one-time links to a profile (15 minutes), for a QR code
//	setuppage.go     the per-user set-up page's content (item 2 of issue 13):
//	                 POP3 against IMAP in plain words, every setting, QR codes
//	handler.go       the routes, for webui/public to serve to the internet
//
// Privacy: the answers do not depend on whether an address has an account.
// Every address in one of the box's domains gets the same answer shape with
// the address as login name, so the endpoints cannot be used to find out
// which accounts exist. An address outside the box's domains is refused
// where the protocol has a way to say "not ours" (Thunderbird: 404, which
// makes it try its other sources; Autodiscover: error 500 "the email address
// cannot be found"; the JSON form: 404; profiles: 404), because a profile or
// settings for someone else's domain would only mislead that client.
//
// The package imports nothing of the appliance: the runner passes a Settings
// function (run_public.go) that reads the configured listeners.
package autoconfig

import (
	"errors"
	"slices"
	"strings"

	"golang.org/x/net/idna"
)

// Protocol is a mail protocol a client is told about.
type Protocol string

const (
	IMAP Protocol = "imap"
	POP3 Protocol = "pop3"
	SMTP Protocol = "smtp" // submission, with login
)

// Security is how a connection is protected.
type Security int

const (
	// TLS from the first byte (993, 995, 465; RFC 8314 prefers these).
	TLS Security = iota + 1
	// STARTTLS (143, 110 with STLS, 587): the client must upgrade before
	// logging in; the servers refuse passwords in the clear from outside.
	STARTTLS
)

func (s Security) String() string {
	if s == TLS {
		return "TLS"
	}
	return "STARTTLS"
}

// Server is one way in: a protocol on a host and port.
type Server struct {
	Protocol Protocol
	Host     string
	Port     int
	Security Security
}

// Settings is what every client is told. The login name is always the full
// address, so it is not part of Settings.
type Settings struct {
	// Hostname is the box's DNS name: the host of every server.
	Hostname string
	// Domains are the box's mail domains (Config.Domains).
	Domains []string
	// Servers lists what is switched on, each protocol's preferred server
	// first (TLS before STARTTLS).
	Servers []Server
	// Fingerprint is the SHA-256 fingerprint of the box's certificate
	// when it is self-signed (mail programs warn about it and show this
	// to compare); "" when the certificate is a trusted one.
	Fingerprint string
}

// Of returns the servers of protocol p, preferred first.
func (s Settings) Of(p Protocol) []Server {
	var out []Server
	for _, sv := range s.Servers {
		if sv.Protocol == p {
			out = append(out, sv)
		}
	}
	slices.SortStableFunc(out, func(a, b Server) int { return int(a.Security) - int(b.Security) })
	return out
}

// Best returns the preferred server of protocol p.
func (s Settings) Best(p Protocol) (Server, bool) {
	all := s.Of(p)
	if len(all) == 0 {
		return Server{}, false
	}
	return all[0], true
}

// Ours reports whether domain (ASCII, any case) is one of the box's.
func (s Settings) Ours(domain string) bool {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	for _, d := range s.Domains {
		if strings.TrimSuffix(strings.ToLower(d), ".") == domain {
			return true
		}
	}
	return false
}

// ownName reports whether host (no port) is a name under which clients
// reach the box: its host name, a domain, or autoconfig./autodiscover. of
// a domain. Used to build absolute URLs without echoing a stranger's Host.
func (s Settings) ownName(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == strings.ToLower(s.Hostname) {
		return true
	}
	for _, prefix := range []string{"", "autoconfig.", "autodiscover."} {
		if rest, ok := strings.CutPrefix(host, prefix); ok && s.Ours(rest) {
			return true
		}
	}
	return false
}

var errAddress = errors.New("not an e-mail address")

// ParseAddress reads an address as a client sends it: spaces trimmed, lower
// case (logins are case-insensitive, storage.NormalizeAddress), and the
// domain in its ASCII form (IDNA), so that "Anna@Bücher.example" is
// compared with the box's domains as "anna@xn--bcher-kva.example". The
// local part is kept as typed, "+tags" included: the login name is what
// the person typed, and the box resolves it as it resolves mail.
func ParseAddress(s string) (addr, domain string, err error) {
	s = strings.ToLower(strings.TrimSpace(s))
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>,;\"\\()[]") ||
		strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return "", "", errAddress
	}
	domain, err = idna.Lookup.ToASCII(strings.TrimSuffix(s[at+1:], "."))
	if err != nil || domain == "" || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", "", errAddress
	}
	return s[:at] + "@" + domain, domain, nil
}
