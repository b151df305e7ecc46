// Package mailauth checks where an inbound message comes from: SPF for the
// connecting address (RFC 7208), the DKIM signatures of the message (RFC
// 6376) and the From: domain's DMARC policy (RFC 7489). The outcome is one
// Authentication-Results header field (RFC 8601) for the top of the message
// and a verdict: deliver to the INBOX, file into Junk, or ask the sender to
// try again later because DNS did not answer.
//
// The map:
//
//	mailauth.go  Verifier, Input, Verdict, Verify: the order of the checks
//	             and the policy that turns their results into a verdict
//	dmarc.go     DMARC policy discovery and identifier alignment
//	header.go    reading the header section (bounded), the From: domain,
//	             formatting Authentication-Results, and ClaimsHost for
//	             removing forged ones (RFC 8601 5)
//	mailauthtest/  an Ed25519 DKIM key for tests: sign, publish in dnstest
//
// SPF comes from blitiri.com.ar/go/spf; DKIM verification, DMARC record
// parsing and the result formatting from github.com/emersion/go-msgauth.
// This package decides what the results mean for the box:
//
//   - mail is never dropped: an SPF "fail", or a DMARC "fail" under a
//     policy of quarantine or reject, files the message into Junk. A DMARC
//     reject is not a 550 here, because a wrong verdict (a forwarded
//     message, a mailing list) would then lose mail with nobody the wiser.
//   - an SPF fail is forgiven when a DKIM signature aligned with the From:
//     domain passes: forwarding breaks SPF, not DKIM (RFC 7489 10.1).
//   - a DNS failure (SERVFAIL, timeout) is "temperror" and, by
//     OnDNSError, either a temporary refusal (the sender retries; nothing
//     is lost) or an accepted message marked temperror.
//   - no DNS data at all (no SPF record, unsigned, no DMARC record) is
//     "none", never a failure: LAN devices and small senders are like that.
package mailauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
)

// What to do when DNS fails during the checks (Verifier.OnDNSError).
const (
	// DNSErrorTempFail refuses the message with a temporary error, so the
	// sending server keeps it and retries (RFC 5321 4.2.1, 4yz). The
	// default.
	DNSErrorTempFail = "tempfail"
	// DNSErrorAccept delivers the message with temperror in its
	// Authentication-Results, into the INBOX unless another check failed.
	DNSErrorAccept = "accept"
)

// Verifier runs the checks. The zero value works: system resolver, host
// name "localhost", temporary refusal on DNS errors.
type Verifier struct {
	// Resolver answers the DNS queries. nil means net.DefaultResolver.
	Resolver *net.Resolver
	// Hostname is the authserv-id of our Authentication-Results (RFC 8601
	// 2.5): the name of this box. "" means "localhost".
	Hostname string
	// Logger receives one debug line per check. nil means slog.Default().
	Logger *slog.Logger
	// OnDNSError is DNSErrorTempFail ("" too) or DNSErrorAccept.
	OnDNSError string
	// Timeout bounds all DNS work for one message. 0 means 30 seconds.
	Timeout time.Duration
	// MaxSignatures bounds the DKIM signatures verified per message; more
	// are ignored (each costs DNS queries and a hash of the body). 0 means 5.
	MaxSignatures int
}

// Input is what the SMTP session knows about the sender.
type Input struct {
	RemoteIP netip.Addr
	HELO     string // EHLO/HELO argument
	MailFrom string // reverse-path, "" for <>
}

// Verdict is the outcome for one message.
type Verdict struct {
	// Header is the whole Authentication-Results field, name included,
	// folded, ending in CRLF.
	Header string
	// Junk: file the message into the Junk mailbox.
	Junk bool
	// Reason says in words why Junk or TempFail is set, for the log.
	Reason string
	// TempFail: refuse with a temporary error (451 4.4.3) because DNS did
	// not answer and OnDNSError is DNSErrorTempFail.
	TempFail bool
	// The individual results, for logs and tests.
	SPF   spf.Result
	DKIM  []DKIMResult
	DMARC DMARCResult
}

