package appliance

import (
	"crypto/tls"
	"path/filepath"
	"postroom/appliance/config"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postroom/internal/dnstest"
	"postroom/storage"
	"postroom/storage/storagetest"
)

// TestRunSubmissionAndChecks: Run serves submission on 587 (STARTTLS) and
// 465 (TLS) with the demo user's login, and port 25 with the inbound checks
// against the configured resolver (a test zone).
func TestRunSubmissionAndChecks(t *testing.T) {
	zone := dnstest.Start(t, `example.test. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`)
	cfg := testConfig(t)
	cfg.Listen.Submission = "127.0.0.1:0"
	cfg.Listen.Submissions = "127.0.0.1:0"
	cfg.SMTP.InboundChecks = true
	cfg.Resolver = zone.Addr()
	r, password := startDemo(t, cfg)
	tlsConf := &tls.Config{InsecureSkipVerify: true}
	msg := "From: " + config.DemoUser + "\r\nSubject: via %s\r\n\r\nhello\r\n"

	sub, err := smtp.DialStartTLS(r.addr(t, ServiceSubmission), tlsConf)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Auth(sasl.NewPlainClient("", config.DemoUser, "wrong")); err == nil {
		t.Fatal("wrong password accepted")
	}
	if err := sub.Auth(sasl.NewPlainClient("", config.DemoUser, password)); err != nil {
		t.Fatalf("AUTH on 587: %v", err)
	}
	if err := sub.SendMail(config.DemoUser, []string{config.DemoUser}, strings.NewReader(strings.Replace(msg, "%s", "587", 1))); err != nil {
		t.Fatalf("587: %v", err)
	}
	subs, err := smtp.DialTLS(r.addr(t, ServiceSubmissions), tlsConf)
	if err != nil {
		t.Fatal(err)
	}
	defer subs.Close()
	if err := subs.Auth(sasl.NewLoginClient(config.DemoUser, password)); err != nil {
		t.Fatalf("AUTH on 465: %v", err)
	}
	if err := subs.SendMail(config.DemoUser, []string{config.DemoUser}, strings.NewReader(strings.Replace(msg, "%s", "465", 1))); err != nil {
		t.Fatalf("465: %v", err)
	}
	mx, err := smtp.Dial(r.addr(t, ServiceSMTP))
	if err != nil {
		t.Fatal(err)
	}
	defer mx.Close()
	if err := mx.SendMail("someone@example.test", []string{config.DemoUser},
		strings.NewReader("From: someone@example.test\r\nSubject: via 25\r\n\r\nhello\r\n")); err != nil {
		t.Fatalf("25: %v", err)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}

	st := storagetest.OpenOptions(t, storage.Options{Dir: filepath.Join(cfg.DataDir, "store")})
	acct, err := st.Account(config.DemoUser)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := st.Mailbox(acct.ID, storage.InboxName)
	msgs, err := st.Messages(acct.ID, in.ID)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("INBOX: %d messages, %v", len(msgs), err)
	}
	var all []string
	for _, mm := range msgs {
		b, err := st.OpenBody(mm.Object)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, b.Size())
		b.ReadAt(buf, 0)
		b.Close()
		all = append(all, string(buf))
	}
	for _, want := range []string{"with ESMTPSA", "Subject: via 587", "Subject: via 465",
		"Authentication-Results: localhost;\r\n\tspf=pass smtp.mailfrom=someone@example.test"} {
		if !strings.Contains(strings.Join(all, "\n"), want) {
			t.Errorf("no message has %q:\n%s", want, strings.Join(all, "\n---\n"))
		}
	}
}
