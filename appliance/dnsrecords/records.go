// Package dnsrecords says which DNS records a mail domain needs so that the
// internet can find this box and trust its mail, and checks what DNS
// answers against them.
//
// For builds a domain's Zone from the config and the domain's DKIM keys:
// MX, SPF, both DKIM keys, DMARC (reports to postmaster@, which every
// domain of the box accepts), the autoconfig/autodiscover names and the
// RFC 6186 / RFC 8314 SRV records of every mail service (target "." for a
// service that is off). Each Record says in plain words why it is there,
// for the set-up page. Zone.Write prints the zone-file text that
// `postroomctl dns` shows; Check (check.go) asks a resolver and says of
// each record whether it is correct, missing, or wrong with what was found.
//
// The package imports config and dkim only: the set-up page, postroomctl
// and the status checks use the same records without linking a server.
package dnsrecords

import (
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/miekg/dns"

	"postroom/appliance/config"
	"postroom/appliance/dkim"
)

// TTL is the time to live the zone text gives every record: an hour, so
// that a mistake fixed in the zone is fixed everywhere soon.
const TTL = 3600

// Kind is what a record is for. Check compares each kind by its own rule
// (check.go), and the zone text explains each kind once.
type Kind string

const (
	KindMX     Kind = "mx"     // where the domain's mail goes
	KindSPF    Kind = "spf"    // who may send the domain's mail
	KindDKIM   Kind = "dkim"   // a public key of the box's signatures
	KindDMARC  Kind = "dmarc"  // what receivers do with mail failing SPF and DKIM
	KindClient Kind = "client" // autoconfig/autodiscover names for mail programs
	KindSRV    Kind = "srv"    // RFC 6186/8314 service records for mail programs
	// KindPTR is the reverse DNS of the box's public address: not in a
	// domain's zone but in the internet provider's, so For leaves it out;
	// PTR makes it once the address is known (netcheck reads it from the
	// host name's A record).
	KindPTR Kind = "ptr"
)

// Record is one DNS record to publish.
type Record struct {
	Kind Kind
	// Name is the owner name, fully qualified in lower case with the final
	// dot: "_dmarc.example.org.".
	Name string
	// Type is "MX", "TXT", "CNAME" or "SRV".
	Type string
	// Value is the record's data as a person types it into a provider's
	// DNS form: "10 mail.example.org.", or a TXT record's text unquoted
	// (Zone.Write quotes and splits it).
	Value string
	// Why says what the record does, in plain words for an office manager.
	Why string
}

// String returns the record as one zone-file line, TXT text quoted and
// split into strings of at most 255 bytes.
func (r Record) String() string {
	value := r.Value
	if r.Type == "TXT" {
		value = dkim.ZoneText(value)
	}
	return fmt.Sprintf("%-34s %d IN %-5s %s", r.Name, TTL, r.Type, value)
}

// Zone is every record one mail domain needs.
type Zone struct {
	Domain    string // "example.org", lower case, no final dot
	Host      string // the box's host name, "mail.example.org"
	Smarthost string // the relay outgoing mail leaves through; "" none
	// NoDKIM is true when the domain has no DKIM keys yet: the zone then
	// lacks its DKIM records.
	NoDKIM  bool
	Records []Record
}

