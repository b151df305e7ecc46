package appliance

import (
	"net"
	"strings"
	"testing"

	"postroom/appliance/config"
)

// TestDemoPasswordAfterAFailedStart: a first start that fails on a taken
// port creates no demo user, so the next start creates it and prints a
// password that works (SMTP AUTH on the submission port).
func TestDemoPasswordAfterAFailedStart(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t)
	cfg.Listen.Submission = busy.Addr().String()
	if _, err := start(t, cfg); err == nil || !strings.Contains(err.Error(), "listen.submission") {
		t.Fatalf("first start with the submission port taken = %v; want a listen.submission error", err)
	}

	cfg.Listen.Submission = "127.0.0.1:0"
	r, password := startDemo(t, cfg) // fails the test when no password is printed
	submitAs(t, r.addr(t, ServiceSubmission), config.DemoUser, password, config.DemoUser,
		[]string{config.DemoUser}, "From: "+config.DemoUser+"\r\nSubject: hello me\r\n\r\nit works\r\n")
}
