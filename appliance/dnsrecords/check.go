package dnsrecords

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Resolver is the part of *net.Resolver that Check asks. The appliance
// passes the configured resolver (Config.Resolver), tests one that asks
// internal/dnstest.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupCNAME(ctx context.Context, host string) (string, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// State is what DNS says of one record.
type State string

const (
	Correct State = "correct" // DNS answers what the record says
	Missing State = "missing" // DNS has no such record
	Wrong   State = "wrong"   // DNS answers something else (Result.Found)
	Unknown State = "unknown" // DNS did not answer (Result.Err): try again later
)

// Result is one record and what DNS answered for it.
type Result struct {
	Record
	State State
	// Found is what DNS answered, in the record's own form, when it is
	// not what the record says (State Wrong).
	Found []string
	// Err is why DNS could not be asked (State Unknown).
	Err error
}

// Check asks r for every record and compares the answers with it. Each
// kind has its own rule of what counts as the same:
//
//   - MX: an MX record of the domain names the box's host (any preference).
//   - SPF: the domain's one "v=spf1" TXT record equals ours (case and
//     spacing aside).
//   - DKIM: the TXT record at the selector carries the same key (k= and p=).
//   - DMARC: a "v=DMARC1" TXT record with the same policy (p=); reports
//     and alignment may be chosen otherwise.
//   - autoconfig/autodiscover: the name leads to the box's host by CNAME,
//     or has the same addresses as the host.
//   - SRV: a record with the same target and port; for a service that is
//     off, "." or no record at all.
//
// Lookups run one after another; ctx bounds them all.
func Check(ctx context.Context, r Resolver, records []Record) []Result {
	out := make([]Result, 0, len(records))
	for _, rec := range records {
		res := Result{Record: rec}
		if err := ctx.Err(); err != nil {
			res.State, res.Err = Unknown, err
		} else {
			res.State, res.Found, res.Err = check(ctx, r, rec)
		}
		out = append(out, res)
	}
	return out
}

func check(ctx context.Context, r Resolver, rec Record) (State, []string, error) {
	switch rec.Kind {
	case KindMX:
		return checkMX(ctx, r, rec)
	case KindSPF, KindDKIM, KindDMARC:
		return checkTXT(ctx, r, rec)
	case KindClient:
		return checkCNAME(ctx, r, rec)
	case KindSRV:
		return checkSRV(ctx, r, rec)
	}
	return Unknown, nil, fmt.Errorf("no check for %s records", rec.Kind)
}

// lookupState sorts a lookup error: not found is Missing, anything else
// (a timeout, a server failure) Unknown.
func lookupState(err error) (State, error) {
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return Missing, nil
	}
	return Unknown, err
}

func checkMX(ctx context.Context, r Resolver, rec Record) (State, []string, error) {
	_, host, _ := strings.Cut(rec.Value, " ")
	mxs, err := r.LookupMX(ctx, rec.Name)
	if err != nil && len(mxs) == 0 {
		st, err := lookupState(err)
		return st, nil, err
	}
	var found []string
	for _, mx := range mxs {
		if sameName(mx.Host, host) {
			return Correct, nil, nil
		}
		found = append(found, fmt.Sprintf("%d %s", mx.Pref, mx.Host))
	}
	if len(found) == 0 {
		return Missing, nil, nil
	}
	return Wrong, found, nil
}

func checkTXT(ctx context.Context, r Resolver, rec Record) (State, []string, error) {
	txts, err := r.LookupTXT(ctx, rec.Name)
	if err != nil && len(txts) == 0 {
		st, err := lookupState(err)
		return st, nil, err
	}
	// Only the records of our kind count: a domain's TXT set holds
	// verification strings and the like beside SPF.
	var ours []string
	for _, t := range txts {
		if sameKind(rec.Kind, t) {
			ours = append(ours, t)
		}
	}
	switch {
	case len(ours) == 0:
		return Missing, nil, nil
	case len(ours) > 1 && rec.Kind != KindDKIM:
		// RFC 7208 4.5 and RFC 7489 6.6.3: two records are an error,
		// whatever they say.
		return Wrong, ours, nil
	}
	for _, t := range ours {
		if sameTXT(rec.Kind, rec.Value, t) {
			return Correct, nil, nil
		}
	}
	return Wrong, ours, nil
}

