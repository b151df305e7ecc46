package autoconfig

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"time"

	"github.com/skip2/go-qrcode"
)

// Account is the person a set-up page is for.
type Account struct {
	// Address is the account's login and primary address.
	Address string
	// POPRetentionDays is how long the box keeps a message after a POP3
	// download (storage.Account.POPRetentionDays); 0 keeps it until the
	// person deletes it.
	POPRetentionDays int
}

// SetupPage is the content of one account's client set-up page (issue 13,
// item 2): the choice between IMAP and POP3 in plain words, every setting
// ready to copy, a QR code per protocol that a phone scans to download its
// profile through a one-time link, and short notes per mail program. The
// web UI mounts it behind its login (for the person, and for the
// administrator for every account) and wraps it in its own layout.
type SetupPage struct {
	Account  Account
	Settings Settings
	// Profiles are the one-time profile links, IMAP first.
	Profiles []ProfileLink
}

// ProfileLink is one QR code: a one-time link to a profile.
type ProfileLink struct {
	Protocol Protocol
	URL      string    // e.g. http://mail.example.org/p/TOKEN
	Expires  time.Time // LinkTTL after it was made
	QRPNG    []byte    // the URL as a QR code, a PNG image
}

// NewSetupPage prepares the page of account a: it makes one one-time link
// per protocol that is switched on (IMAP, POP3) in links, under publicBase
// (the public handler as a phone reaches it, "http://HOST" or
// "http://HOST:PORT"), and draws their QR codes. Each page view makes new
// links; old ones expire by themselves.
func NewSetupPage(s Settings, a Account, links *Links, publicBase string) (SetupPage, error) {
	p := SetupPage{Account: a, Settings: s}
	if _, ok := s.Best(SMTP); !ok {
		return p, nil // no profile without a way to send
	}
	for _, proto := range []Protocol{IMAP, POP3} {
		if _, ok := s.Best(proto); !ok {
			continue
		}
		token, expires, err := links.New(a.Address, proto)
		if err != nil {
			return SetupPage{}, fmt.Errorf("set-up page: one-time link: %w", err)
		}
		u := publicBase + PathLink + token
		// Medium error correction (15%): readable from a phone held
		// at an angle to a screen, and still a small code.
		png, err := qrcode.Encode(u, qrcode.Medium, 256)
		if err != nil {
			return SetupPage{}, fmt.Errorf("set-up page: QR code: %w", err)
		}
		p.Profiles = append(p.Profiles, ProfileLink{Protocol: proto, URL: u, Expires: expires, QRPNG: png})
	}
	return p, nil
}

// HTML renders the page's content, a fragment without <html> or <body>.
func (p SetupPage) HTML() (template.HTML, error) {
	var b bytes.Buffer
	if err := setupTemplate.Execute(&b, p); err != nil {
		return "", fmt.Errorf("set-up page: %w", err)
	}
	return template.HTML(b.String()), nil
}

// Rows are the settings of one protocol, for the page's tables.
type settingRow struct {
	Server   string
	Port     int
	Security string
}

func rows(s Settings, proto Protocol) []settingRow {
	var out []settingRow
	for _, sv := range s.Of(proto) {
		sec := "SSL/TLS (encrypted from the start)"
		if sv.Security == STARTTLS {
			sec = "STARTTLS"
		}
		out = append(out, settingRow{Server: sv.Host, Port: sv.Port, Security: sec})
	}
	return out
}

