package appliance

import (
	"bytes"
	"context"
	"crypto/tls"
	"path/filepath"
	"postroom/appliance/config"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postroom/appliance/dkim"
	"postroom/internal/dnstest"
	"postroom/internal/testutil"
)

// TestRunDeliversOutbound: mail submitted on 587 to a remote domain goes
// through the queue worker to that domain's server (a recording go-smtp
// server on 127.0.0.1, found through the configured resolver), signed with
// the sender domain's DKIM keys from DATA/dkim; the status Snapshot counts
// it as sent and shows an empty queue.
func TestRunDeliversOutbound(t *testing.T) {
	got := make(chan []byte, 1)
	port := testutil.StartSMTPSink(t, "mx.remote.test", func(b []byte) error { got <- b; return nil })

	zone := dnstest.Start(t, "remote.test. 300 IN A 127.0.0.1")
	cfg := testConfig(t)
	cfg.Listen.Submission = "127.0.0.1:0"
	cfg.Resolver = zone.Addr()
	cfg.Queue.Port = port
	r, password := startDemo(t, cfg)
	notify, unsubscribe := r.bus.Subscribe()
	defer unsubscribe()

	c, err := smtp.DialStartTLS(r.addr(t, ServiceSubmission), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", config.DemoUser, password)); err != nil {
		t.Fatal(err)
	}
	body := "From: " + config.DemoUser + "\r\nTo: bob@remote.test\r\nSubject: outbound\r\n\r\nhello Bob\r\n"
	if err := c.SendMail(config.DemoUser, []string{"bob@remote.test"}, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}

	var data []byte
	select {
	case data = <-got:
	case <-time.After(30 * time.Second):
		t.Fatalf("nothing delivered; log:\n%s", r.log.String())
	}
	if !bytes.Contains(data, []byte("hello Bob")) {
		t.Fatalf("delivered %q", data)
	}
	keys, err := dkim.New(filepath.Join(cfg.DataDir, "dkim")).Existing(config.DemoDomain)
	if err != nil {
		t.Fatalf("no DKIM keys in the data folder: %v", err)
	}
	recs, _ := keys.Records()
	for _, rec := range recs {
		zone.Add(rec.Name + " 300 IN TXT " + dkim.ZoneText(rec.Value))
	}
	res := zone.Resolver()
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(data), &msgdkim.VerifyOptions{
		LookupTXT: func(n string) ([]string, error) { return res.LookupTXT(context.Background(), n) },
	})
	if err != nil || len(vs) != 2 || vs[0].Err != nil || vs[1].Err != nil {
		t.Fatalf("DKIM: %v %+v", err, vs)
	}

	// The Snapshot catches up: one sent, nothing queued.
	deadline := time.After(30 * time.Second)
	for {
		s := r.bus.Latest()
		if s.SentOn(time.Now()) == 1 && s.Queue.Length == 0 {
			break
		}
		select {
		case <-notify:
		case <-deadline:
			t.Fatalf("snapshot: sent %d, queue %+v", s.SentOn(time.Now()), s.Queue)
		}
	}
}