// sameKind reports whether a TXT string is a record of kind k.
func sameKind(k Kind, txt string) bool {
	t := strings.ToLower(strings.TrimSpace(txt))
	switch k {
	case KindSPF:
		return t == "v=spf1" || strings.HasPrefix(t, "v=spf1 ")
	case KindDMARC:
		return strings.HasPrefix(strings.ReplaceAll(t, " ", ""), "v=dmarc1")
	case KindDKIM:
		return true // the selector's name is the record's alone
	}
	return false
}

// sameTXT compares a TXT record found with the one wanted, by kind.
func sameTXT(k Kind, want, found string) bool {
	switch k {
	case KindSPF:
		return strings.EqualFold(strings.Join(strings.Fields(want), " "), strings.Join(strings.Fields(found), " "))
	case KindDKIM:
		w, f := tags(want), tags(found)
		return strings.EqualFold(w["k"], f["k"]) && w["p"] == f["p"] && f["p"] != ""
	case KindDMARC:
		return strings.EqualFold(tags(want)["p"], tags(found)["p"])
	}
	return false
}

// tags parses a "tag=value; tag=value" list (DKIM RFC 6376 3.2, DMARC),
// with the whitespace inside values removed (a long p= is often split).
func tags(s string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		out[strings.ToLower(strings.TrimSpace(k))] = strings.Join(strings.Fields(v), "")
	}
	return out
}

func checkCNAME(ctx context.Context, r Resolver, rec Record) (State, []string, error) {
	target, err := r.LookupCNAME(ctx, rec.Name)
	if err != nil {
		st, err := lookupState(err)
		return st, nil, err
	}
	if sameName(target, rec.Value) {
		return Correct, nil, nil
	}
	// The box's host may itself be an alias: compare where both end.
	if hostTarget, err := r.LookupCNAME(ctx, rec.Value); err == nil && sameName(target, hostTarget) {
		return Correct, nil, nil
	}
	if !sameName(target, rec.Name) {
		return Wrong, []string{target}, nil
	}
	// No alias: addresses of their own, right if they are the box's.
	have, err := r.LookupHost(ctx, rec.Name)
	if err != nil {
		st, err := lookupState(err)
		return st, nil, err
	}
	want, err := r.LookupHost(ctx, rec.Value)
	if err != nil {
		return Unknown, nil, fmt.Errorf("addresses of %s: %w", rec.Value, err)
	}
	slices.Sort(have)
	slices.Sort(want)
	if slices.Equal(have, want) {
		return Correct, nil, nil
	}
	return Wrong, have, nil
}

func checkSRV(ctx context.Context, r Resolver, rec Record) (State, []string, error) {
	f := strings.Fields(rec.Value) // priority weight port target
	if len(f) != 4 {
		return Unknown, nil, fmt.Errorf("bad SRV value %q", rec.Value)
	}
	port, _ := strconv.Atoi(f[2])
	off := f[3] == "."
	_, srvs, err := r.LookupSRV(ctx, "", "", rec.Name)
	if err != nil && len(srvs) == 0 {
		st, err := lookupState(err)
		if st == Missing && off {
			return Correct, nil, nil // nothing offered, nothing published
		}
		return st, nil, err
	}
	var found []string
	for _, s := range srvs {
		if sameName(s.Target, f[3]) && (off || int(s.Port) == port) {
			return Correct, nil, nil
		}
		found = append(found, fmt.Sprintf("%d %d %d %s", s.Priority, s.Weight, s.Port, s.Target))
	}
	return Wrong, found, nil
}

// sameName compares two DNS names, case and final dot aside.
func sameName(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}
