package config

import (
	"postroom/internal/atomicfile"

	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ConfigFile is the name of the config file inside the data folder.
const ConfigFile = "config.json"

// Config is the whole appliance configuration: one JSON file, config.json in
// the data folder.
//
// Comments: JSON has none, so the file is written as "JSON with // line
// comments". Every field's `help` tag below is written above it as // lines
// by Save (the comments are generated from this struct, so they never drift
// from the code), and Load strips // comments that are outside strings
// before decoding. A person may add their own // comments; Save rewrites them
// from the tags. Fields missing from the file keep the value of Default();
// unknown fields are an error, so a misspelt name does not pass unnoticed.
type Config struct {
	Hostname string   `json:"hostname" help:"The box's own DNS name, used in the SMTP greeting, in Received header fields and in the self-signed TLS certificate."`
	Domains  []string `json:"domains" help:"Mail domains of this box, e.g. [\"example.com\"]. Mail is accepted for the addresses of the accounts in the store (see postroomctl); the setup page will use this list for its DNS checks."`
	DataDir  string   `json:"data_dir" help:"Folder for the mail store (store/), the TLS files (tls/) and this file. A relative path is relative to the folder of this file; \".\" is that folder."`

	Listen Listeners `json:"listen" help:"Addresses the services listen on, as \"host:port\" (\":25\" means every interface). \"\" turns a service off; port 0 picks a free port (tests)."`
	TLS    TLSFiles  `json:"tls" help:"TLS certificate for STARTTLS and the TLS ports. Leave both empty to use a self-signed certificate generated on first start in DATA/tls/."`

	MaxMessageSize int64 `json:"max_message_size" help:"Largest message accepted, in bytes (SMTP SIZE). 52428800 is 50 MiB."`
	MaxRecipients  int   `json:"max_recipients" help:"Most recipients accepted for one message (RFC 5321 asks for at least 100)."`
	// SMTPReadTimeout and SMTPWriteTimeout bound how long a silent client can
	// hold a connection; RFC 5321 4.5.3.2 suggests minutes, not seconds.
	SMTPReadTimeout  Duration `json:"smtp_read_timeout" help:"How long the SMTP server waits for a client's next command or data, e.g. \"5m\"."`
	SMTPWriteTimeout Duration `json:"smtp_write_timeout" help:"How long the SMTP server waits to write a reply to a slow client, e.g. \"1m\"."`
	MaxConnections   int      `json:"max_connections" help:"Most simultaneous connections per service; further ones are told to try again later."`

	// Port25Probe answers the question a home or office line most often
	// gets wrong: may this box send mail straight to other servers?
	Port25Probe string `json:"port25_probe" help:"A mail server on the internet, as \"host:port\", that the DNS page's connectivity check connects to, to find out whether your internet provider lets this box send mail on port 25. Only the greeting is read; nothing is sent. Empty: no such check."`

	Resolver string `json:"resolver" help:"DNS server used to send mail and to check incoming mail, as \"host:port\" (e.g. \"192.168.1.1:53\"). Empty uses the system's resolver (/etc/resolv.conf)."`

	AllowPlaintextAuthLAN bool   `json:"allow_plaintext_auth_lan" help:"For the login services (submission, IMAP, POP3): allow passwords over unencrypted connections from the local network (private and loopback addresses), for old clients. Never from the internet."`
	LogLevel              string `json:"log_level" help:"How much to log: \"debug\", \"info\", \"warn\" or \"error\". Passwords are never logged."`
	Dev                   bool   `json:"dev" help:"Development mode: on the first start with an empty store, create the demo user demo@example.test and print its password once. Mail for other domains is never sent: it is kept in data_dir/dev-outbox (with resolver empty), and connections go only to this machine."`

	Panel  PanelConfig  `json:"panel" help:"The front panel: status LEDs, display and button (docs/WIRING.md)."`
	Queue  QueueConfig  `json:"queue" help:"Outgoing mail: retries, limits, DKIM signing and an optional smarthost."`
	SMTP   SMTPConfig   `json:"smtp" help:"Incoming and submitted mail: SPF/DKIM/DMARC checks, sending rate, per-client limits."`
	Backup BackupConfig `json:"backup" help:"Scheduled, encrypted backups of the whole box, each one tested by restoring it (the Backups page sets this up)."`
	// Network is read by the board's init, not by the appliance (network.go).
	Network NetworkConfig `json:"network" help:"The box's network address: from DHCP, or fixed (the Settings page sets this up). It takes effect at the next start of the box."`
}

// Listeners holds one address per service; Run starts a server for every
// address that is not empty.
type Listeners struct {
	SMTP        string `json:"smtp" help:"Incoming mail from other servers (MX), normally :25."`
	Submission  string `json:"submission" help:"Mail from your own users' programs, STARTTLS and login, normally :587."`
	Submissions string `json:"submissions" help:"Mail from your own users' programs over TLS from the first byte, normally :465."`
	IMAP        string `json:"imap" help:"IMAP with STARTTLS, normally :143."`
	IMAPS       string `json:"imaps" help:"IMAP over TLS, normally :993."`
	POP3        string `json:"pop3" help:"POP3 with STLS, normally :110."`
	POP3S       string `json:"pop3s" help:"POP3 over TLS, normally :995."`
	Web         string `json:"web" help:"The status and setup web page, e.g. :8080."`
	Public      string `json:"public" help:"The public web handler for the internet: only the addresses mail clients ask to set themselves up (Thunderbird autoconfig, Outlook Autodiscover, Apple profiles), normally :80. Point autoconfig.DOMAIN and autodiscover.DOMAIN here."`
	PublicTLS   string `json:"public_tls" help:"The same public handler over TLS, normally :443, with the box's certificate: Outlook asks only over https. A trusted certificate needs a public host name (see tls.acme)."`
}

// TLSFiles names a certificate chain and its private key, both PEM.
type TLSFiles struct {
	Cert string `json:"cert" help:"Certificate chain (PEM). Relative paths are relative to data_dir."`
	Key  string `json:"key" help:"Private key (PEM) of the certificate. Relative paths are relative to data_dir."`
	// ACME is on by default so that a box with a public host name gets a
	// trusted certificate without anyone asking for it.
	ACME      string `json:"acme" help:"ACME directory of the authority that gives the box a trusted certificate when the host name is a public DNS name (Let's Encrypt's by default). The authority checks the name over port 80 (listen.public) or 443 (listen.public_tls). Empty: no ACME; the self-signed certificate stays unless one is uploaded or configured above."`
	ACMEEmail string `json:"acme_email" help:"Address the ACME authority may write to about the certificate (optional)."`
	ACMERoots string `json:"acme_roots" help:"PEM file of the root certificates to trust for a private ACME authority (for example a company's own); empty: the system's. Relative paths are relative to data_dir."`
}

// LetsEncrypt is Let's Encrypt's ACME directory, the default tls.acme.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// Duration is a time.Duration written in JSON as a string such as "5m".
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"5m\" or \"30s\", not %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as \"5m\" or \"30s\"", s)
	}
	*d = Duration(v)
	return nil
}

