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

// checkAndDeliver is the MX path with checks: the message is staged in
// the store, verified from there, and then committed with Return-Path,
// Authentication-Results and Received on top (RFC 8601 5: the A-R field is
// added at the top, like a trace field), written beside the body rather
// than into it. SPF hard fail and DMARC quarantine/reject go to Junk, never
// away.
func (s *session) checkAndDeliver(tx *transaction, body io.Reader, start time.Time) ([]any, error) {
	sg, err := s.stage(body)
	if err != nil {
		return nil, err
	}
	defer func() { sg.Close() }() // sg may be replaced below
	in := mailauth.Input{RemoteIP: s.remote, HELO: tx.helo, MailFrom: tx.from}
	vd, err := s.srv.opts.Checker.Verify(s.srv.ctx, in, sg.Reader())
	if err != nil {
		return nil, fmt.Errorf("inbound checks: %w", err)
	}
	attrs := vd.LogAttrs()
	if vd.TempFail {
		return attrs, errDNSTemp
	}
	cuts, err := ownResults(sg.Reader(), s.srv.opts.Hostname)
	if err != nil {
		return attrs, err
	}
	if len(cuts) > 0 {
		// Rare (a forgery or a loop): the body changes, so it is staged
		// again without those fields and the first stage let go.
		attrs = append(attrs, "removed_auth_results", len(cuts))
		clean, err := s.stage(without(sg.ReaderAt(), sg.Size(), cuts))
		if err != nil {
			return attrs, err
		}
		sg.Close()
		sg = clean
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
	return attrs, s.commitLocal(sg, rcpts, hdr)
}

// ownResults finds the Authentication-Results fields that claim to come
// from us (RFC 8601 5: a receiver MUST remove, or rename, such fields that
// arrive from outside, or a forger could tell the user "dkim=pass").
func ownResults(msg io.Reader, host string) ([][2]int64, error) {
	hdr, _, err := mailauth.ReadHeader(msg)
	if err != nil && err != mailauth.ErrNoHeader {
		return nil, fmt.Errorf("read back the staged message: %w", err)
	}
	var cuts [][2]int64
	for _, f := range mailauth.Fields(hdr) {
		if strings.EqualFold(f.Name, "Authentication-Results") && mailauth.ClaimsHost(f.Value, host) {
			cuts = append(cuts, [2]int64{int64(f.Start), int64(f.End)})
		}
	}
	return cuts, nil
}

// without reads the size bytes of ra with the byte ranges cut out (sorted,
// not overlapping).
func without(ra io.ReaderAt, size int64, cuts [][2]int64) io.Reader {
	var parts []io.Reader
	pos := int64(0)
	for _, c := range cuts {
		parts = append(parts, io.NewSectionReader(ra, pos, c[0]-pos))
		pos = c[1]
	}
	parts = append(parts, io.NewSectionReader(ra, pos, size-pos))
	return io.MultiReader(parts...)
}
