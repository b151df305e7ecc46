package appliance

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"postroom/appliance/config"
	"strings"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postroom/appliance/dkim"
	"postroom/appliance/status"
	"postroom/internal/dnstest"
)

// submitAs sends msg on the submission port after AUTH PLAIN.
func submitAs(t *testing.T, addr, user, password, from string, to []string, msg string) {
	t.Helper()
	c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", user, password)); err != nil {
		t.Fatalf("AUTH as %s: %v", user, err)
	}
	if err := c.SendMail(from, to, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
}

// TestRunDevKeepsOutsideMailInTheOutbox: in development mode (no resolver
// configured, as make run has it) mail for another domain is not sent: it
// lands in DATA/dev-outbox byte for byte as it would have been sent (DKIM
// signature intact), with its envelope beside it; the queue empties, the
// Snapshot and the banner say where the mail is, and the count survives a
// restart.
func TestRunDevKeepsOutsideMailInTheOutbox(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen.Submission = "127.0.0.1:0"
	if cfg.Resolver != "" || !cfg.Dev {
		t.Fatalf("the dev config has resolver %q, dev %v", cfg.Resolver, cfg.Dev)
	}
	r, password := startDemo(t, cfg)
	outbox := filepath.Join(cfg.DataDir, devOutboxDir)
	if banner := r.stdout.String(); !strings.Contains(banner, "never sent") || !strings.Contains(banner, outbox) {
		t.Errorf("the banner does not tell about the dev outbox:\n%s", banner)
	}
	if d := r.bus.Latest().DevOutbox; d.Dir != outbox || d.Messages != 0 {
		t.Errorf("Snapshot.DevOutbox at start = %+v", d)
	}

	msg := "From: " + config.DemoUser + "\r\nTo: bob@remote.test, carol@other.test\r\nSubject: outbound\r\n" +
		"Date: Thu, 26 Nov 2026 12:00:00 +0000\r\nMessage-ID: <dev-1@example.test>\r\n\r\nhello Bob and Carol\r\n.leading dot\r\n"
	submitAs(t, r.addr(t, ServiceSubmission), config.DemoUser, password, config.DemoUser,
		[]string{"bob@remote.test", "carol@other.test"}, msg)
	s := r.waitFor(t, "two messages in the dev outbox, the queue empty", func(s status.Snapshot) bool {
		return s.DevOutbox.Messages == 2 && s.Queue.Length == 0
	})
	if s.DevOutbox.Last.IsZero() {
		t.Error("DevOutbox.Last not set")
	}

	// One attempt per destination domain: two .eml files, two envelopes.
	entries, err := os.ReadDir(outbox)
	if err != nil {
		t.Fatal(err)
	}
	var emls []string
	envelopes := map[string]bool{}
	for _, e := range entries {
		switch {
		case strings.HasSuffix(e.Name(), ".eml"):
			emls = append(emls, e.Name())
		case strings.HasSuffix(e.Name(), ".envelope"):
			b, _ := os.ReadFile(filepath.Join(outbox, e.Name()))
			envelopes[string(b)] = true
		default:
			t.Errorf("unexpected file %s in the dev outbox", e.Name())
		}
	}
	for _, rcpt := range []string{"bob@remote.test", "carol@other.test"} {
		if want := "MAIL FROM:<" + config.DemoUser + ">\nRCPT TO:<" + rcpt + ">\n"; !envelopes[want] {
			t.Errorf("no envelope %q among %v", want, envelopes)
		}
	}
	if len(emls) != 2 {
		t.Fatalf("dev outbox holds %q; want two .eml files", emls)
	}

	keys, err := dkim.New(filepath.Join(cfg.DataDir, "dkim")).Existing(config.DemoDomain)
	if err != nil {
		t.Fatalf("no DKIM keys: %v", err)
	}
	zone := dnstest.Start(t)
	recs, _ := keys.Records()
	for _, rec := range recs {
		zone.Add(rec.Name + " 300 IN TXT " + dkim.ZoneText(rec.Value))
	}
	res := zone.Resolver()
	for _, name := range emls {
		data, err := os.ReadFile(filepath.Join(outbox, name))
		if err != nil {
			t.Fatal(err)
		}
		// Byte for byte: our trace and signature fields, then the
		// message exactly as submitted.
		head, ok := bytes.CutSuffix(data, []byte(msg))
		if !ok {
			t.Fatalf("%s does not end with the submitted message:\n%s", name, data)
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(head), "\r\n"), "\r\n") {
			if line == "" || (line[0] != ' ' && line[0] != '\t' &&
				!strings.HasPrefix(line, "DKIM-Signature:") && !strings.HasPrefix(line, "Received:")) {
				t.Errorf("%s: unexpected line before the message: %q", name, line)
			}
		}
		vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(data), &msgdkim.VerifyOptions{
			LookupTXT: func(n string) ([]string, error) { return res.LookupTXT(context.Background(), n) },
		})
		if err != nil || len(vs) == 0 {
			t.Fatalf("%s: DKIM: %v %+v", name, err, vs)
		}
		for _, v := range vs {
			if v.Err != nil {
				t.Errorf("%s: DKIM signature of %s: %v", name, v.Domain, v.Err)
			}
		}
	}
	if logs := r.log.String(); strings.Contains(logs, "MX lookup") || !strings.Contains(logs, "dev outbox") {
		t.Errorf("the log does not show delivery to the dev outbox only:\n%s", logs)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}

	r, err = start(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := r.bus.Latest().DevOutbox; d.Messages != 2 || d.Summary() != "2 messages held in the dev outbox instead of being sent ("+outbox+")" {
		t.Errorf("after a restart: %+v %q", d, d.Summary())
	}
}

