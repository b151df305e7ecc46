package webui

import (
	_ "embed"
	"net/http"
	"slices"
	"strings"
	"time"

	"postroom/appliance/admin"
	"postroom/appliance/netcheck"
	"postroom/appliance/status"
)

// The DNS page (/dns, administrators only): every record each mail
// domain needs, ready to copy, with what DNS says of it now, and the
// box's own name and connections (reverse DNS, port 25 out and in). The
// first set-up ends here. The page never waits for DNS: it shows the
// last check (appliance/netcheck), which runs in the background; "Check
// again" asks for a new one and the page reloads itself until it is done.

// DNSCheck is the background check the DNS page shows
// (*netcheck.Checker).
type DNSCheck interface {
	// Report returns the last check at once, Running while another runs.
	Report() netcheck.Report
	// Recheck asks for a check now, without waiting for it.
	Recheck() bool
}

// dnsView is what dns.html shows.
type dnsView struct {
	pageView
	Running bool
	// Checked says when the shown check was made, in words.
	Checked string
	// Err says why nothing could be checked.
	Err string
	// ToFix counts the items that are missing or wrong; Fix links to
	// each.
	ToFix   int
	Fix     []dnsLink
	Domains []dnsDomain
	Box     []dnsItem
	// Off: the box has no DNS check (Options.DNS is nil).
	Off bool
}

// dnsLink is a link to an item of the page.
type dnsLink struct{ ID, Label string }

type dnsDomain struct {
	Name  string
	ToFix int
	Items []dnsItem
	// Zone is every record as zone-file lines, for a provider that takes
	// a zone file.
	Zone string
}

type dnsItem struct {
	netcheck.Item
	StateWords string
	// Bad: missing or wrong (red); Unsure: unknown (grey).
	Bad bool
}

// dnsStateWords name the states on the page.
var dnsStateWords = map[netcheck.State]string{
	netcheck.OK:      "Correct",
	netcheck.Missing: "Missing",
	netcheck.Wrong:   "Wrong",
	netcheck.Unknown: "Not known yet",
	netcheck.Off:     "Not checked",
}

func newDNSItem(it netcheck.Item) dnsItem {
	return dnsItem{Item: it, StateWords: dnsStateWords[it.State], Bad: it.State == netcheck.Missing || it.State == netcheck.Wrong}
}

func (h *handler) dnsPage(w http.ResponseWriter, r *http.Request, v *visitor) {
	view := dnsView{pageView: h.view(v, "dns")}
	view.Heading = "DNS records"
	if h.dns == nil {
		view.Off = true
		h.render(w, http.StatusOK, "dns.html", view)
		return
	}
	rep := h.dns.Report()
	if !rep.Running && (rep.Checked.IsZero() || h.domainsChanged(r, v, rep)) {
		// A domain added since (the set-up's last step leads here):
		// check again rather than show the old list.
		h.dns.Recheck()
		rep.Running = true
	}
	view.Running, view.Err = rep.Running, rep.Err
	if !rep.Checked.IsZero() {
		view.Checked = "Checked " + age(h.now().Sub(rep.Checked)) + " ago."
	}
	for _, d := range rep.Domains {
		dv := dnsDomain{Name: d.Name}
		var zone strings.Builder
		for _, it := range d.Items {
			item := newDNSItem(it)
			if item.Bad {
				dv.ToFix++
				view.Fix = append(view.Fix, dnsLink{it.ID, d.Name + ": " + it.Title})
			}
			dv.Items = append(dv.Items, item)
			if it.Record != nil {
				zone.WriteString(it.Record.String() + "\n")
			}
		}
		dv.Zone = zone.String()
		view.ToFix += dv.ToFix
		view.Domains = append(view.Domains, dv)
	}
	for _, it := range rep.Box {
		item := newDNSItem(it)
		if item.Bad {
			view.ToFix++
			view.Fix = append(view.Fix, dnsLink{it.ID, it.Title})
		}
		view.Box = append(view.Box, item)
	}
	h.render(w, http.StatusOK, "dns.html", view)
}

// domainsChanged reports whether the box's domains are no longer those of
// the report.
func (h *handler) domainsChanged(r *http.Request, v *visitor, rep netcheck.Report) bool {
	s, err := admin.Call[admin.Settings](r.Context(), h.admin, v.actor, admin.GetSettings{})
	if err != nil {
		return false
	}
	var checked []string
	for _, d := range rep.Domains {
		checked = append(checked, d.Name)
	}
	want := make([]string, len(s.Domains))
	for i, d := range s.Domains {
		want[i] = strings.ToLower(strings.TrimSuffix(d, "."))
	}
	slices.Sort(checked)
	slices.Sort(want)
	return !slices.Equal(checked, want)
}

// dnsRecheck is the "Check again" button.
func (h *handler) dnsRecheck(w http.ResponseWriter, r *http.Request, v *visitor) {
	if h.dns == nil {
		http.Error(w, "This box has no DNS check.", http.StatusNotImplemented)
		return
	}
	if h.dns.Recheck() {
		h.logger.Info("DNS check asked for", "by", v.acct.Name)
	}
	http.Redirect(w, r, "/dns", http.StatusSeeOther)
}

// dnsWords is the status page's line about the last DNS check: every
// problem and note, or that all is right, and when it was checked.
func dnsWords(d status.DNSCheck, now time.Time) string {
	when := "checked " + age(now.Sub(d.Checked)) + " ago"
	if len(d.Problems)+len(d.Notes) == 0 {
		return "All right (" + when + ")."
	}
	return strings.Join(append(slices.Clone(d.Problems), d.Notes...), " ") + " (" + when + "; the DNS page has the details.)"
}

//go:embed static/dns.js
var dnsJS []byte

// dnsScript is the copy buttons' script (the CSP allows scripts from the
// box only).
func (h *handler) dnsScript(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Write(dnsJS)
}
