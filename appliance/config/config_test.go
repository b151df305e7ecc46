package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultsValidate(t *testing.T) {
	for name, c := range map[string]Config{
		"Default":    Default(),
		"DevDefault": DevDefault(t.TempDir()),
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s().Validate() = %v", name, err)
		}
	}
}

func TestDevDefaultPorts(t *testing.T) {
	c := DevDefault("/x")
	want := Listeners{
		SMTP: "127.0.0.1:2525", Submission: "127.0.0.1:2587", Submissions: "127.0.0.1:2465",
		IMAP: "127.0.0.1:1143", IMAPS: "127.0.0.1:1993", POP3: "127.0.0.1:1110", POP3S: "127.0.0.1:1995",
		Web: "127.0.0.1:8080", Public: "127.0.0.1:8081", PublicTLS: "127.0.0.1:8444",
	}
	if c.Listen != want || c.TLS.ACME != "" || Default().TLS.ACME != LetsEncrypt || !c.Dev || c.DataDir != "/x" || c.Port25Probe != "" {
		t.Errorf("DevDefault = %+v", c)
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ConfigFile)
	c := DevDefault(dir)
	c.Domains = []string{"example.test", "example.org"}
	c.TLS = TLSFiles{Cert: "tls/my.pem", Key: "/etc/key.pem"}
	c.MaxMessageSize = 12345
	c.SMTPReadTimeout = Duration(90 * time.Second)
	c.LogLevel = "debug"
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if !strings.Contains(string(raw), `"data_dir": "."`) {
		t.Errorf("data_dir inside the config folder is not written relative:\n%s", raw)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v\n%s", err, raw)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip changed the config:\n got %+v\nwant %+v", got, c)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode = %v; want 0600", fi.Mode().Perm())
	}
}

// TestEveryFieldHasAComment checks the written file: one // comment block
// above every key, and the keys are those of encoding/json.
func TestEveryFieldHasAComment(t *testing.T) {
	b, err := Default().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	keys := 0
	for i, l := range lines {
		trim := strings.TrimSpace(l)
		if !strings.HasPrefix(trim, `"`) {
			continue
		}
		keys++
		if i == 0 || !strings.HasPrefix(strings.TrimSpace(lines[i-1]), "//") {
			t.Errorf("no comment above line %d: %s", i+1, l)
		}
	}
	// Without comments it is plain JSON with the same keys as encoding/json.
	var fromFile, fromJSON map[string]any
	if err := json.Unmarshal(StripComments(b), &fromFile); err != nil {
		t.Fatalf("stripped file is not JSON: %v\n%s", err, b)
	}
	plain, _ := json.Marshal(Default())
	json.Unmarshal(plain, &fromJSON)
	if !reflect.DeepEqual(fromFile, fromJSON) {
		t.Errorf("file and encoding/json differ:\n%v\n%v", fromFile, fromJSON)
	}
	if keys < 20 {
		t.Errorf("only %d keys written", keys)
	}
}