// DKIMResult is the outcome of one DKIM signature.
type DKIMResult struct {
	Domain string // d=
	Result authres.ResultValue
	Err    error // why it did not pass, nil on pass
}

// DMARCResult is the DMARC evaluation (RFC 7489 6.6.2).
type DMARCResult struct {
	Result     authres.ResultValue // none, pass, fail, temperror, permerror
	FromDomain string              // RFC5322.From domain, "" if none found
	Policy     string              // the policy that applies: none, quarantine, reject
}

// ErrNoHeader is returned when the message does not even have a header
// section that ends (it was read up to maxHeader without a blank line).
// Callers deliver such a message anyway: it is not ours to lose.
var ErrNoHeader = errors.New("mailauth: header section too long or unterminated")

// Verify checks one message. It reads msg to the end (DKIM hashes the
// body). The returned error is for faults that are neither the sender's nor
// DNS's (a read error of msg); the Verdict is meaningful only without one.
func (v *Verifier) Verify(ctx context.Context, in Input, msg io.Reader) (Verdict, error) {
	timeout := v.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := v.resolver()

	var vd Verdict
	vd.SPF = v.checkSPF(ctx, res, in)

	hdr, rest, err := ReadHeader(msg)
	if err != nil && !errors.Is(err, ErrNoHeader) {
		return Verdict{}, fmt.Errorf("mailauth: read message: %w", err)
	}
	fromDomain := ""
	if err == nil {
		fromDomain = fromHeaderDomain(hdr)
	}

	vd.DKIM, err = v.checkDKIM(ctx, res, io.MultiReader(bytes.NewReader(hdr), rest))
	if err != nil {
		return Verdict{}, err
	}
	vd.DMARC = checkDMARC(ctx, res, fromDomain, in, vd.SPF, vd.DKIM)

	v.decide(&vd, in, fromDomain)
	vd.Header = formatHeader(v.hostname(), in, vd)
	v.logger().Debug("mailauth", append([]any{"remote", in.RemoteIP.String()}, vd.LogAttrs()...)...)
	return vd, nil
}

// LogAttrs is the verdict as slog attributes: one word per check, the From:
// domain, and Junk with its reason.
func (vd Verdict) LogAttrs() []any {
	a := []any{"spf", string(vd.SPF), "dkim", dkimSummary(vd.DKIM), "dmarc", string(vd.DMARC.Result),
		"from_domain", vd.DMARC.FromDomain, "junk", vd.Junk}
	if vd.Reason != "" {
		a = append(a, "reason", vd.Reason)
	}
	return a
}

// decide turns the results into Junk/TempFail.
func (v *Verifier) decide(vd *Verdict, in Input, fromDomain string) {
	temp := []string{}
	if vd.SPF == spf.TempError {
		temp = append(temp, "SPF")
	}
	if anyDKIM(vd.DKIM, authres.ResultTempError) {
		temp = append(temp, "DKIM")
	}
	if vd.DMARC.Result == authres.ResultTempError {
		temp = append(temp, "DMARC")
	}

	var junk []string
	// RFC 7208 8.4: "fail" is an explicit statement that the client is not
	// authorised. Forgiven when an aligned DKIM signature proves the From:
	// domain anyway (forwarded mail).
	if vd.SPF == spf.Fail && !alignedDKIMPass(vd.DKIM, fromDomain) {
		junk = append(junk, "SPF fail for "+spfDomain(in))
	}
	// RFC 7489 6.6.4 and 6.7: the domain asks receivers to treat failing
	// mail as suspicious (quarantine) or not to accept it (reject). We
	// quarantine both: see the package comment.
	if vd.DMARC.Result == authres.ResultFail && (vd.DMARC.Policy == "quarantine" || vd.DMARC.Policy == "reject") {
		junk = append(junk, "DMARC "+vd.DMARC.Policy+" policy of "+vd.DMARC.FromDomain)
	}

	switch {
	case len(temp) > 0 && v.OnDNSError != DNSErrorAccept:
		vd.TempFail = true
		vd.Reason = "DNS lookup failed for " + strings.Join(temp, ", ")
	case len(junk) > 0:
		vd.Junk = true
		vd.Reason = strings.Join(junk, "; ")
	case len(temp) > 0:
		vd.Reason = "accepted despite DNS failure for " + strings.Join(temp, ", ")
	}
}

