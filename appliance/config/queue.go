package config

import (
	"fmt"
	"net"
	"time"
)

// QueueConfig is outgoing mail: Config.Queue.
type QueueConfig struct {
	Smarthost SmarthostConfig `json:"smarthost" help:"Send every outgoing message through another server (your provider's relay) instead of straight to the recipients' servers; for lines whose port 25 is blocked. Leave host empty to deliver directly."`
	// Port is for tests and special networks: the real world uses 25.
	Port          int      `json:"port" help:"Port of the recipients' mail servers (MX). Always 25 on the internet; other values are for tests."`
	Concurrency   int      `json:"concurrency" help:"Most messages sent at the same time."`
	PerDomain     int      `json:"per_domain" help:"Most messages sent at the same time to one domain (or to the smarthost)."`
	MaxAge        Duration `json:"max_age" help:"How long a message that cannot be delivered is retried before it is returned to the sender, e.g. \"120h\" (5 days)."`
	DelayWarning  Duration `json:"delay_warning" help:"After how long the sender is told once that a message is delayed, e.g. \"4h\"; \"0s\" never."`
	RetrySchedule []string `json:"retry_schedule" help:"Waits between attempts, e.g. [\"5m\", \"15m\", \"1h\", \"4h\"]; the last repeats. Empty: that schedule."`
	DKIM          bool     `json:"dkim" help:"Sign outgoing mail with DKIM keys made for each of your domains (data_dir/dkim/); postroomctl dns prints the DNS records to publish."`
}

// SmarthostConfig is a relay for all outgoing mail.
type SmarthostConfig struct {
	Host     string `json:"host" help:"The relay's name, e.g. \"smtp.provider.example\"; empty: no smarthost."`
	Port     int    `json:"port" help:"The relay's port; 0: 587 for starttls, 465 for tls, 25 for none."`
	TLS      string `json:"tls" help:"\"starttls\" (port 587, certificate checked), \"tls\" (port 465, TLS from the first byte) or \"none\" (no encryption; passwords then only to a relay on this box)."`
	Username string `json:"username" help:"Login at the relay; empty: no login."`
	Password string `json:"password" help:"Password at the relay. Kept in this file, which only the appliance can read."`
}

func defaultQueue() QueueConfig {
	return QueueConfig{
		Smarthost:    SmarthostConfig{TLS: "starttls"},
		Port:         25,
		Concurrency:  8,
		PerDomain:    2,
		MaxAge:       Duration(5 * 24 * time.Hour),
		DelayWarning: Duration(4 * time.Hour),
		DKIM:         true,
	}
}

// Retry returns the parsed schedule (nil: the queue's default).
func (q QueueConfig) Retry() ([]time.Duration, error) {
	var out []time.Duration
	for _, s := range q.RetrySchedule {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q is not a positive duration such as \"15m\"", s)
		}
		out = append(out, d)
	}
	return out, nil
}

// validate reports every problem, naming the field as spelt in the file.
func (q QueueConfig) validate() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("queue.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if q.Port < 1 || q.Port > 65535 {
		bad("port", "%d is not a port from 1 to 65535", q.Port)
	}
	if q.Concurrency < 1 || q.Concurrency > 100 {
		bad("concurrency", "%d is outside 1 to 100", q.Concurrency)
	}
	if q.PerDomain < 1 || q.PerDomain > q.Concurrency {
		bad("per_domain", "%d is outside 1 to concurrency (%d)", q.PerDomain, q.Concurrency)
	}
	if d := time.Duration(q.MaxAge); d < time.Minute || d > 30*24*time.Hour {
		bad("max_age", "%s is outside 1m to 720h (30 days)", d)
	}
	if d := time.Duration(q.DelayWarning); d < 0 {
		bad("delay_warning", "%s is negative", d)
	}
	if _, err := q.Retry(); err != nil {
		bad("retry_schedule", "%v", err)
	}
	sh := q.Smarthost
	if sh.Host != "" {
		if net.ParseIP(sh.Host) == nil && checkHostname(sh.Host) != nil {
			bad("smarthost.host", "%q is neither a host name nor an IP address", sh.Host)
		}
		if sh.Port < 0 || sh.Port > 65535 {
			bad("smarthost.port", "%d is not a port from 0 to 65535", sh.Port)
		}
		switch sh.TLS {
		case "starttls", "tls", "none":
		default:
			bad("smarthost.tls", "%q: use \"starttls\", \"tls\" or \"none\"", sh.TLS)
		}
		if (sh.Username == "") != (sh.Password == "") {
			bad("smarthost", "give both username and password, or neither")
		}
	}
	return errs
}
