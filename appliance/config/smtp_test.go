package config

import (
	"errors"
	"strings"
	"testing"
)

func TestSMTPConfig(t *testing.T) {
	d := Default().SMTP
	if !d.InboundChecks || d.DNSError != "tempfail" || d.SentCopy || d.SendRatePerHour <= 0 {
		t.Errorf("defaults: %+v", d)
	}
	if DevDefault(t.TempDir()).SMTP.InboundChecks {
		t.Error("dev mode checks loopback mail against DNS it does not have")
	}
	c := Default()
	c.SMTP = SMTPConfig{DNSError: "drop", SendRatePerHour: -1, MaxConnectionsPerIP: 0, MaxMessagesPerConnection: 0}
	err := c.Validate()
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Validate = %v", err)
	}
	for _, field := range []string{"smtp.dns_error", "smtp.send_rate_per_hour", "smtp.max_connections_per_ip", "smtp.max_messages_per_connection"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("no error for %s in %v", field, err)
		}
	}
	c.SMTP = SMTPConfig{DNSError: "accept", SendRatePerHour: 10, SendBurst: 0, MaxConnectionsPerIP: 1, MaxMessagesPerConnection: 1}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "smtp.send_burst") {
		t.Errorf("burst 0 with a rate: %v", err)
	}
	c.SMTP.SendRatePerHour = 0 // no limit: burst does not matter
	if err := c.Validate(); err != nil {
		t.Errorf("no rate limit: %v", err)
	}
	b, err := Default().Marshal()
	if err != nil || !strings.Contains(string(b), `"dns_error": "tempfail"`) || !strings.Contains(string(b), "// When DNS does not answer") {
		t.Errorf("config file lacks smtp settings or their comments:\n%s", b)
	}
}