// Default returns the configuration of a new box: every service on every
// interface on its standard port, no mail domain yet, data in the folder
// of the config file.
func Default() Config {
	return Config{
		Hostname: "postroom.local",
		Domains:  []string{},
		DataDir:  ".",
		Listen: Listeners{
			SMTP:        ":25",
			Submission:  ":587",
			Submissions: ":465",
			IMAP:        ":143",
			IMAPS:       ":993",
			POP3:        ":110",
			POP3S:       ":995",
			Web:         ":8080",
			Public:      ":80",
			PublicTLS:   ":443",
		},
		TLS:              TLSFiles{ACME: LetsEncrypt},
		MaxMessageSize:   50 << 20,
		MaxRecipients:    100,
		SMTPReadTimeout:  Duration(5 * time.Minute),
		SMTPWriteTimeout: Duration(1 * time.Minute),
		MaxConnections:   100,
		Port25Probe:      DefaultPort25Probe,
		LogLevel:         "info",
		Panel:            defaultPanel(),
		Queue:            defaultQueue(),
		SMTP:             defaultSMTP(),
		Backup:           defaultBackup(),
		Network:          defaultNetwork(),
	}
}

// DefaultPort25Probe is a large mail provider's inbound server: it is
// always there and greets on port 25 unless the line blocks that port.
const DefaultPort25Probe = "gmail-smtp-in.l.google.com:25"

