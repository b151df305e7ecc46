package webui

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"postroom/appliance/admin"
	"postroom/storage"
)

// The box's pages: mail domains, settings (host name, smarthost) and the
// outgoing mail queue. Settings live in config.json; the admin layer
// validates and writes it, and restarts the services when a setting is
// read only at start (its note says so).

type settingsView struct {
	pageView
	admin.Settings
	// Hostname is the configured one (both embedded views have one).
	Hostname string
	Port     string
	// MessageMB is the largest message in MB (1,000,000 bytes).
	MessageMB int64
	// Cert is the certificate in use (certificate.go); nil when the box
	// cannot say.
	Cert *certView
	// DNS is the fixed address's DNS servers, as the form shows them (network.go).
	DNS string
}

func (h *handler) settingsPage(nav, tmpl string) func(http.ResponseWriter, *http.Request, *visitor) {
	return func(w http.ResponseWriter, r *http.Request, v *visitor) {
		h.renderSettings(w, r, v, h.doneView(v, nav, r), http.StatusOK, tmpl)
	}
}

func (h *handler) renderSettings(w http.ResponseWriter, r *http.Request, v *visitor, pv pageView, code int, tmpl string) {
	s, err := admin.Call[admin.Settings](r.Context(), h.admin, v.actor, admin.GetSettings{})
	if err != nil {
		h.failPage(w, err)
		return
	}
	view := settingsView{pageView: pv, Settings: s, Hostname: s.Hostname, MessageMB: s.Limits.MaxMessageBytes / 1e6, DNS: strings.Join(s.Network.DNS, " ")}
	if tmpl == "settings.html" {
		view.Cert = h.certificateView(r, v)
	}
	if s.Smarthost.Port > 0 {
		view.Port = strconv.Itoa(s.Smarthost.Port)
	}
	h.render(w, code, tmpl, view)
}

// settingsChange is every form of the domains and settings pages.
func (h *handler) settingsChange(w http.ResponseWriter, r *http.Request, v *visitor) {
	form := r.PathValue("form")
	tmpl, nav, back := "settings.html", "settings", "/settings"
	var op admin.Op
	var fields []string
	pv := h.view(v, "")
	switch form {
	case "domain":
		op = admin.AddDomain{Domain: r.PostForm.Get("domain")}
		fields = []string{"domain"}
	case "undomain":
		op = admin.RemoveDomain{Domain: r.PostForm.Get("domain")}
	case "hostname":
		op = admin.SetHostname{Hostname: r.PostForm.Get("hostname")}
		fields = []string{"hostname"}
	case "smarthost":
		port := 0
		if p := strings.TrimSpace(r.PostForm.Get("port")); p != "" {
			n, err := number("port", p, "a port number such as 587")
			if err != nil || n > 65535 {
				pv.Nav = nav
				pv.keep(form, r, "host", "port", "tls", "username")
				if err == nil {
					err = &admin.Error{Code: admin.CodeInvalid, Field: "port", Message: "a port is a number up to 65535, such as 587"}
				}
				h.renderSettings(w, r, v, pv, pv.fail(form, err, "port"), tmpl)
				return
			}
			port = int(n)
		}
		op = admin.SetSmarthost{Host: r.PostForm.Get("host"), Port: port, TLS: r.PostForm.Get("tls"),
			Username: r.PostForm.Get("username"), Password: r.PostForm.Get("password"),
			KeepPassword: r.PostForm.Get("password") == "" && r.PostForm.Get("host") != ""}
		fields = []string{"host", "port", "tls", "username", "password"}
	case "limits":
		var req admin.SetLimits
		for _, f := range []struct {
			name, field, what string
			set               func(int64)
		}{
			{"max_message_mb", "max_message_bytes", "a whole number of MB, such as 50", func(n int64) { req.MaxMessageBytes = n * 1e6 }},
			{"max_recipients", "max_recipients", "a number of recipients, such as 100", func(n int64) { req.MaxRecipients = int(n) }},
			{"max_connections", "max_connections", "a number of connections, such as 100", func(n int64) { req.MaxConnections = int(n) }},
		} {
			n, err := number(f.field, r.PostForm.Get(f.name), f.what)
			if err == nil && n == 0 {
				err = &admin.Error{Code: admin.CodeInvalid, Field: f.field, Message: "give " + f.what}
			}
			if err != nil {
				pv.Nav = nav
				pv.keep(form, r, "max_message_mb", "max_recipients", "max_connections")
				h.renderSettings(w, r, v, pv, pv.fail(form, err, f.field), tmpl)
				return
			}
			f.set(n)
		}
		op = req
		fields = []string{"max_message_bytes", "max_recipients", "max_connections"}
	case "certificate", "uncertificate", "renew":
		op, fields = certificateOp(form, r) // certificate.go
	case "network":
		op, fields = networkOp(r) // network.go
	default:
		http.NotFound(w, r)
		return
	}
	if form == "domain" || form == "undomain" {
		tmpl, nav, back = "domains.html", "domains", "/domains"
	}
	pv.Nav = nav
	res, err := h.admin.Do(r.Context(), v.actor, op)
	if err != nil {
		pv.keep(form, r, "domain", "hostname", "host", "port", "tls", "username", "cert", "mode", "address", "gateway", "dns") // never a password or a key
		h.renderSettings(w, r, v, pv, pv.fail(form, err, fields...), tmpl)
		return
	}
	if s, ok := res.(admin.Settings); ok && s.Note != "" && s.Note != "saved" {
		// "the services restart now": say so on the page itself, the
		// redirect may land while they restart.
		pv.Notice = upperFirst(s.Note) + "."
		h.renderSettings(w, r, v, pv, http.StatusOK, tmpl)
		return
	}
	switch form {
	case "certificate", "uncertificate", "renew":
		nav = form // its own notice (done, accounts.go)
	}
	http.Redirect(w, r, back+"?done="+nav, http.StatusSeeOther)
}