func (v *Verifier) resolver() *net.Resolver {
	if v.Resolver != nil {
		return v.Resolver
	}
	return net.DefaultResolver
}

func (v *Verifier) hostname() string {
	if v.Hostname == "" {
		return "localhost"
	}
	return v.Hostname
}

func (v *Verifier) logger() *slog.Logger {
	if v.Logger == nil {
		return slog.Default()
	}
	return v.Logger
}

// spfDomain is the domain SPF checked: the MAIL FROM domain, or the HELO
// name for the null reverse-path (RFC 7208 2.4).
func spfDomain(in Input) string {
	if at := strings.LastIndexByte(in.MailFrom, '@'); at >= 0 {
		return strings.ToLower(strings.TrimSuffix(in.MailFrom[at+1:], "."))
	}
	return strings.ToLower(strings.TrimSuffix(in.HELO, "."))
}

// checkSPF runs check_host() (RFC 7208 4) for the MAIL FROM identity, or
// for postmaster@HELO when the reverse-path is null (RFC 7208 2.4).
func (v *Verifier) checkSPF(ctx context.Context, res *net.Resolver, in Input) spf.Result {
	if !in.RemoteIP.IsValid() {
		return spf.None
	}
	sender := in.MailFrom
	if sender == "" {
		if !isDomain(in.HELO) {
			// An address literal or garbage as HELO: nothing to check
			// (RFC 7208 2.3 applies check_host only to a domain).
			return spf.None
		}
		sender = "postmaster@" + in.HELO
	}
	if !isDomain(spfDomain(Input{MailFrom: sender})) {
		return spf.None
	}
	r, err := spf.CheckHostWithSender(net.IP(in.RemoteIP.Unmap().AsSlice()), in.HELO, sender,
		spf.WithResolver(res), spf.WithContext(ctx))
	if r == spf.TempError || (err != nil && ctx.Err() != nil) {
		// The library reports a DNS timeout under the context as
		// temperror, and so do we.
		return spf.TempError
	}
	return r
}

// checkDKIM verifies every signature (up to MaxSignatures).
func (v *Verifier) checkDKIM(ctx context.Context, res *net.Resolver, msg io.Reader) ([]DKIMResult, error) {
	maxSigs := v.MaxSignatures
	if maxSigs <= 0 {
		maxSigs = 5
	}
	verifs, err := dkim.VerifyWithOptions(msg, &dkim.VerifyOptions{
		LookupTXT:        func(name string) ([]string, error) { return res.LookupTXT(ctx, name) },
		MaxVerifications: maxSigs,
	})
	// Verify need not read everything; the caller's reader must be drained
	// so the staged body (or the connection) is left in a known state.
	if _, cerr := io.Copy(io.Discard, msg); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		// A header that cannot be parsed is the sender's problem: it
		// makes every signature permerror, not a fault of ours.
		var ne net.Error
		if errors.As(err, &ne) {
			return nil, fmt.Errorf("mailauth: dkim: %w", err)
		}
		return []DKIMResult{{Result: authres.ResultPermError, Err: err}}, nil
	}
	out := make([]DKIMResult, 0, len(verifs))
	for _, vf := range verifs {
		r := DKIMResult{Domain: strings.ToLower(vf.Domain), Err: vf.Err}
		switch {
		case vf.Err == nil:
			r.Result = authres.ResultPass
		case dkim.IsTempFail(vf.Err):
			r.Result = authres.ResultTempError
		case dkim.IsPermFail(vf.Err):
			r.Result = authres.ResultPermError
		default:
			r.Result = authres.ResultFail
		}
		out = append(out, r)
	}
	return out, nil
}

func dkimSummary(rs []DKIMResult) string {
	if len(rs) == 0 {
		return "none"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = string(r.Result) + ":" + r.Domain
	}
	return strings.Join(parts, ",")
}

// isDomain reports whether s looks like a DNS name we can query: at least
// two LDH labels (a bare word or an address literal is not one).
func isDomain(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
