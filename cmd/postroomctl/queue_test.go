package main

import (
	"context"
	"os"
	"path/filepath"
	"postroom/appliance/config"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"postroom/appliance/dkim"
	"postroom/appliance/queue"
	"postroom/storage"
)

// TestQueueCommands: list, show, retry and delete on a data folder with two
// queued messages, one of them deferred; the store checks out afterwards.
func TestQueueCommands(t *testing.T) {
	data := newData(t)
	var deferred storage.QueueID
	withStore(t, data, func(st *storage.Store) {
		m, err := st.QueueAdd(context.Background(), storage.QueueNew{From: "ann@example.org", To: []string{"bob@remote.test", "carol@remote.test"}},
			strings.NewReader("From: ann@example.org\r\nSubject: quarterly report\r\n\r\nnumbers\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		deferred = m.ID
		if _, err := st.QueueUpdate(m.ID, func(q *storage.QueueMessage) error {
			q.Recipients[0].State = storage.QueueDelivered
			q.Recipients[1].Attempts = 3
			q.Recipients[1].NextAttempt = time.Now().Add(time.Hour)
			q.Recipients[1].LastError = "mx.remote.test said: 451 4.7.1 greylisted"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.QueueAdd(context.Background(), storage.QueueNew{To: []string{"zed@far.test"}}, strings.NewReader("Subject: bounce\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
	})
	id := queue.FormatID(deferred)
	runCtl(t, data, "", "queue", "list").check(t, 0,
		[]string{"ann@example.org", "1 of 2", "in 59m", "greylisted", "<> (a bounce)", "2 messages"}, nil)
	runCtl(t, data, "", "queue", "show", id).check(t, 0,
		[]string{"Subject: quarterly report", "bob@remote.test", "delivered", "carol@remote.test", "pending", "451 4.7.1 greylisted"}, nil)
	runCtl(t, data, "", "queue", "retry", id).check(t, 0, []string{"1 message will be tried again"}, nil)
	runCtl(t, data, "", "queue", "list").check(t, 0, []string{"now"}, nil)
	runCtl(t, data, "", "queue", "retry", "all").check(t, 0, []string{"2 messages"}, nil)
	runCtl(t, data, "", "queue", "delete", id).check(t, 0, []string{"removed from the queue"}, nil)
	runCtl(t, data, "", "queue", "show", id).check(t, 1, nil, []string{"no message " + id})
	runCtl(t, data, "", "queue", "delete", "x1").check(t, 2, nil, []string{"bad message ID"})
	runCtl(t, data, "", "queue", "list").check(t, 0, []string{"1 message"}, nil)
	withStore(t, data, func(st *storage.Store) {
		if ms, _ := st.QueueMessages(); len(ms) != 1 || ms[0].From != "" {
			t.Errorf("queue after delete: %+v", ms)
		}
	})
}

// TestDNS: every printed line is a valid zone-file record (miekg/dns
// parses it), the expected names are there, the DKIM records carry the
// keys saved in DATA/dkim, and a service that is off gets the "." target.
func TestDNS(t *testing.T) {
	data := newData(t)
	cfg := config.Default()
	cfg.Hostname = "mail.example.org"
	cfg.Domains = []string{"example.org", "example.net"}
	cfg.Listen.POP3 = ""
	if err := cfg.Save(filepath.Join(data, config.ConfigFile)); err != nil {
		t.Fatal(err)
	}
	r := runCtl(t, data, "", "dns")
	r.check(t, 0, []string{"; Postroom: DNS records for example.org", "; Postroom: DNS records for example.net"}, nil)
	got := map[string]string{}
	for _, line := range strings.Split(r.out, "\n") {
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		rr, err := dns.NewRR(line)
		if err != nil || rr == nil {
			t.Fatalf("not a record: %q: %v", line, err)
		}
		h := rr.Header()
		key := h.Name + " " + dns.TypeToString[h.Rrtype]
		switch v := rr.(type) {
		case *dns.TXT:
			got[key] = strings.Join(v.Txt, "")
		default:
			got[key] = strings.TrimPrefix(rr.String(), h.String())
		}
	}
	keys, err := dkim.New(filepath.Join(data, "dkim")).Existing("example.org")
	if err != nil {
		t.Fatalf("dns made no keys: %v", err)
	}
	recs, _ := keys.Records()
	want := map[string]string{
		"example.org. MX":                    "10 mail.example.org.",
		"example.org. TXT":                   "v=spf1 mx -all",
		"pr-ed._domainkey.example.org. TXT":  recs[0].Value,
		"pr-rsa._domainkey.example.org. TXT": recs[1].Value,
		"autoconfig.example.org. CNAME":      "mail.example.org.",
		"autodiscover.example.org. CNAME":    "mail.example.org.",
		"_submission._tcp.example.org. SRV":  "10 1 587 mail.example.org.",
		"_submissions._tcp.example.org. SRV": "0 1 465 mail.example.org.",
		"_imap._tcp.example.org. SRV":        "10 1 143 mail.example.org.",
		"_imaps._tcp.example.org. SRV":       "0 1 993 mail.example.org.",
		"_pop3s._tcp.example.org. SRV":       "20 1 995 mail.example.org.",
		"_pop3._tcp.example.org. SRV":        "0 0 0 .",
		"_dmarc.example.net. TXT":            "v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:postmaster@example.net",
		"pr-rsa._domainkey.example.net. TXT": "",
		"_submissions._tcp.example.net. SRV": "0 1 465 mail.example.org.",
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("missing %s", k)
		} else if v != "" && g != v {
			t.Errorf("%s = %q, want %q", k, g, v)
		}
	}
	// Keys are stable: a second run prints the same DKIM record.
	r2 := runCtl(t, data, "", "dns", "example.org")
	if !strings.Contains(r2.out, dkim.ZoneText(recs[1].Value)) || strings.Contains(r2.out, "example.net") {
		t.Errorf("second run:\n%s", r2.out)
	}
	if fi, err := os.Stat(filepath.Join(data, "dkim", "example.org", "rsa.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi, err)
	}
}
