package netcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"postroom/appliance/dnsrecords"
	"postroom/appliance/status"
)

// Limits on what DNS answered, before it reaches a page or the display:
// a hostile zone may answer a TXT record of 60 KB, or hundreds of them.
const (
	maxFound    = 5   // values kept
	maxFoundLen = 300 // bytes kept of each
	maxWordsLen = 120 // bytes of a found value quoted in Words
	maxAddrs    = 2   // addresses of the host name tested
)

// records checks one domain's records and words each result.
func (c *Checker) records(ctx context.Context, z dnsrecords.Zone) []Item {
	res := dnsrecords.Check(ctx, c.o.Resolver, z.Records)
	items := make([]Item, 0, len(res))
	for _, r := range res {
		rec := r.Record
		it := Item{ID: itemID(z.Domain, rec), Title: title(rec), Record: &rec, Found: cutFound(r.Found)}
		switch r.State {
		case dnsrecords.Correct:
			it.State, it.Words = OK, "Correct."
		case dnsrecords.Missing:
			it.State = Missing
			it.Words, it.Fix = missingWords(z, rec)
		case dnsrecords.Wrong:
			it.State = Wrong
			it.Words, it.Fix = wrongWords(z, rec, it.Found)
		default:
			it.State = Unknown
			it.Words = "DNS did not answer (" + errWords(r.Err) + "). The box asks again later."
		}
		items = append(items, it)
	}
	return items
}

// itemID is a record's anchor: the domain, the kind and the first label
// that tells records of one kind apart.
func itemID(domain string, r dnsrecords.Record) string {
	id := domain + "-" + string(r.Kind)
	if first, _, _ := strings.Cut(r.Name, "."); r.Kind == dnsrecords.KindDKIM || r.Kind == dnsrecords.KindClient || r.Kind == dnsrecords.KindSRV {
		id += "-" + strings.Trim(first, "_")
	}
	return id
}

// title names a record for people.
func title(r dnsrecords.Record) string {
	switch r.Kind {
	case dnsrecords.KindMX:
		return "MX record (where your mail goes)"
	case dnsrecords.KindSPF:
		return "SPF record (who may send your mail)"
	case dnsrecords.KindDKIM:
		if strings.Contains(r.Value, "k=ed25519") {
			return "DKIM key (Ed25519)"
		}
		return "DKIM key (RSA)"
	case dnsrecords.KindDMARC:
		return "DMARC record (what receivers do with forged mail)"
	case dnsrecords.KindClient:
		first, _, _ := strings.Cut(r.Name, ".")
		return first + " name (mail program set-up)"
	case dnsrecords.KindSRV:
		first, _, _ := strings.Cut(r.Name, ".")
		return strings.TrimPrefix(first, "_") + " service record"
	case dnsrecords.KindPTR:
		return "Reverse DNS (PTR)"
	}
	return r.Type + " record"
}

// what says what a record does, for the words of a missing one.
func missingWords(z dnsrecords.Zone, r dnsrecords.Record) (words, fix string) {
	add := "Add it at your domain's DNS provider (where you registered " + z.Domain + "): type " + r.Type + ", name " + r.Name + ", value as shown."
	switch r.Kind {
	case dnsrecords.KindMX:
		return z.Domain + " has no MX record: mail sent to your addresses cannot arrive.", add
	case dnsrecords.KindSPF:
		return z.Domain + " has no SPF record: receivers cannot tell your mail from forged mail, and may put it in the junk folder.", add
	case dnsrecords.KindDKIM:
		return "This DKIM key is not published: receivers cannot check the box's signatures.", add
	case dnsrecords.KindDMARC:
		return z.Domain + " has no DMARC record: receivers decide on their own what to do with forged mail.", add
	case dnsrecords.KindClient:
		return r.Name + " does not exist: mail programs cannot find their settings by themselves.", add
	case dnsrecords.KindSRV:
		return "This service record is missing: some mail programs cannot find the server by themselves.", add
	}
	return "This record is missing.", add
}