// TestDevModeRefusesTheNetwork: the parts development mode puts in place
// fail closed: the resolver answers nothing and sends no query, the dialer
// reaches only this machine, a resolver elsewhere is refused at start.
func TestDevModeRefusesTheNetwork(t *testing.T) {
	zone := dnstest.Start(t, "remote.test. 300 IN MX 10 mx.remote.test.", "mx.remote.test. 300 IN A 192.0.2.25")
	cfg := testConfig(t)
	r := &runner{cfg: cfg, log: slog.New(slog.DiscardHandler), bus: status.NewBus(status.Snapshot{}),
		resolver: zone.Resolver()}
	if err := r.startDev(cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	if _, err := r.resolver.LookupMX(context.Background(), "remote.test"); err == nil || !strings.Contains(err.Error(), errDevNoDNS.Error()) {
		t.Errorf("dev resolver LookupMX = %v; want errDevNoDNS", err)
	}
	if _, err := r.resolver.LookupHost(context.Background(), "mx.remote.test"); err == nil {
		t.Error("dev resolver answered LookupHost")
	}
	if n := zone.Queries(); n != 0 {
		t.Errorf("%d DNS queries reached a server", n)
	}
	if r.devOutbox == nil || r.bus.Latest().DevOutbox.Dir != filepath.Join(cfg.DataDir, devOutboxDir) {
		t.Errorf("no dev outbox: %+v", r.bus.Latest().DevOutbox)
	}

	for _, addr := range []string{"192.0.2.25:25", "[2001:db8::25]:25", "mx.remote.test:25"} {
		if c, err := loopbackDial(context.Background(), "tcp", addr); err == nil {
			c.Close()
			t.Errorf("loopbackDial(%s) connected", addr)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := loopbackDial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("loopbackDial to this machine: %v", err)
	}
	c.Close()

	for addr, ok := range map[string]bool{zone.Addr(): true, "192.0.2.53:53": false, "dns.example:53": false} {
		cfg := testConfig(t)
		cfg.Resolver = addr
		r := &runner{cfg: cfg, log: slog.New(slog.DiscardHandler), bus: status.NewBus(status.Snapshot{})}
		err := r.startDev(cfg.DataDir)
		if (err == nil) != ok {
			t.Errorf("dev mode with resolver %s: %v", addr, err)
		}
		if r.devOutbox != nil {
			t.Errorf("resolver %s: a dev outbox although a local resolver is configured", addr)
		}
	}
}