// Dev ports: the standard ones moved above 1024 so no privileges are needed.
const (
	DevSMTP        = "127.0.0.1:2525"
	DevSubmission  = "127.0.0.1:2587"
	DevSubmissions = "127.0.0.1:2465"
	DevIMAP        = "127.0.0.1:1143"
	DevIMAPS       = "127.0.0.1:1993"
	DevPOP3        = "127.0.0.1:1110"
	DevPOP3S       = "127.0.0.1:1995"
	DevWeb         = "127.0.0.1:8080"
	DevPublic      = "127.0.0.1:8081"
	DevPublicTLS   = "127.0.0.1:8444"
)

// DemoDomain and DemoUser are created in dev mode on the first start.
const (
	DemoDomain = "example.test"
	DemoUser   = "demo@" + DemoDomain
)

// DevDefault returns the development configuration: data in dataDir, every
// listener on 127.0.0.1 on an unprivileged port, the demo domain, dev mode on.
func DevDefault(dataDir string) Config {
	c := Default()
	c.Hostname = "localhost"
	c.Domains = []string{DemoDomain}
	c.DataDir = dataDir
	c.Listen = Listeners{
		SMTP:        DevSMTP,
		Submission:  DevSubmission,
		Submissions: DevSubmissions,
		IMAP:        DevIMAP,
		IMAPS:       DevIMAPS,
		POP3:        DevPOP3,
		POP3S:       DevPOP3S,
		Web:         DevWeb,
		Public:      DevPublic,
		PublicTLS:   DevPublicTLS,
	}
	c.TLS.ACME = ""                // nothing leaves a development machine
	c.Port25Probe = ""             // make run never reaches the internet
	c.AllowPlaintextAuthLAN = true // loopback only; lets swaks and curl log in without TLS
	c.Dev = true
	c.Panel = devPanel()
	c.SMTP.InboundChecks = false // a developer's loopback mail has no DNS to check against
	return c
}

// Load reads the config file at path: // comments are stripped, fields
// missing from the file keep their Default() value, and a relative data_dir
// is made absolute against the folder of the file. Load does not Validate.
func Load(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	c := Default()
	if err := decode(raw, &c); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	if c.Dev {
		// A development config written by an older Postroom lacks the
		// fields added since: they take their development values (no
		// inbound DNS checks on a laptop, the simulated panel), not the
		// board's.
		c = DevDefault(c.DataDir)
		if err := decode(raw, &c); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if !filepath.IsAbs(c.DataDir) && c.DataDir != "" {
		abs, err := filepath.Abs(filepath.Join(filepath.Dir(path), c.DataDir))
		if err != nil {
			return Config{}, fmt.Errorf("config %s: data_dir: %w", path, err)
		}
		c.DataDir = abs
	}
	return c, nil
}

func decode(raw []byte, c *Config) error {
	clean := StripComments(raw)
	if errs := checkFields(clean); len(errs) > 0 {
		return &ConfigError{Errs: errs}
	}
	dec := json.NewDecoder(bytes.NewReader(clean))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("line %d: %v", lineOf(clean, se.Offset), se)
		case errors.As(err, &te):
			return fmt.Errorf("line %d: field %q: expected %s, found a JSON %s", lineOf(clean, te.Offset), te.Field, te.Type, te.Value)
		}
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON object")
	}
	return nil
}

