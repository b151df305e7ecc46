package mailauth

import (
	"context"
	"errors"
	"net"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"
)

// checkDMARC evaluates the From: domain's policy (RFC 7489 6.6).
func checkDMARC(ctx context.Context, res *net.Resolver, fromDomain string, in Input, spfResult spf.Result, dkims []DKIMResult) DMARCResult {
	out := DMARCResult{Result: authres.ResultNone, FromDomain: fromDomain}
	if fromDomain == "" || !isDomain(fromDomain) {
		// No single From: domain to evaluate. RFC 7489 6.6.1 leaves
		// such messages to local policy; ours is "none".
		return out
	}
	rec, policy, err := lookupDMARC(ctx, res, fromDomain)
	switch {
	case dmarc.IsTempFail(err) || (err != nil && ctx.Err() != nil):
		out.Result = authres.ResultTempError
		return out
	case errors.Is(err, dmarc.ErrNoPolicy):
		return out
	case err != nil:
		// A malformed record: RFC 7489 6.6.3 says to treat the domain
		// as having none.
		out.Result = authres.ResultPermError
		return out
	}
	out.Policy = string(policy)

	// RFC 7489 3.1: an identifier is aligned when it equals the From:
	// domain (strict) or shares its organizational domain (relaxed).
	spfAligned := spfResult == spf.Pass && aligned(spfDomain(in), fromDomain, rec.SPFAlignment)
	dkimAligned := false
	for _, d := range dkims {
		if d.Result == authres.ResultPass && aligned(d.Domain, fromDomain, rec.DKIMAlignment) {
			dkimAligned = true
			break
		}
	}
	switch {
	case spfAligned || dkimAligned:
		out.Result = authres.ResultPass
	case spfResult == spf.TempError || anyDKIM(dkims, authres.ResultTempError):
		// A check that could have passed did not finish: not a fail.
		out.Result = authres.ResultTempError
	default:
		out.Result = authres.ResultFail
	}
	return out
}

// lookupDMARC finds the policy record (RFC 7489 6.6.3): at the From:
// domain, else at its organizational domain, whose subdomain policy (sp=)
// then applies.
func lookupDMARC(ctx context.Context, res *net.Resolver, domain string) (*dmarc.Record, dmarc.Policy, error) {
	opts := &dmarc.LookupOptions{LookupTXT: func(name string) ([]string, error) { return res.LookupTXT(ctx, name) }}
	rec, err := dmarc.LookupWithOptions(domain, opts)
	if err == nil {
		return rec, rec.Policy, nil
	}
	org := orgDomain(domain)
	if !errors.Is(err, dmarc.ErrNoPolicy) || org == domain {
		return nil, "", err
	}
	rec, err = dmarc.LookupWithOptions(org, opts)
	if err != nil {
		return nil, "", err
	}
	p := rec.Policy
	if rec.SubdomainPolicy != "" {
		p = rec.SubdomainPolicy
	}
	return rec, p, nil
}

// aligned compares two domains in the given mode (RFC 7489 3.1.1, 3.1.2).
func aligned(id, from string, mode dmarc.AlignmentMode) bool {
	id = strings.ToLower(strings.TrimSuffix(id, "."))
	from = strings.ToLower(strings.TrimSuffix(from, "."))
	if id == "" {
		return false
	}
	if mode == dmarc.AlignmentStrict {
		return id == from
	}
	return orgDomain(id) == orgDomain(from)
}

// orgDomain is the organizational domain (RFC 7489 3.2): the public suffix
// plus one label. Unknown suffixes such as .test count as one label (the
// list's default rule), so "a.example.test" gives "example.test".
func orgDomain(d string) string {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	if org, err := publicsuffix.EffectiveTLDPlusOne(d); err == nil {
		return org
	}
	return d
}

// alignedDKIMPass reports whether some passing signature's d= shares the
// From: domain's organizational domain.
func alignedDKIMPass(dkims []DKIMResult, fromDomain string) bool {
	if fromDomain == "" {
		return false
	}
	for _, d := range dkims {
		if d.Result == authres.ResultPass && aligned(d.Domain, fromDomain, dmarc.AlignmentRelaxed) {
			return true
		}
	}
	return false
}

func anyDKIM(dkims []DKIMResult, r authres.ResultValue) bool {
	for _, d := range dkims {
		if d.Result == r {
			return true
		}
	}
	return false
}
