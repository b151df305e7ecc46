package config

import (
	"fmt"

	"postroom/appliance/mailauth"
)

// SMTPConfig is the policy of incoming mail (MX) and of mail submitted by
// the box's users: Config.SMTP. The ports are in Config.Listen; size,
// recipient and connection limits shared with other services stay at the
// top of Config.
type SMTPConfig struct {
	InboundChecks bool   `json:"inbound_checks" help:"Check incoming mail with SPF, DKIM and DMARC and record the results in an Authentication-Results header. Mail that fails SPF, or DMARC with a quarantine or reject policy, goes to the Junk folder; nothing is thrown away."`
	DNSError      string `json:"dns_error" help:"When DNS does not answer during those checks: \"tempfail\" asks the sending server to try again later (it keeps the message), \"accept\" delivers it marked temperror."`
	SentCopy      bool   `json:"sent_copy" help:"Put a copy of every message a user sends into their Sent folder. Off: mail programs save their own copy, and a second would be a duplicate."`
	// The rate counts recipients, local and remote: a stolen password then
	// reaches a few hundred people, not a million, before anyone notices.
	SendRatePerHour int `json:"send_rate_per_hour" help:"Most recipients one user may send to per hour (a token bucket refilled at this rate); 0: no limit."`
	SendBurst       int `json:"send_burst" help:"Most recipients one user may send to at once before the hourly rate applies."`
	// Per client address, so that one client cannot take every one of
	// max_connections.
	MaxConnectionsPerIP      int `json:"max_connections_per_ip" help:"Most simultaneous SMTP connections from one address (one /64 for IPv6), per port."`
	MaxMessagesPerConnection int `json:"max_messages_per_connection" help:"Most messages on one SMTP connection; the client must then reconnect."`
}

func defaultSMTP() SMTPConfig {
	return SMTPConfig{
		InboundChecks:            true,
		DNSError:                 mailauth.DNSErrorTempFail,
		SendRatePerHour:          200,
		SendBurst:                100,
		MaxConnectionsPerIP:      20,
		MaxMessagesPerConnection: 100,
	}
}

// validate reports every problem, naming the field as spelt in the file.
func (c SMTPConfig) validate() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("smtp.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.DNSError != mailauth.DNSErrorTempFail && c.DNSError != mailauth.DNSErrorAccept {
		bad("dns_error", "%q is neither \"tempfail\" nor \"accept\"", c.DNSError)
	}
	if c.SendRatePerHour < 0 || c.SendRatePerHour > 1_000_000 {
		bad("send_rate_per_hour", "%d is outside 0 (no limit) to 1000000", c.SendRatePerHour)
	}
	if c.SendRatePerHour > 0 && (c.SendBurst < 1 || c.SendBurst > 1_000_000) {
		bad("send_burst", "%d is outside 1 to 1000000", c.SendBurst)
	}
	if c.MaxConnectionsPerIP < 1 || c.MaxConnectionsPerIP > 10000 {
		bad("max_connections_per_ip", "%d is outside 1 to 10000", c.MaxConnectionsPerIP)
	}
	if c.MaxMessagesPerConnection < 1 || c.MaxMessagesPerConnection > 100000 {
		bad("max_messages_per_connection", "%d is outside 1 to 100000", c.MaxMessagesPerConnection)
	}
	return errs
}