func lineOf(b []byte, off int64) int {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	return 1 + bytes.Count(b[:off], []byte("\n"))
}

// StripComments removes // comments that are outside JSON strings, keeping
// every newline so that line numbers in errors still match the file.
func StripComments(b []byte) []byte {
	out := make([]byte, 0, len(b))
	inString, escaped := false, false
	for i := 0; i < len(b); i++ {
		ch := b[i]
		if inString {
			out = append(out, ch)
			switch {
			case escaped:
				escaped = false
			case ch == '\\':
				escaped = true
			case ch == '"':
				inString = false
			}
			continue
		}
		if ch == '/' && i+1 < len(b) && b[i+1] == '/' {
			for i < len(b) && b[i] != '\n' {
				i++
			}
			if i < len(b) {
				out = append(out, '\n')
			}
			continue
		}
		if ch == '"' {
			inString = true
		}
		out = append(out, ch)
	}
	return out
}

// Save writes c to path atomically, with a comment above every field: a temp
// file in the same folder is written and fsynced, renamed over path, and the
// folder is fsynced so the rename survives a power cut. A data_dir inside
// the folder of path is written relative to it, so the data folder can move.
func (c Config) Save(path string) error {
	out := c
	if filepath.IsAbs(out.DataDir) {
		if dir, err := filepath.Abs(filepath.Dir(path)); err == nil {
			if rel, err := filepath.Rel(dir, out.DataDir); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				out.DataDir = rel
			}
		}
	}
	b, err := out.Marshal()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o600)
}

// Validate checks every field and reports every problem, one per line, each
// naming the field as it is spelt in the file.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}

	if err := checkHostname(c.Hostname); err != nil {
		bad("hostname", "%v", err)
	}
	seenDomain := map[string]bool{}
	for i, d := range c.Domains {
		field := fmt.Sprintf("domains[%d]", i)
		if err := checkHostname(d); err != nil {
			bad(field, "%v", err)
			continue
		}
		l := strings.ToLower(strings.TrimSuffix(d, "."))
		if seenDomain[l] {
			bad(field, "%q is listed twice", d)
		}
		seenDomain[l] = true
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad("data_dir", "must name a folder, e.g. \".\" for the folder of config.json")
	}

	seenAddr := map[string]string{}
	for _, l := range c.listeners() {
		field := "listen." + l.name
		if l.addr == "" {
			continue
		}
		host, port, err := net.SplitHostPort(l.addr)
		if err != nil {
			bad(field, "%q is not \"host:port\" (e.g. \":25\" or \"127.0.0.1:2525\")", l.addr)
			continue
		}
		if host != "" && net.ParseIP(host) == nil && checkHostname(host) != nil {
			bad(field, "%q is neither an IP address nor a host name", host)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			bad(field, "port %q is not a number from 0 to 65535", port)
			continue
		}
		if p != 0 {
			key := net.JoinHostPort(host, port)
			if other, ok := seenAddr[key]; ok {
				bad(field, "%s is also used by listen.%s", l.addr, other)
			}
			seenAddr[key] = l.name
		}
	}

	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		bad("tls", "give both cert and key, or neither for a generated self-signed certificate")
	}
	if c.TLS.ACME != "" {
		if u, err := url.Parse(c.TLS.ACME); err != nil || u.Scheme != "https" || u.Host == "" {
			bad("tls.acme", "%q is not an https:// address of an ACME directory (or empty for none)", c.TLS.ACME)
		}
	}
	if c.TLS.ACMEEmail != "" && (!strings.Contains(c.TLS.ACMEEmail, "@") || strings.ContainsAny(c.TLS.ACMEEmail, " <>,")) {
		bad("tls.acme_email", "%q is not an email address", c.TLS.ACMEEmail)
	}
	if c.MaxMessageSize < 1<<10 || c.MaxMessageSize > 1<<30 {
		bad("max_message_size", "%d is outside 1024 bytes to 1 GiB (1073741824)", c.MaxMessageSize)
	}
	if c.MaxRecipients < 1 || c.MaxRecipients > 10000 {
		bad("max_recipients", "%d is outside 1 to 10000", c.MaxRecipients)
	}
	for _, d := range []struct {
		field string
		v     Duration
	}{{"smtp_read_timeout", c.SMTPReadTimeout}, {"smtp_write_timeout", c.SMTPWriteTimeout}} {
		if time.Duration(d.v) < time.Second || time.Duration(d.v) > time.Hour {
			bad(d.field, "%s is outside 1s to 1h", time.Duration(d.v))
		}
	}
	if c.MaxConnections < 1 || c.MaxConnections > 10000 {
		bad("max_connections", "%d is outside 1 to 10000", c.MaxConnections)
	}
	if c.Resolver != "" {
		if host, port, err := net.SplitHostPort(c.Resolver); err != nil || net.ParseIP(host) == nil || port == "" {
			bad("resolver", "%q is not \"IP:port\" (e.g. \"192.168.1.1:53\"), or empty for the system's resolver", c.Resolver)
		}
	}
	if c.Port25Probe != "" {
		if host, port, err := net.SplitHostPort(c.Port25Probe); err != nil || host == "" || checkHostname(host) != nil && net.ParseIP(host) == nil {
			bad("port25_probe", "%q is not \"host:port\" (e.g. %q), or empty for no check", c.Port25Probe, DefaultPort25Probe)
		} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			bad("port25_probe", "%q: the port must be a number from 1 to 65535", c.Port25Probe)
		}
	}
	errs = append(errs, c.Panel.validate()...)
	errs = append(errs, c.Queue.validate()...)
	errs = append(errs, c.SMTP.validate()...)
	errs = append(errs, c.Backup.validate()...)
	errs = append(errs, c.Network.validate()...)
	if _, err := ParseLogLevel(c.LogLevel); err != nil {
		bad("log_level", "%v", err)
	}
	if len(errs) == 0 {
		return nil
	}
	return &ConfigError{Errs: errs}
}