// queueView is the outgoing mail page.
type queueView struct {
	pageView
	Messages []queueRow
}

type queueRow struct {
	ID, From, Size, Age string
	Recipients          []queueRcpt
}

type queueRcpt struct {
	Addr, State string
	Bad         bool
}

func (h *handler) queuePage(w http.ResponseWriter, r *http.Request, v *visitor) {
	h.renderQueue(w, r, v, h.doneView(v, "queue", r), http.StatusOK)
}

func (h *handler) renderQueue(w http.ResponseWriter, r *http.Request, v *visitor, pv pageView, code int) {
	list, err := admin.Call[admin.QueueList](r.Context(), h.admin, v.actor, admin.ListQueue{})
	if err != nil {
		h.failPage(w, err)
		return
	}
	now := h.now()
	view := queueView{pageView: pv}
	for _, m := range list.Messages {
		row := queueRow{ID: m.ID, From: m.From, Size: bytesWords(uint64(max(m.Size, 0))), Age: age(now.Sub(m.Created))}
		if row.From == "" {
			row.From = "the box itself (a notice that mail could not be delivered)"
		}
		for _, rc := range m.Recipients {
			words, bad := recipientWords(rc, now)
			row.Recipients = append(row.Recipients, queueRcpt{Addr: rc.Addr, State: words, Bad: bad})
		}
		view.Messages = append(view.Messages, row)
	}
	h.render(w, code, "queue.html", view)
}

// recipientWords says where one recipient of a queued message stands, and
// whether it needs a person.
func recipientWords(rc storage.QueueRecipient, now time.Time) (string, bool) {
	switch rc.State {
	case storage.QueueDelivered:
		return "Delivered.", false
	case storage.QueueFailed:
		return "Could not be delivered: " + plainError(rc) + " The sender was told.", true
	}
	msg := "Waiting"
	if rc.Attempts == 0 {
		msg = "Not tried yet"
	}
	if !rc.NextAttempt.IsZero() {
		if d := rc.NextAttempt.Sub(now); d > 0 {
			msg += fmt.Sprintf("; next try in %s", age(d))
		} else {
			msg += "; next try now"
		}
	}
	msg += "."
	if rc.LastError != "" {
		msg += fmt.Sprintf(" %s so far; the last one: %s", plural(rc.Attempts, "attempt"), plainError(rc))
	}
	return msg, rc.Attempts > 0
}

// plainError puts a delivery error into words, by its status code
// (RFC 3463) where it has one, with the server's own answer after it.
func plainError(rc storage.QueueRecipient) string {
	var what string
	switch {
	case strings.HasPrefix(rc.Status, "5.1.1"), strings.HasPrefix(rc.Status, "5.1.0"):
		what = "the receiving server says this address does not exist."
	case strings.HasPrefix(rc.Status, "4.2.2"), strings.HasPrefix(rc.Status, "5.2.2"):
		what = "the recipient's mailbox is full."
	case strings.HasPrefix(rc.Status, "5.7"), strings.HasPrefix(rc.Status, "4.7"):
		what = "the receiving server refused the message (it may think it is spam, or not trust this box)."
	case strings.HasPrefix(rc.Status, "5.3.4"), strings.HasPrefix(rc.Status, "5.2.3"):
		what = "the message is too large for the receiving server."
	case strings.HasPrefix(rc.Status, "4.4"), strings.HasPrefix(rc.Status, "5.4"):
		what = "the receiving server could not be reached."
	default:
		what = "the receiving server did not take it."
	}
	if rc.LastError != "" {
		what += " It said: " + rc.LastError
		if !strings.HasSuffix(what, ".") {
			what += "."
		}
	}
	return what
}

// queueChange retries or deletes a queued message.
func (h *handler) queueChange(w http.ResponseWriter, r *http.Request, v *visitor) {
	var op admin.Op
	switch r.PathValue("form") {
	case "retry":
		op = admin.QueueRetry{ID: r.PostForm.Get("id"), All: r.PostForm.Get("all") == "on"}
	case "delete":
		op = admin.QueueDelete{ID: r.PostForm.Get("id")}
	default:
		http.NotFound(w, r)
		return
	}
	if _, err := h.admin.Do(r.Context(), v.actor, op); err != nil {
		pv := h.view(v, "queue")
		h.renderQueue(w, r, v, pv, pv.fail("queue", err))
		return
	}
	http.Redirect(w, r, "/queue?done=queue", http.StatusSeeOther)
}
