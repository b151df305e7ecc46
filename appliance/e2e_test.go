package appliance

import (
	"bytes"
	"crypto/tls"
	"path/filepath"
	"postroom/appliance/config"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postroom/appliance/dkim"
	"postroom/internal/dnstest"
	"postroom/storage"
)

// TestTwoAppliances is issue #5's end-to-end path with nothing faked but
// DNS: two Postroom appliances on 127.0.0.1, "sender" for example.test and
// "receiver" for b.test, and a test zone that publishes MX, SPF, DKIM and
// DMARC for them. The demo user submits on the sender's port 587; the
// sender's queue finds b.test's MX through the zone and delivers over SMTP
// to the receiver, signed with example.test's DKIM keys; the receiver checks
// SPF, DKIM and DMARC and files the message in Bob's INBOX, where an IMAP
// client in IDLE sees it arrive and reads it. A forged message straight to
// the receiver's MX, from a domain whose DMARC policy is reject, lands in
// Junk, not nowhere.
func TestTwoAppliances(t *testing.T) {
	zone := dnstest.Start(t,
		"b.test. 300 IN MX 10 mx.b.test.",
		"mx.b.test. 300 IN A 127.0.0.1",
		`example.test. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`_dmarc.example.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`forged.test. 300 IN TXT "v=spf1 -all"`,
		`_dmarc.forged.test. 300 IN TXT "v=DMARC1; p=reject"`,
	)

	// The receiver: b.test, with Bob, checking inbound mail.
	rcfg := config.DevDefault(t.TempDir())
	rcfg.Dev = false
	rcfg.Hostname = "mx.b.test"
	rcfg.Domains = []string{"b.test"}
	rcfg.Listen = config.Listeners{SMTP: "127.0.0.1:0", IMAPS: "127.0.0.1:0"}
	rcfg.Resolver = zone.Addr()
	rcfg.SMTP.InboundChecks = true
	st, err := storage.Open(storage.Options{Dir: filepath.Join(rcfg.DataDir, "store")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAccount("bob@b.test", "password-bob"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	receiver, err := start(t, rcfg)
	if err != nil {
		t.Fatal(err)
	}
	mx := receiver.addr(t, ServiceSMTP)

	// The sender: example.test (the demo domain). Its DKIM keys exist
	// before it starts so that the zone can publish them first.
	scfg := config.DevDefault(t.TempDir())
	scfg.Hostname = "mail.example.test"
	scfg.Listen = config.Listeners{Submission: "127.0.0.1:0"}
	scfg.Resolver = zone.Addr()
	_, port, _ := strings.Cut(mx, ":")
	if scfg.Queue.Port, err = strconv.Atoi(port); err != nil {
		t.Fatal(err)
	}
	keys, err := dkim.New(filepath.Join(scfg.DataDir, "dkim")).Domain(config.DemoDomain)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := keys.Records()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		zone.Add(rec.Name + " 300 IN TXT " + dkim.ZoneText(rec.Value))
	}
	sender, password := startDemo(t, scfg)

	// Bob's IMAP client waits in IDLE on his INBOX.
	arrived := make(chan uint32, 8)
	bob, err := imapclient.DialTLS(receiver.addr(t, "imaps"), &imapclient.Options{
		TLSConfig: &tls.Config{InsecureSkipVerify: true},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					arrived <- *d.NumMessages
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if err := bob.Login("bob@b.test", "password-bob").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := bob.Idle()
	if err != nil {
		t.Fatal(err)
	}

	// The demo user sends to Bob through the sender's submission port.
	c, err := smtp.DialStartTLS(sender.addr(t, ServiceSubmission), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", config.DemoUser, password)); err != nil {
		t.Fatal(err)
	}
	body := "From: Demo <" + config.DemoUser + ">\r\nTo: bob@b.test\r\nSubject: across the street\r\n\r\nHello Bob, from the other box.\r\n"
	if err := c.SendMail(config.DemoUser, []string{"bob@b.test"}, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	select {
	case n := <-arrived:
		if n != 1 {
			t.Fatalf("INBOX has %d messages; want 1", n)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("nothing arrived at the receiver.\nsender log:\n%s\nreceiver log:\n%s", sender.log.String(), receiver.log.String())
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	got := fetchWhole(t, bob, 1)
	head, _, _ := bytes.Cut(got, []byte("\r\n\r\n"))
	for _, want := range []string{
		"Received: from mail.example.test",
		"DKIM-Signature: a=ed25519-sha256",
		"DKIM-Signature: a=rsa-sha256",
		"Authentication-Results: mx.b.test;",
		"spf=pass", "dkim=pass", "dmarc=pass",
	} {
		if !bytes.Contains(head, []byte(want)) {
			t.Errorf("the delivered header lacks %q:\n%s", want, head)
		}
	}
	if !bytes.HasSuffix(got, []byte("\r\n\r\nHello Bob, from the other box.\r\n")) {
		t.Errorf("body changed on the way:\n%s", got)
	}

	// A forgery straight to the receiver's MX goes to Junk.
	f, err := smtp.Dial(mx)
	if err != nil {
		t.Fatal(err)
	}
	forged := "From: ceo@forged.test\r\nTo: bob@b.test\r\nSubject: pay this invoice\r\n\r\nNow.\r\n"
	if err := f.SendMail("ceo@forged.test", []string{"bob@b.test"}, strings.NewReader(forged)); err != nil {
		t.Fatalf("the forgery was refused instead of filed: %v", err)
	}
	f.Quit()
	junk, err := bob.Select("Junk", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if junk.NumMessages != 1 {
		t.Fatalf("Junk has %d messages; want the forgery", junk.NumMessages)
	}
	got = fetchWhole(t, bob, 1)
	if !bytes.Contains(got, []byte("dmarc=fail")) || !bytes.Contains(got, []byte("pay this invoice")) {
		t.Errorf("the forgery in Junk:\n%s", got)
	}
	if in, err := bob.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil || *in.NumMessages != 1 {
		t.Errorf("INBOX after the forgery: %v %+v", err, in)
	}
}

// fetchWhole returns BODY.PEEK[] of message seq in the selected mailbox.
func fetchWhole(t *testing.T, c *imapclient.Client, seq uint32) []byte {
	t.Helper()
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(seq), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch %d: %v (%d messages)", seq, err, len(msgs))
	}
	return msgs[0].FindBodySection(section)
}