// wrongWords says what DNS has instead and what to change it to.
func wrongWords(z dnsrecords.Zone, r dnsrecords.Record, found []string) (words, fix string) {
	f := quote(found)
	change := "Change it at your domain's DNS provider to the value shown."
	switch r.Kind {
	case dnsrecords.KindMX:
		_, want, _ := strings.Cut(r.Value, " ")
		return "Your MX record points to " + strings.Join(mxHosts(found), ", ") + ", not to this box: mail for " + z.Domain + " goes there.",
			"Change it to " + strings.TrimSuffix(want, ".") + " (MX, preference 10), and remove the old one once your mail arrives here."
	case dnsrecords.KindSPF:
		if len(found) > 1 {
			return fmt.Sprintf("%s has %d SPF records (%s): receivers treat that as an error and trust none of them.", z.Domain, len(found), f),
				"Keep one SPF record, with the value shown, and delete the others."
		}
		return "Your SPF record says " + f + ": it does not name this box as a sender, so your mail may be taken for forged mail.", change
	case dnsrecords.KindDKIM:
		return "A different key is published under this name (" + f + "): the box's signatures will not check out.", "Replace it with the value shown."
	case dnsrecords.KindDMARC:
		return "Your DMARC record says " + f + ", with another policy than the box suggests.", "If all your mail passes the checks, change it to the value shown; p=none only watches."
	case dnsrecords.KindClient:
		return r.Name + " points to " + f + ", not to this box: mail programs get the wrong settings.", "Make it a CNAME to " + strings.TrimSuffix(r.Value, ".") + "."
	case dnsrecords.KindSRV:
		if strings.HasSuffix(r.Value, " .") {
			return "This box does not offer this service, but DNS names " + f + ": mail programs may try it and fail.", "Delete the record, or set it to the value shown."
		}
		return "DNS says " + f + ": mail programs would look for the server in the wrong place.", change
	}
	return "DNS says " + f + ".", change
}

// mxHosts keeps the host of each "pref host" MX value.
func mxHosts(found []string) []string {
	out := make([]string, 0, len(found))
	for _, f := range found {
		_, h, ok := strings.Cut(f, " ")
		if !ok {
			h = f
		}
		out = append(out, strings.TrimSuffix(h, "."))
	}
	return out
}

// cutFound bounds what DNS answered: at most maxFound values of at most
// maxFoundLen bytes each.
func cutFound(found []string) []string {
	if found == nil {
		return nil
	}
	out := make([]string, 0, min(len(found), maxFound+1))
	for i, f := range found {
		if i == maxFound {
			out = append(out, fmt.Sprintf("(and %d more)", len(found)-maxFound))
			break
		}
		out = append(out, cut(f, maxFoundLen))
	}
	return out
}

// quote joins found values for a sentence, each cut to maxWordsLen.
func quote(found []string) string {
	q := make([]string, len(found))
	for i, f := range found {
		q[i] = "\u201c" + cut(f, maxWordsLen) + "\u201d"
	}
	return strings.Join(q, ", ")
}

// cut shortens s to at most n bytes, on a character boundary, with "…".
func cut(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !isStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

func isStart(b byte) bool { return b&0xC0 != 0x80 }

// errWords says why DNS or a connection failed, shortly.
func errWords(err error) string {
	var de *net.DNSError
	switch {
	case err == nil:
		return "no reason given"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &de) && de.IsTimeout:
		return "no answer in time"
	case errors.As(err, &de):
		return cut(de.Err, maxWordsLen)
	}
	return cut(err.Error(), maxWordsLen)
}

// Status sums the report up for the status Bus: a wrong or missing MX or
// SPF record is a problem (the red LED and the display), everything else
// that is not right a note.
func (r Report) Status() status.DNSCheck {
	out := status.DNSCheck{Checked: r.Checked}
	if r.Err != "" {
		out.Notes = append(out.Notes, r.Err)
	}
	unknown := 0
	for _, d := range r.Domains {
		others := 0
		for _, it := range d.Items {
			switch {
			case it.State == Unknown:
				unknown++
			case it.State != Missing && it.State != Wrong:
			case it.Record.Kind == dnsrecords.KindMX && it.State == Missing:
				out.Problems = append(out.Problems, "The MX record of "+d.Name+" is missing: its mail cannot arrive. The DNS page says what to add.")
			case it.Record.Kind == dnsrecords.KindMX:
				out.Problems = append(out.Problems, "The MX record of "+d.Name+" points to "+cut(strings.Join(mxHosts(it.Found), ", "), maxWordsLen)+", not to this box. The DNS page says what to change.")
			case it.Record.Kind == dnsrecords.KindSPF && it.State == Missing:
				out.Problems = append(out.Problems, d.Name+" has no SPF record: its mail may be taken for spam. The DNS page says what to add.")
			case it.Record.Kind == dnsrecords.KindSPF:
				out.Problems = append(out.Problems, "The SPF record of "+d.Name+" is wrong: its mail may be taken for spam. The DNS page says what to change.")
			default:
				others++
			}
		}
		if others == 1 {
			out.Notes = append(out.Notes, d.Name+": 1 more DNS record to fix (the DNS page says which).")
		} else if others > 1 {
			out.Notes = append(out.Notes, fmt.Sprintf("%s: %d more DNS records to fix (the DNS page says which).", d.Name, others))
		}
	}
	for _, it := range r.Box {
		switch it.State {
		case Unknown:
			unknown++
		case Missing, Wrong:
			out.Notes = append(out.Notes, it.Words)
		}
	}
	if unknown > 0 {
		out.Notes = append(out.Notes, "Part of the DNS check got no answer; the box asks again later.")
	}
	return out
}
