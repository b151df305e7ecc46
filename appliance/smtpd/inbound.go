package smtpd

import (
	"fmt"
	"io"
	"strings"
	"time"

	"postroom/appliance/mailauth"
	"postroom/storage"
)

// errDNSTemp: the checks could not finish because DNS failed, and the
// policy is to let the sender retry (RFC 5321 4.2.1; 4.4.3 is "directory
// server failure", RFC 3463).
var errDNSTemp = reply(451, 4, 4, 3, "Temporary DNS failure checking the sender, try again later")

// checkAndDeliver is the MX path with checks: the message is spooled,
// verified, and then stored with Return-Path, Authentication-Results and
// Received on top (RFC 8601 5: the A-R field is added at the top, like a
// trace field). SPF hard fail and DMARC quarantine/reject go to Junk, never
// away.
func (s *session) checkAndDeliver(tx *transaction, body io.Reader, start time.Time) ([]any, error) {
	sp, err := s.spool(body)
	if err != nil {
		return nil, err
	}
	defer sp.Close()
	in := mailauth.Input{RemoteIP: s.remote, HELO: tx.helo, MailFrom: tx.from}
	vd, err := s.srv.opts.Checker.Verify(s.srv.ctx, in, sp.reader())
	if err != nil {
		return nil, fmt.Errorf("inbound checks: %w", err)
	}
	attrs := vd.LogAttrs()
	if vd.TempFail {
		return attrs, errDNSTemp
	}
	cuts, err := ownResults(sp, s.srv.opts.Hostname)
	if err != nil {
		return attrs, err
	}
	if len(cuts) > 0 {
		attrs = append(attrs, "removed_auth_results", len(cuts))
	}
	rcpts := tx.rcpts
	if vd.Junk {
		rcpts = make([]storage.Recipient, len(tx.rcpts))
		for i, r := range tx.rcpts {
			r.Mailbox = "Junk"
			rcpts[i] = r
		}
	}
	hdr := returnPath(tx.from) + vd.Header + received(s.trace(tx, start))
	return attrs, s.deliver(tx, rcpts, hdr, sp.without(cuts))
}

// ownResults finds the Authentication-Results fields that claim to come
// from us (RFC 8601 5: a receiver MUST remove, or rename, such fields that
// arrive from outside, or a forger could tell the user "dkim=pass").
func ownResults(sp *spool, host string) ([][2]int64, error) {
	hdr, _, err := mailauth.ReadHeader(sp.reader())
	if err != nil && err != mailauth.ErrNoHeader {
		return nil, fmt.Errorf("%w: read back: %w", errSpool, err)
	}
	var cuts [][2]int64
	for _, f := range mailauth.Fields(hdr) {
		if strings.EqualFold(f.Name, "Authentication-Results") && mailauth.ClaimsHost(f.Value, host) {
			cuts = append(cuts, [2]int64{int64(f.Start), int64(f.End)})
		}
	}
	return cuts, nil
}
