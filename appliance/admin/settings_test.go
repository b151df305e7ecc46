package admin

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"postroom/appliance/config"
	"postroom/appliance/queue"
	"postroom/storage"
)

func loadConfig(t *testing.T, e *env) config.Config {
	t.Helper()
	c, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSettings: domains, host name and smarthost change config.json as a
// whole or not at all, and reach the runner (Apply) with or without a
// restart; the smarthost's password is kept, never shown or logged.
func TestSettings(t *testing.T) {
	e := newEnv(t)
	steps := []step{
		{op: GetSettings{}, check: func(t *testing.T, e *env, res any) {
			if s := res.(Settings); s.Hostname != "localhost" || !slices.Equal(s.Domains, []string{"example.test"}) {
				t.Errorf("settings %+v", s)
			}
		}},
		{op: AddDomain{Domain: "Bücher.Example."}, want: "added the domain xn--bcher-kva.example", check: func(t *testing.T, e *env, res any) {
			if c := loadConfig(t, e); !slices.Equal(c.Domains, []string{"example.test", "xn--bcher-kva.example"}) {
				t.Errorf("domains in the file: %v", c.Domains)
			}
		}},
		{op: AddDomain{Domain: "xn--bcher-kva.example"}, code: CodeExists, field: "domain", want: "already"},
		{op: AddDomain{Domain: "no_underscores.example"}, code: CodeInvalid, field: "domain", want: "not a domain"},
		{op: AddDomain{Domain: "localhost"}, code: CodeInvalid, field: "domain", want: "not a domain"},
		{op: AddDomain{Domain: "evil.example\r\nX: y"}, code: CodeInvalid, field: "domain", want: "not a domain"},
		{op: AddAccount{Name: "ann@example.test", Password: "ann secret pw"}, want: "added account"},
		{op: RemoveDomain{Domain: "example.test"}, code: CodeConflict, field: "domain", want: "still have addresses"},
		{op: RemoveDomain{Domain: "other.example"}, code: CodeNotFound, field: "domain", want: "not a domain of this box"},
		{op: RemoveDomain{Domain: "bücher.example"}, want: "removed the domain xn--bcher-kva.example"},
		{op: SetHostname{Hostname: "Mail.Example.test"}, want: "set the host name to mail.example.test", check: func(t *testing.T, e *env, res any) {
			if c := loadConfig(t, e); c.Hostname != "mail.example.test" {
				t.Errorf("hostname in the file: %q", c.Hostname)
			}
		}},
		{op: SetHostname{Hostname: "mail.example.test"}, code: CodeInvalid, field: "hostname", want: "already"},
		{op: SetHostname{Hostname: "<b>x</b>"}, code: CodeInvalid, field: "hostname", want: "not a host name"},
		{op: SetHostname{Hostname: ""}, code: CodeInvalid, field: "hostname", want: "not a host name"},
		{op: SetSmarthost{Host: "smtp.provider.example", Port: 587, Username: "office", Password: "relay secret pw"},
			want: "set the smarthost to smtp.provider.example:587 (starttls) with the login office", check: func(t *testing.T, e *env, res any) {
				s := res.(Settings)
				if !s.Smarthost.HasPassword || s.Smarthost.Host != "smtp.provider.example" {
					t.Errorf("settings %+v", s)
				}
				if c := loadConfig(t, e); c.Queue.Smarthost.Password != "relay secret pw" {
					t.Errorf("smarthost in the file: %+v", c.Queue.Smarthost)
				}
			}},
		// A form that does not show the password keeps the saved one.
		{op: SetSmarthost{Host: "smtp.provider.example", Port: 465, TLS: "tls", Username: "office", KeepPassword: true}, want: "(tls)",
			check: func(t *testing.T, e *env, res any) {
				if c := loadConfig(t, e); c.Queue.Smarthost.Password != "relay secret pw" || c.Queue.Smarthost.Port != 465 {
					t.Errorf("smarthost in the file: %+v", c.Queue.Smarthost)
				}
			}},
		{op: SetSmarthost{Host: "smtp.provider.example", TLS: "ssl3"}, code: CodeInvalid, field: "tls", want: "starttls, tls or none"},
		{op: SetSmarthost{Host: "smtp.provider.example", Port: 70000}, code: CodeInvalid, field: "port", want: "port"},
		{op: SetSmarthost{Host: "smtp.provider.example", Username: "office"}, code: CodeInvalid, field: "password", want: "both"},
		{op: SetSmarthost{Host: "smtp.provider.example", Username: "office", Password: "pw\r\nwith a line break"}, code: CodeInvalid, field: "password", want: "control"},
		{op: SetSmarthost{}, want: "turned the smarthost off", check: func(t *testing.T, e *env, res any) {
			if c := loadConfig(t, e); c.Queue.Smarthost.Host != "" || c.Queue.Smarthost.Password != "" {
				t.Errorf("smarthost in the file: %+v", c.Queue.Smarthost)
			}
		}},
	}
	before, _ := os.ReadFile(e.cfgPath)
	e.run(t, steps)
	after, _ := os.ReadFile(e.cfgPath)
	if string(before) == string(after) {
		t.Errorf("config.json unchanged")
	}
	want := []string{
		"save added the domain xn--bcher-kva.example",
		"save removed the domain xn--bcher-kva.example",
		"restart set the host name to mail.example.test",
		"restart set the smarthost to smtp.provider.example:587 (starttls) with the login office",
		"restart set the smarthost to smtp.provider.example:465 (tls) with the login office",
		"restart turned the smarthost off: mail goes straight to the recipients' servers",
	}
	if !slices.Equal(e.applied, want) {
		t.Errorf("Apply calls:\n%s\nwant:\n%s", strings.Join(e.applied, "\n"), strings.Join(want, "\n"))
	}
	noSecrets(t, e)
}

// A config file that does not validate any more is not made worse: the
// change is refused and the file stays as it was.
func TestSettingsNothingHalfSaved(t *testing.T) {
	e := newEnv(t)
	c := loadConfig(t, e)
	c.MaxRecipients = 0 // invalid, written by hand
	raw, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.cfgPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	e.run(t, []step{{op: AddDomain{Domain: "new.example"}, code: CodeInvalid, field: "domain", want: "max_recipients"}})
	if now, _ := os.ReadFile(e.cfgPath); string(now) != string(raw) {
		t.Errorf("the file changed")
	}
	if len(e.applied) != 0 {
		t.Errorf("applied %v", e.applied)
	}
	// Without a config file the settings say so.
	os.Remove(e.cfgPath)
	e.run(t, []step{{op: GetSettings{}, code: CodeConflict, want: "no config file"}})
}

// TestQueue: list, show, retry and delete on a stopped box's queue (no
// Options.Queue: the Admin's own, never run).
func TestQueue(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m, err := e.st.QueueAdd(ctx, storage.QueueNew{From: "ann@example.test", To: []string{"bob@remote.example", "cy@remote.example"}},
		strings.NewReader("From: ann@example.test\r\nSubject: report\r\n\r\nnumbers\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	later := t0.Add(time.Hour)
	if _, err := e.st.QueueUpdate(m.ID, func(q *storage.QueueMessage) error {
		q.Recipients[0].State = storage.QueueDelivered
		q.Recipients[1].NextAttempt = later
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	id := queue.FormatID(m.ID)
	e.run(t, []step{
		{op: ListQueue{}, check: func(t *testing.T, e *env, res any) {
			if l := res.(QueueList); len(l.Messages) != 1 || l.Messages[0].ID != id || len(l.Messages[0].Recipients) != 2 {
				t.Errorf("queue %+v", l)
			}
		}},
		{op: ShowQueue{ID: id}, check: func(t *testing.T, e *env, res any) {
			if q := res.(QueueItem); !slices.Contains(q.Header, HeaderField{"Subject", "report"}) {
				t.Errorf("header %+v", q.Header)
			}
		}},
		{op: ShowQueue{ID: "12x"}, code: CodeInvalid, field: "id", want: "not a message ID"},
		{op: ShowQueue{ID: "999"}, code: CodeNotFound, field: "id", want: "no message 999"},
		{op: QueueRetry{ID: id}, want: "asked to try queued message " + id + " again now", check: func(t *testing.T, e *env, res any) {
			q, _ := e.st.QueueMessage(m.ID)
			if r := res.(QueueResult); r.Messages != 1 || r.Running || !q.Recipients[1].NextAttempt.Equal(t0) || q.Recipients[0].State != storage.QueueDelivered {
				t.Errorf("result %+v, recipients %+v", r, q.Recipients)
			}
		}},
		{op: QueueRetry{ID: id, All: true}, code: CodeInvalid, field: "id", want: "not both"},
		{op: QueueRetry{All: true}, want: "asked to try 1 queued messages again now"},
		{op: QueueDelete{ID: "999"}, code: CodeNotFound, field: "id", want: "no message 999"},
		{op: QueueDelete{ID: id}, want: "removed message " + id + " from the queue (2 recipients", check: func(t *testing.T, e *env, res any) {
			if ms, _ := e.st.QueueMessages(); len(ms) != 0 {
				t.Errorf("queue after delete: %+v", ms)
			}
		}},
		{op: QueueDelete{ID: id}, code: CodeNotFound, field: "id", want: "no message"},
	})
}