// For returns the records domain needs for the box that cfg describes. dk
// holds the domain's DKIM keys; nil leaves the DKIM records out (the keys
// are made on the first outgoing message, or by `postroomctl dns`).
func For(cfg config.Config, domain string, dk *dkim.DomainKeys) (Zone, error) {
	z := Zone{
		Domain:    strings.ToLower(strings.TrimSuffix(domain, ".")),
		Host:      strings.ToLower(strings.TrimSuffix(cfg.Hostname, ".")),
		Smarthost: cfg.Queue.Smarthost.Host,
		NoDKIM:    dk == nil,
	}
	d, host := z.Domain+".", z.Host+"."
	add := func(kind Kind, name, typ, value, why string) {
		z.Records = append(z.Records, Record{Kind: kind, Name: name, Type: typ, Value: value, Why: why})
	}

	add(KindMX, d, "MX", "10 "+host, "Tells other mail servers to deliver mail for "+z.Domain+" to this box.")
	spf, why := "v=spf1 mx -all", "Tells receiving servers that only this box sends mail from "+z.Domain+", so that forged mail is recognised."
	if z.Smarthost != "" {
		spf = "v=spf1 mx a:" + z.Smarthost + " -all"
		why = "Tells receiving servers that only this box and the relay " + z.Smarthost + " send mail from " + z.Domain + ", so that forged mail is recognised."
	}
	add(KindSPF, d, "TXT", spf, why)
	if dk != nil {
		recs, err := dk.Records()
		if err != nil {
			return Zone{}, err
		}
		for _, r := range recs {
			why := "Publishes the key that proves this box signed a message from " + z.Domain + " (the RSA key, which every receiver reads)."
			if strings.HasPrefix(r.Name, dkim.SelectorEd25519+".") {
				why = "Publishes the key that proves this box signed a message from " + z.Domain + " (the newer Ed25519 key)."
			}
			add(KindDKIM, strings.ToLower(r.Name), "TXT", r.Value, why)
		}
	}
	add(KindDMARC, "_dmarc."+d, "TXT", "v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:postmaster@"+z.Domain,
		"Tells receivers to put mail that fails both checks above into the junk folder, and to send their reports to postmaster@"+z.Domain+".")
	add(KindClient, "autoconfig."+d, "CNAME", host, "Lets Thunderbird and other mail programs find their settings by themselves.")
	add(KindClient, "autodiscover."+d, "CNAME", host, "Lets Outlook find its settings by itself.")
	for _, s := range []struct {
		service    string
		prio, port int
		listen     string
		what       string
	}{
		{"_submissions._tcp.", 0, 465, cfg.Listen.Submissions, "send mail (port 465, encrypted from the start)"},
		{"_submission._tcp.", 10, 587, cfg.Listen.Submission, "send mail (port 587)"},
		{"_imaps._tcp.", 0, 993, cfg.Listen.IMAPS, "read mail with IMAP (port 993, encrypted from the start)"},
		{"_imap._tcp.", 10, 143, cfg.Listen.IMAP, "read mail with IMAP (port 143)"},
		{"_pop3s._tcp.", 20, 995, cfg.Listen.POP3S, "fetch mail with POP3 (port 995, encrypted from the start)"},
		{"_pop3._tcp.", 30, 110, cfg.Listen.POP3, "fetch mail with POP3 (port 110)"},
	} {
		if s.listen == "" {
			add(KindSRV, s.service+d, "SRV", "0 0 0 .", "Tells mail programs that this box does not offer to "+s.what+".")
			continue
		}
		add(KindSRV, s.service+d, "SRV", fmt.Sprintf("%d 1 %d %s", s.prio, s.port, host), "Tells mail programs where to "+s.what+".")
	}
	return z, nil
}

// PTR returns the reverse DNS record that the owner of ip (the internet
// provider) must publish: ip's in-addr.arpa or ip6.arpa name pointing to
// host. Receiving servers compare it with the name the box greets with.
func PTR(host string, ip net.IP) (Record, error) {
	name, err := dns.ReverseAddr(ip.String())
	if err != nil {
		return Record{}, fmt.Errorf("reverse name of %s: %w", ip, err)
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return Record{Kind: KindPTR, Name: name, Type: "PTR", Value: host + ".",
		Why: "Tells receiving servers that " + ip.String() + " is " + host + ". Only your internet provider can set it: many servers refuse mail from an address without it."}, nil
}

// Write prints the zone in zone-file syntax, each kind of record after a
// comment that says what it is for and which RFC defines it.
func (z Zone) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "; Postroom: DNS records for %s (this box: %s)\n", z.Domain, z.Host)
	fmt.Fprintf(&b, "; %s. also needs an A (and AAAA) record with the public address, and\n", z.Host)
	fmt.Fprintf(&b, "; that address a PTR record naming %s. (ask the internet provider).\n", z.Host)
	var last Kind
	for _, r := range z.Records {
		if r.Kind != last {
			z.explain(&b, r.Kind)
			last = r.Kind
		}
		b.WriteString(r.String() + "\n")
		if r.Kind == KindSPF && z.NoDKIM {
			// Where the DKIM records will be: say why they are not.
			b.WriteString("; DKIM: no keys yet; they are made on the first outgoing message, or by\n")
			b.WriteString("; running this command while the appliance is stopped.\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// explain writes the comment before the records of one kind.
func (z Zone) explain(b *strings.Builder, k Kind) {
	switch k {
	case KindMX:
		b.WriteString("; Incoming mail: this box receives the domain's mail (RFC 5321 5.1).\n")
	case KindSPF:
		b.WriteString("; SPF (RFC 7208): only the domain's MX hosts send its mail.\n")
		if z.Smarthost != "" {
			fmt.Fprintf(b, "; Mail leaves through the smarthost %s: if your provider publishes an SPF\n", z.Smarthost)
			b.WriteString("; record to include, use \"include:...\" in place of \"a:...\".\n")
		}
	case KindDKIM:
		fmt.Fprintf(b, "; DKIM (RFC 6376): two keys, selectors %s (RSA) and %s (Ed25519, RFC 8463).\n", dkim.SelectorRSA, dkim.SelectorEd25519)
	case KindDMARC:
		b.WriteString("; DMARC (RFC 7489): mail failing both SPF and DKIM alignment goes to the junk folder;\n")
		b.WriteString("; reports go to postmaster. Use p=none while you first check that all your mail passes.\n")
	case KindClient:
		b.WriteString("; Mail programs set themselves up (Thunderbird autoconfig, Outlook Autodiscover):\n")
	case KindSRV:
		b.WriteString("; RFC 6186 / RFC 8314 service records; \".\" means the service is off.\n")
		b.WriteString("; Lower priority is preferred: TLS from the first byte, then IMAP over POP3.\n")
	}
}
