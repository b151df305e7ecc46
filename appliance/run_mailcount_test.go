package appliance

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"postroom/appliance/config"
	"postroom/appliance/status"
	"postroom/hw"
	"postroom/internal/dnstest"
	"postroom/internal/testutil"
	"postroom/storage"
)

// flashPin is the mail LED's pin; it counts how often it was lit.
type flashPin struct {
	gpiotest.Pin
	lit atomic.Int32
}

func (p *flashPin) Out(l gpio.Level) error {
	if l == gpio.High {
		p.lit.Add(1)
	}
	return p.Pin.Out(l)
}

// TestColleagueMailCountsAndFlashes: mail one colleague sends another on
// the submission port is sent and received mail of the day, and flashes
// the mail LED (it once counted as neither: only port 25 was counted).
func TestColleagueMailCountsAndFlashes(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen.Submission = "127.0.0.1:0"
	st, err := storage.Open(storage.Options{Dir: filepath.Join(cfg.DataDir, "store")})
	if err != nil {
		t.Fatal(err)
	}
	ann, bob := "ann@"+config.DemoDomain, "bob@"+config.DemoDomain
	for _, a := range []string{ann, bob} {
		if _, err := st.CreateAccount(a, "password-"+a); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	pin := &flashPin{Pin: gpiotest.Pin{N: "mail"}}
	panel := hw.NewFront(hw.Options{Logger: testutil.Logger(t), Mail: pin})
	r, err := startPanel(t, cfg, panel)
	if err != nil {
		t.Fatal(err)
	}
	// Past the start-up frames, the LED is dark until mail moves.
	before := pin.lit.Load()

	submitAs(t, r.addr(t, ServiceSubmission), ann, "password-"+ann, ann, []string{bob}, "From: "+ann+"\r\nTo: "+bob+"\r\nSubject: lunch\r\n\r\nAt noon?\r\n")
	s := r.waitFor(t, "one received and one sent", func(s status.Snapshot) bool {
		return s.MailToday == 1 && s.SentToday == 1
	})
	if s.FailedToday != 0 {
		t.Errorf("failed today = %d; want 0", s.FailedToday)
	}
	r.waitFor(t, "the unread count", func(s status.Snapshot) bool { return s.Unread == 1 })
	for deadline := time.Now().Add(30 * time.Second); pin.lit.Load() == before; {
		if time.Now().After(deadline) {
			t.Fatalf("the mail LED never lit; log:\n%s", r.log.String())
		}
		<-time.After(10 * time.Millisecond)
	}
}

// TestBounceShowsOnStatus: a message the other server refuses for good
// comes back to its sender as a bounce, and the status says one message
// could not be delivered today instead of "all sent".
func TestBounceShowsOnStatus(t *testing.T) {
	port := testutil.StartSMTPSink(t, "mx.remote.test", func([]byte) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	})
	zone := dnstest.Start(t, "remote.test. 300 IN A 127.0.0.1")
	cfg := testConfig(t)
	cfg.Listen.Submission = "127.0.0.1:0"
	cfg.Resolver = zone.Addr()
	cfg.Queue.Port = port
	r, password := startDemo(t, cfg)

	submitAs(t, r.addr(t, ServiceSubmission), config.DemoUser, password, config.DemoUser, []string{"nobody@remote.test"},
		"From: "+config.DemoUser+"\r\nTo: nobody@remote.test\r\nSubject: hello\r\n\r\nhello\r\n")
	s := r.waitFor(t, "a bounce counted", func(s status.Snapshot) bool {
		return s.FailedToday == 1 && s.Queue.Length == 0
	})
	if s.SentToday != 0 {
		t.Errorf("sent today = %d after a refusal; want 0", s.SentToday)
	}

	resp, err := http.Get("http://" + r.addr(t, ServiceWeb) + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		FailedToday int `json:"failed_today"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got.FailedToday != 1 {
		t.Fatalf("status.json failed_today = %d, %v; want 1", got.FailedToday, err)
	}
}