func TestStripComments(t *testing.T) {
	tests := []struct{ in, want string }{
		{"// top\n{}", "\n{}"},
		{`{"a": "http://x"} // after`, `{"a": "http://x"} `},
		{`{"a": "say \"//\" here"}`, `{"a": "say \"//\" here"}`},
		{`{"a": "back\\"} // c`, `{"a": "back\\"} `},
		{"{\n  // inner\n  \"a\": 1\n}", "{\n  \n  \"a\": 1\n}"},
		{"{} //", "{} "},
		{`{"a": 1/2}`, `{"a": 1/2}`},
	}
	for _, tt := range tests {
		if got := string(StripComments([]byte(tt.in))); got != tt.want {
			t.Errorf("StripComments(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		check   func(t *testing.T, c Config)
		wantErr string
	}{
		{
			name: "missing fields keep defaults",
			file: "// mine\n{\"hostname\": \"mail.example.com\", // trailing\n \"listen\": {\"smtp\": \"127.0.0.1:0\"}}",
			check: func(t *testing.T, c Config) {
				if c.Hostname != "mail.example.com" || c.Listen.SMTP != "127.0.0.1:0" ||
					c.Listen.IMAP != ":143" || c.MaxRecipients != 100 {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "relative data_dir is relative to the file",
			file: `{"data_dir": "sub/data"}`,
			check: func(t *testing.T, c Config) {
				if !filepath.IsAbs(c.DataDir) || !strings.HasSuffix(c.DataDir, filepath.Join("sub", "data")) {
					t.Errorf("data_dir = %q", c.DataDir)
				}
			},
		},
		{name: "unknown field", file: `{"hostnam": "x"}`, wantErr: `line 1: unknown field "hostnam" (did you mean "hostname"?)`},
		{name: "unknown nested field has its path and line", file: "{\n\"queue\": {\n  \"max_recipent\": 5}}", wantErr: `line 3: unknown field "queue.max_recipent"`},
		{name: "every error at once", file: "{\"max_recipent\": 5,\n\"panel\": {\"page_tme\": \"5s\", \"mode\": 3},\n\"zzz\": 1}",
			wantErr: `line 1: unknown field "max_recipent" (did you mean "max_recipients"?); line 2: unknown field "panel.page_tme" (did you mean "panel.page_time"?); line 2: panel.mode: expected a string in quotes, found a JSON number (3); line 3: unknown field "zzz"`},
		{name: "nested wrong type", file: "{\"listen\": {\n\"smtp\": 25}}", wantErr: `line 2: listen.smtp: expected a string in quotes, found a JSON number (25)`},
		{name: "object expected", file: `{"panel": "on"}`, wantErr: `line 1: panel: expected an object`},
		{name: "syntax error has a line", file: "{\n\"hostname\": \"x\",\n}", wantErr: "line 3"},
		{name: "wrong type", file: "{\n\"max_recipients\": \"many\"}", wantErr: `line 2: max_recipients: expected a whole number, found a JSON string ("many")`},
		{name: "bad duration", file: `{"smtp_read_timeout": "5 minutes"}`, wantErr: `"5 minutes" is not a duration`},
		{name: "duration as number", file: `{"smtp_read_timeout": 300}`, wantErr: "a duration is a string"},
		{name: "two objects", file: `{} {}`, wantErr: "more than one JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ConfigFile)
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v; want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file = %v; want ErrNotExist", err)
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string // every one must appear
	}{
		{"empty hostname", func(c *Config) { c.Hostname = "" }, []string{"hostname: must not be empty"}},
		{"bad hostname", func(c *Config) { c.Hostname = "mail_box" }, []string{"hostname:", "only letters"}},
		{"hostname hyphen", func(c *Config) { c.Hostname = "-mail.example" }, []string{"hostname:", "'-'"}},
		{"bad domain", func(c *Config) { c.Domains = []string{"ok.test", "bad domain"} }, []string{"domains[1]:"}},
		{"duplicate domain", func(c *Config) { c.Domains = []string{"a.test", "A.test."} }, []string{"domains[1]:", "twice"}},
		{"no data dir", func(c *Config) { c.DataDir = " " }, []string{"data_dir:"}},
		{"no port", func(c *Config) { c.Listen.SMTP = "127.0.0.1" }, []string{"listen.smtp:", "host:port"}},
		{"port range", func(c *Config) { c.Listen.IMAP = ":70000" }, []string{"listen.imap:", "0 to 65535"}},
		{"port word", func(c *Config) { c.Listen.POP3 = ":pop" }, []string{"listen.pop3:"}},
		{"bad host", func(c *Config) { c.Listen.Web = "no such host:80" }, []string{"listen.web:", "neither"}},
		{"acme over http", func(c *Config) { c.TLS.ACME = "http://ca.example/dir" }, []string{"tls.acme:", "https://"}},
		{"acme email", func(c *Config) { c.TLS.ACMEEmail = "not an address" }, []string{"tls.acme_email:"}},
		{"same port twice", func(c *Config) { c.Listen.IMAPS = c.Listen.IMAP }, []string{"listen.imaps:", "listen.imap"}},
		{"cert without key", func(c *Config) { c.TLS.Cert = "c.pem" }, []string{"tls: give both"}},
		{"message size", func(c *Config) { c.MaxMessageSize = 10 }, []string{"max_message_size:"}},
		{"recipients", func(c *Config) { c.MaxRecipients = 0 }, []string{"max_recipients:"}},
		{"timeouts", func(c *Config) { c.SMTPReadTimeout = 0; c.SMTPWriteTimeout = Duration(2 * time.Hour) },
			[]string{"smtp_read_timeout:", "smtp_write_timeout:"}},
		{"connections", func(c *Config) { c.MaxConnections = -1 }, []string{"max_connections:"}},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, []string{"log_level:", `"loud"`}},
		{"resolver name", func(c *Config) { c.Resolver = "dns.example:53" }, []string{"resolver:", "IP:port"}},
		{"probe without port", func(c *Config) { c.Port25Probe = "smtp.example" }, []string{"port25_probe:", "host:port"}},
		{"probe bad port", func(c *Config) { c.Port25Probe = "smtp.example:0" }, []string{"port25_probe:", "1 to 65535"}},
		{"resolver no port", func(c *Config) { c.Resolver = "192.168.1.1" }, []string{"resolver:"}},
		{"several at once", func(c *Config) { c.Hostname = ""; c.MaxRecipients = 0 }, []string{"hostname:", "max_recipients:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DevDefault(t.TempDir())
			tt.change(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate() = nil")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *ConfigError", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is more than one line: %q", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q; want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestValidateAcceptsPortZeroAndOff(t *testing.T) {
	c := DevDefault(t.TempDir())
	c.Listen = Listeners{SMTP: "127.0.0.1:0", Web: "127.0.0.1:0", IMAP: "[::1]:0"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestSaveIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ConfigFile)
	old := DevDefault(dir)
	if err := old.Save(path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)

	// A failing write (the folder is gone) leaves nothing behind.
	if err := old.Save(filepath.Join(dir, "missing", ConfigFile)); err == nil {
		t.Fatal("Save into a missing folder succeeded")
	}

	// Save replaces the file in one rename: no temp file is left behind
	// and the content is the new one.
	c := old
	c.Hostname = "mail.example.com"
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != ConfigFile {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("folder holds %v; want only %s", names, ConfigFile)
	}
	after, _ := os.ReadFile(path)
	if string(after) == string(before) || !strings.Contains(string(after), "mail.example.com") {
		t.Fatal("Save did not replace the content")
	}
}

// TestLoadOldDevConfig: a dev config from before a field existed gets the
// field's development default, not the board's.
func TestLoadOldDevConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ConfigFile)
	old := `{"hostname": "localhost", "data_dir": ".", "dev": true,
		"listen": {"smtp": "127.0.0.1:2525", "web": "127.0.0.1:8080"}}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := DevDefault(dir)
	if got.SMTP.InboundChecks != want.SMTP.InboundChecks || got.Panel != want.Panel || got.Listen.SMTP != "127.0.0.1:2525" || got.Listen.IMAP != DevIMAP {
		t.Errorf("old dev config loaded as %+v", got)
	}
	if got.SMTP.InboundChecks {
		t.Error("inbound DNS checks on for a dev config")
	}
}
