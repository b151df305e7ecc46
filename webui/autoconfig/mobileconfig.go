package autoconfig

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
)

// Apple's configuration profile (a property list, Apple's Device
// Management "Mail" payload, type com.apple.mail.managed): one profile per
// address and protocol, IMAP or POP3, each with SMTP for sending. It holds
// no password, so the phone asks for it once when the profile is installed
// (OutgoingPasswordSameAsIncomingPassword: the same one for sending).
//
// The profile is not signed this session: iOS installs it after showing
// "Not Signed" in orange. Signing with the box's certificate (CMS) comes
// with trusted certificates (issue 13, item 5); a self-signed signature
// would still read "Not Verified".
//
// The UUIDs are derived from the host name, address and protocol, so that
// installing the profile again replaces the first one instead of adding a
// second account.

// Profile returns the .mobileconfig for address over proto (IMAP or POP3).
// It fails when the box has no server for proto or none for sending.
func Profile(s Settings, address string, proto Protocol) ([]byte, error) {
	in, ok := s.Best(proto)
	if !ok || (proto != IMAP && proto != POP3) {
		return nil, fmt.Errorf("autoconfig: no %s server is switched on", proto)
	}
	out, ok := s.Best(SMTP)
	if !ok {
		return nil, fmt.Errorf("autoconfig: no submission server is switched on")
	}
	kind, title := "EmailTypeIMAP", "IMAP"
	if proto == POP3 {
		kind, title = "EmailTypePOP", "POP3"
	}
	id := profileID(s.Hostname, address, proto)
	mail := plistDict{
		{"EmailAccountDescription", address},
		{"EmailAccountName", ""},
		{"EmailAccountType", kind},
		{"EmailAddress", address},
		{"IncomingMailServerAuthentication", "EmailAuthPassword"},
		{"IncomingMailServerHostName", in.Host},
		{"IncomingMailServerPortNumber", in.Port},
		// Best picks TLS from the first byte whenever that port is on.
		// With only the STARTTLS port on, "SSL" still asks Mail for an
		// encrypted connection (not tried on a device this session).
		{"IncomingMailServerUseSSL", true},
		{"IncomingMailServerUsername", address},
		{"OutgoingMailServerAuthentication", "EmailAuthPassword"},
		{"OutgoingMailServerHostName", out.Host},
		{"OutgoingMailServerPortNumber", out.Port},
		{"OutgoingMailServerUseSSL", true},
		{"OutgoingMailServerUsername", address},
		{"OutgoingPasswordSameAsIncomingPassword", true},
		{"PayloadDescription", "Reads mail for " + address + " over " + title + " and sends it over SMTP."},
		{"PayloadDisplayName", address + " (" + title + ")"},
		{"PayloadIdentifier", id.ident + ".mail"},
		{"PayloadType", "com.apple.mail.managed"},
		{"PayloadUUID", id.uuid(1)},
		{"PayloadVersion", 1},
	}
	top := plistDict{
		{"PayloadContent", []any{mail}},
		{"PayloadDescription", "Sets up the mail account " + address + " on " + s.Hostname + " (" + title + "). You will be asked for its password."},
		{"PayloadDisplayName", "Mail: " + address + " (" + title + ")"},
		{"PayloadIdentifier", id.ident},
		{"PayloadOrganization", s.Hostname},
		{"PayloadRemovalDisallowed", false},
		{"PayloadType", "Configuration"},
		{"PayloadUUID", id.uuid(0)},
		{"PayloadVersion", 1},
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString(`<plist version="1.0">` + "\n")
	writePlist(&b, top, 0)
	b.WriteString("</plist>\n")
	return b.Bytes(), nil
}

// ProfileFileName is the download name of a profile.
func ProfileFileName(address string, proto Protocol) string {
	local, _, _ := strings.Cut(address, "@")
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, local)
	return clean + "-" + string(proto) + ".mobileconfig"
}

type profileIDs struct {
	ident string
	sum   [32]byte
}

func profileID(host, address string, proto Protocol) profileIDs {
	sum := sha256.Sum256([]byte(host + "\x00" + address + "\x00" + string(proto)))
	labels := strings.Split(strings.ToLower(host), ".")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	return profileIDs{ident: strings.Join(labels, ".") + ".postroom." + hex.EncodeToString(sum[:6]) + "." + string(proto), sum: sum}
}

// uuid is a name-based UUID (RFC 9562 version 8) for payload n.
func (p profileIDs) uuid(n byte) string {
	var u [16]byte
	copy(u[:], p.sum[:16])
	u[15] ^= n
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	h := strings.ToUpper(hex.EncodeToString(u[:]))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// plistDict is a property-list dictionary with its keys in order.
type plistDict []struct {
	key   string
	value any
}

func writePlist(b *bytes.Buffer, v any, depth int) {
	indent := strings.Repeat("\t", depth)
	switch v := v.(type) {
	case plistDict:
		b.WriteString(indent + "<dict>\n")
		for _, kv := range v {
			b.WriteString(indent + "\t<key>")
			xml.EscapeText(b, []byte(kv.key))
			b.WriteString("</key>\n")
			writePlist(b, kv.value, depth+1)
		}
		b.WriteString(indent + "</dict>\n")
	case []any:
		b.WriteString(indent + "<array>\n")
		for _, x := range v {
			writePlist(b, x, depth+1)
		}
		b.WriteString(indent + "</array>\n")
	case string:
		b.WriteString(indent + "<string>")
		xml.EscapeText(b, []byte(v))
		b.WriteString("</string>\n")
	case int:
		fmt.Fprintf(b, "%s<integer>%d</integer>\n", indent, v)
	case bool:
		if v {
			b.WriteString(indent + "<true/>\n")
		} else {
			b.WriteString(indent + "<false/>\n")
		}
	default:
		panic(fmt.Sprintf("plist: no encoding for %T", v))
	}
}

// serveProfile answers GET /profile/mail.mobileconfig?emailaddress=A&protocol=imap|pop3
// for an address of the box's domains.
func (h *Handler) serveProfile(w http.ResponseWriter, r *http.Request, s Settings) {
	addr, domain, err := ParseAddress(r.URL.Query().Get("emailaddress"))
	if err != nil || !s.Ours(domain) {
		http.NotFound(w, r)
		return
	}
	proto := Protocol(strings.ToLower(r.URL.Query().Get("protocol")))
	if proto == "" {
		proto = IMAP
	}
	h.writeProfile(w, r, s, addr, proto)
}

func (h *Handler) writeProfile(w http.ResponseWriter, r *http.Request, s Settings, addr string, proto Protocol) {
	if proto != IMAP && proto != POP3 {
		http.Error(w, "protocol is imap or pop3", http.StatusBadRequest)
		return
	}
	b, err := Profile(s, addr, proto)
	if err != nil {
		h.log.Warn("profile", "err", err)
		http.Error(w, "This box has no "+strings.ToUpper(string(proto))+" or no sending server switched on.", http.StatusNotFound)
		return
	}
	if h.opts.SignProfile != nil {
		// Signed, the phone shows the profile as verified; a failure
		// to sign still gives the person a working (unsigned) profile.
		if signed, err := h.opts.SignProfile(b); err != nil {
			h.log.Warn("profile: not signed", "err", err)
		} else {
			b = signed
		}
	}
	w.Header().Set("Content-Type", "application/x-apple-aspen-config")
	w.Header().Set("Content-Disposition", `attachment; filename="`+ProfileFileName(addr, proto)+`"`)
	w.Write(b)
}