// ConfigError lists every invalid field.
type ConfigError struct{ Errs []error }

func (e *ConfigError) Error() string {
	parts := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		parts[i] = err.Error()
	}
	return "invalid config: " + strings.Join(parts, "; ")
}

func (e *ConfigError) Unwrap() []error { return e.Errs }

type listener struct{ name, addr string }

// listeners returns the addresses in the order of the file.
func (c Config) listeners() []listener {
	l := c.Listen
	return []listener{
		{"smtp", l.SMTP}, {"submission", l.Submission}, {"submissions", l.Submissions},
		{"imap", l.IMAP}, {"imaps", l.IMAPS}, {"pop3", l.POP3}, {"pop3s", l.POP3S},
		{"web", l.Web}, {"public", l.Public}, {"public_tls", l.PublicTLS},
	}
}

// checkHostname accepts a DNS name of letters, digits and hyphens
// (RFC 1123), with an optional final dot.
func checkHostname(h string) error {
	if h == "" {
		return errors.New("must not be empty")
	}
	name := strings.TrimSuffix(h, ".")
	if len(name) > 253 {
		return fmt.Errorf("%q is longer than 253 characters", h)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%q is not a host name (empty or over-long part)", h)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is not a host name (a part starts or ends with '-')", h)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("%q is not a host name (only letters, digits, '-' and '.')", h)
			}
		}
	}
	return nil
}

// ParseLogLevel turns "debug", "info", "warn" or "error" (any case) into a
// slog.Level.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not one of debug, info, warn, error", s)
}

// CertFiles returns the certificate and key paths and whether they are the
// generated self-signed pair in DATA/tls.
func (c Config) CertFiles(dataDir string) (cert, key string, generated bool) {
	if c.TLS.Cert == "" && c.TLS.Key == "" {
		dir := filepath.Join(dataDir, "tls")
		return filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), true
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dataDir, p)
	}
	return abs(c.TLS.Cert), abs(c.TLS.Key), false
}
