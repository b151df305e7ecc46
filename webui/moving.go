package webui

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"postroom/appliance/admin"
	"postroom/appliance/transition"
)

// The move from the old provider (PRODUCT.md journey 6): for each account,
// the old IMAP or POP3 login; the box pulls the mail while the domain's
// MX still points at the old provider, and a checklist walks the MX
// cut-over. Finishing a move erases the old password.

type movingView struct {
	pageView
	Accounts []string
	Moves    []moveRow
	Active   bool
	// Cert is the old server's certificate that the add form was refused
	// for, offered to be trusted; nil otherwise.
	Cert *oldCertView
}

// oldCertView is the old server's certificate in plain words.
type oldCertView struct {
	transition.CertInfo
	Fingerprint, From, Until, Names string
	// Changed: the server showed another certificate than the one the
	// form asked to trust.
	Changed bool
}

func newOldCertView(c transition.CertInfo, changed bool) *oldCertView {
	return &oldCertView{CertInfo: c, Fingerprint: c.Fingerprint(), From: c.NotBefore.UTC().Format("2 January 2006, 15:04 UTC"),
		Until: c.NotAfter.UTC().Format("2 January 2006, 15:04 UTC"), Names: strings.Join(c.Names, ", "), Changed: changed}
}

type moveRow struct {
	transition.Source
	Progress string // "120 of 340 messages"
	Last     string // "3 min ago"
	Folders  []string
	Pin      string // the trusted certificate's fingerprint, with colons
	// Offered is the certificate the last fetch was refused for, to be
	// trusted in place; nil otherwise.
	Offered *oldCertView
}

func (h *handler) movingPage(w http.ResponseWriter, r *http.Request, v *visitor) {
	h.renderMoving(w, r, v, h.doneView(v, "moving", r), nil, http.StatusOK)
}

func (h *handler) renderMoving(w http.ResponseWriter, r *http.Request, v *visitor, pv pageView, cert *oldCertView, code int) {
	pv.Heading = "Moving in from your old provider"
	list, err := admin.Call[admin.Transitions](r.Context(), h.admin, v.actor, admin.ListTransitions{})
	if err != nil {
		h.failPage(w, err)
		return
	}
	accts, err := admin.Call[admin.AccountList](r.Context(), h.admin, v.actor, admin.ListAccounts{})
	if err != nil {
		h.failPage(w, err)
		return
	}
	view := movingView{pageView: pv, Cert: cert}
	for _, a := range accts.Accounts {
		view.Accounts = append(view.Accounts, a.Name)
	}
	now := h.now()
	for _, s := range list.Sources {
		row := moveRow{Source: s, Progress: strconv.Itoa(s.Fetched) + " messages moved"}
		if s.Pin != "" {
			row.Pin = transition.CertInfo{SHA256: s.Pin}.Fingerprint()
		}
		if s.Offered != nil && s.Active() {
			row.Offered = newOldCertView(*s.Offered, s.Pin != "")
		}
		if s.Seen > 0 {
			row.Progress += " (the old account holds " + strconv.Itoa(s.Seen) + ")"
		}
		if !s.LastRun.IsZero() {
			row.Last = age(now.Sub(s.LastRun)) + " ago"
		}
		for old, f := range s.Folders {
			line := old + " → " + f.Ours + ": " + strconv.Itoa(f.Fetched)
			if f.Error != "" {
				line += " (" + f.Error + ")"
			}
			row.Folders = append(row.Folders, line)
		}
		sortStrings(row.Folders)
		view.Moves = append(view.Moves, row)
		if s.Active() {
			view.Active = true
		}
	}
	h.render(w, code, "moving.html", view)
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && strings.Compare(s[j-1], s[j]) > 0; j-- {
			s[j-1], s[j] = s[j], s[j-1]
		}
	}
}

// movingChange is every form of the page.
func (h *handler) movingChange(w http.ResponseWriter, r *http.Request, v *visitor) {
	pv := h.view(v, "moving")
	var op admin.Op
	form := r.PathValue("form")
	fields := []string{}
	switch form {
	case "add":
		port := 0
		if p := strings.TrimSpace(r.PostForm.Get("port")); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil {
				pv.keep(form, r, "account", "protocol", "host", "port", "security", "username")
				h.renderMoving(w, r, v, pv, nil, pv.fail(form, &admin.Error{Code: admin.CodeInvalid, Field: "port", Message: "a port is a number, such as 993"}, "port"))
				return
			}
			port = n
		}
		op = admin.AddTransition{Account: r.PostForm.Get("account"), Protocol: r.PostForm.Get("protocol"),
			Host: r.PostForm.Get("host"), Port: port, Security: r.PostForm.Get("security"),
			Username: r.PostForm.Get("username"), Password: r.PostForm.Get("password"), Pin: r.PostForm.Get("pin")}
		fields = []string{"account", "protocol", "host", "port", "security", "username", "password", "certificate", "pin"}
	case "run":
		op = admin.RunTransitions{}
	case "finish":
		op = admin.FinishTransition{ID: r.PostForm.Get("id")}
	case "remove":
		op = admin.RemoveTransition{ID: r.PostForm.Get("id")}
	case "trust":
		op = admin.TrustTransitionCertificate{ID: r.PostForm.Get("id"), Pin: r.PostForm.Get("pin")}
	default:
		http.NotFound(w, r)
		return
	}
	if _, err := h.admin.Do(r.Context(), v.actor, op); err != nil {
		pv.keep(form, r, "account", "protocol", "host", "port", "security", "username")
		// An old server whose certificate is not trusted: the form
		// comes back with the certificate, to be trusted by a tick.
		var cert *oldCertView
		var ce *admin.CertificateError
		if errors.As(err, &ce) {
			cert = newOldCertView(ce.Certificate, ce.Pinned != "")
		}
		h.renderMoving(w, r, v, pv, cert, pv.fail(form, err, fields...))
		return
	}
	http.Redirect(w, r, "/moving?done=moving-"+form, http.StatusSeeOther)
}

// The page's notices join the others (accounts.go's done) from here, so
// the move's words stay in one file.
func init() {
	done["moving-add"] = "The move has started: the first fetch runs now, and then every few minutes."
	done["moving-run"] = "Fetching from the old accounts now."
	done["moving-finish"] = "The move is finished: the box no longer fetches from the old account, and its password is erased."
	done["moving-remove"] = "Removed from the list."
	done["moving-trust"] = "The old server's certificate is trusted for that move now: fetching from it again."
}