var setupTemplate = template.Must(template.New("setup").Funcs(template.FuncMap{
	"rows": rows,
	"qr": func(png []byte) template.URL {
		return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	},
	"upper": func(p Protocol) string {
		if p == POP3 {
			return "POP3"
		}
		return "IMAP"
	},
	"clock": func(t time.Time) string { return t.Format("15:04 MST") },
}).Parse(`<section class="setup" id="client-setup">
<h2>Set up your mail program for {{.Account.Address}}</h2>
<p>Your mail program needs only your address, <b>{{.Account.Address}}</b>, and your password:
most programs find every other setting by themselves. If one asks, the settings are below.</p>

<h3>IMAP or POP3?</h3>
<dl class="choice">
<dt id="choice-imap">IMAP (recommended)</dt>
<dd>Mail stays on the box; every device sees the same. Your phone, laptop and office
computer show the same folders, the same read and unread mail and the same sent mail.
Choose this unless you have a reason not to.</dd>
<dt id="choice-pop3">POP3</dt>
<dd>Mail moves to this computer: it downloads each message and keeps it.
{{- if gt .Account.POPRetentionDays 0}}
Copies stay on the box for {{.Account.POPRetentionDays}} day{{if ne .Account.POPRetentionDays 1}}s{{end}} after the download, then the box deletes them.
{{- else}}
Copies stay on the box until you delete them (your administrator can have the box delete them some days after the download).
{{- end}}
Other devices do not see what you read, file or send on this computer.
Choose this for one computer that keeps its own archive.</dd>
</dl>

<h3>Settings</h3>
<p>User name: <code id="set-user">{{.Account.Address}}</code> (the whole address) for receiving and sending.
Password: your mail password. Authentication: normal password.</p>
<table class="settings">
<tr><th>What</th><th>Server</th><th>Port</th><th>Security</th></tr>
{{- range rows .Settings "imap"}}
<tr><td>Receive (IMAP)</td><td><code>{{.Server}}</code></td><td><code>{{.Port}}</code></td><td>{{.Security}}</td></tr>
{{- end}}
{{- range rows .Settings "pop3"}}
<tr><td>Receive (POP3)</td><td><code>{{.Server}}</code></td><td><code>{{.Port}}</code></td><td>{{.Security}}</td></tr>
{{- end}}
{{- range rows .Settings "smtp"}}
<tr><td>Send (SMTP)</td><td><code>{{.Server}}</code></td><td><code>{{.Port}}</code></td><td>{{.Security}}</td></tr>
{{- end}}
</table>
<p>Where a program offers both, pick the first line of each: encrypted from the start.</p>
{{- with .Settings.Fingerprint}}
<h3>When your program warns about the certificate</h3>
<p id="fingerprint-note">This box uses its own certificate, which mail programs do not know, so they
warn the first time ("the server's identity cannot be verified", "certificate not trusted"). It is safe
to accept it if the fingerprint the program shows (SHA-256) is exactly this one:</p>
<p><code id="set-fingerprint" class="fingerprint">{{.}}</code></p>
<p>If it differs, do not accept it and tell your administrator.</p>
{{- end}}

{{- if .Profiles}}
<h3>iPhone, iPad and Mac</h3>
<p>Scan a code with the camera, open the link, then open Settings, "Profile Downloaded", and
install it: the phone asks for your password once. Each code works once, for 15 minutes;
reload this page for new ones.</p>
<div class="qr">
{{- range .Profiles}}
<figure id="qr-{{.Protocol}}"><img src="{{qr .QRPNG}}" width="256" height="256" alt="QR code: {{upper .Protocol}} profile">
<figcaption>{{upper .Protocol}} ({{if eq .Protocol "imap"}}recommended{{else}}mail moves to the phone{{end}}), until {{clock .Expires}}:
<a href="{{.URL}}">{{.URL}}</a></figcaption></figure>
{{- end}}
</div>
{{- end}}

<h3>Step by step</h3>
<dl class="programs">
<dt>New Outlook for Windows</dt>
<dd>Add account, type your address, Continue. If it offers "IMAP", choose it and type your
password; if it asks for settings, use the table above. It may offer to sync the account
through Microsoft's cloud; your mail then also passes through Microsoft.</dd>
<dt>Classic Outlook (2016, 2019, 2021, Microsoft 365)</dt>
<dd>File, Add Account, type your address. If it asks for an account type, choose IMAP (or
POP); if it finds nothing, choose "Advanced options", "Let me set up my account manually",
then IMAP, and fill in the table above. It asks for your password.</dd>
<dt>Thunderbird</dt>
<dd>Account Settings, Account Actions, Add Mail Account: your name, address and password. It
finds the settings by itself and offers IMAP or POP3: choose, then Done.</dd>
<dt>Apple Mail on iPhone, iPad or Mac</dt>
<dd>Scan the code above, or: Settings, Mail, Accounts, Add Account, Other, Add Mail Account.
It asks for name, address, password, then for IMAP or POP and the server names: use the
table above for both "incoming" and "outgoing".</dd>
<dt>Android (Gmail app, Thunderbird/K-9, FairEmail)</dt>
<dd>Add account, "Other", type your address. Choose "Personal (IMAP)" or "Personal (POP3)";
it asks for the password, then shows the servers it found: check them against the table.</dd>
</dl>
</section>
`))
