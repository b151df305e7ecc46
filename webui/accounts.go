package webui

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"postroom/appliance/admin"
)

// The accounts pages: the list (search, paging), one account with a form
// per change, and a user's own page. Every change goes through the admin
// layer; a refused change shows the page again with the message next to
// its field and what was typed (never a password).

// PageSize is how many accounts the list shows at a time.
const PageSize = 50

// accountRow is one line of the accounts list, its figures in words.
type accountRow struct {
	admin.Account
	Link, UsageWords string
	LastLoginWords   string // "never", "5 minutes ago", a date
	// Percent of the quota used, for the bar; -1 without a quota.
	Percent int
}

func rowOf(a admin.Account) accountRow {
	r := accountRow{Account: a, Link: accountLink(a.Name), Percent: -1,
		UsageWords: bytesWords(uint64(max(a.Usage, 0)))}
	if a.Quota > 0 {
		r.Percent = int(min(100, a.Usage*100/a.Quota))
		r.UsageWords += " of " + bytesWords(uint64(a.Quota))
	}
	return r
}

func accountLink(name string) string { return "/accounts/" + url.PathEscape(name) }

type accountsView struct {
	pageView
	Query        string
	Rows         []accountRow
	Total, Shown int // accounts in all, and matching the search
	Page, Pages  int
	PrevLink     string
	NextLink     string
}

func (h *handler) accountsPage(w http.ResponseWriter, r *http.Request, v *visitor) {
	h.renderAccounts(w, r, v, h.doneView(v, "accounts", r), http.StatusOK)
}

func (h *handler) renderAccounts(w http.ResponseWriter, r *http.Request, v *visitor, pv pageView, code int) {
	list, err := admin.Call[admin.AccountList](r.Context(), h.admin, v.actor, admin.ListAccounts{})
	if err != nil {
		h.failPage(w, err)
		return
	}
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	view := accountsView{pageView: pv, Query: q, Total: len(list.Accounts)}
	var match []admin.Account
	for _, a := range list.Accounts {
		if q == "" || matches(a, q) {
			match = append(match, a)
		}
	}
	view.Shown = len(match)
	view.Pages = max(1, (len(match)+PageSize-1)/PageSize)
	view.Page, _ = strconv.Atoi(r.URL.Query().Get("page"))
	view.Page = min(max(view.Page, 1), view.Pages)
	for _, a := range match[min(len(match), (view.Page-1)*PageSize):min(len(match), view.Page*PageSize)] {
		row := rowOf(a)
		row.LastLoginWords = agoWords(a.LastLogin, h.now()) // apppass.go
		view.Rows = append(view.Rows, row)
	}
	link := func(page int) string {
		vals := url.Values{"page": {strconv.Itoa(page)}}
		if q != "" {
			vals.Set("q", q)
		}
		return "/accounts?" + vals.Encode()
	}
	if view.Page > 1 {
		view.PrevLink = link(view.Page - 1)
	}
	if view.Page < view.Pages {
		view.NextLink = link(view.Page + 1)
	}
	h.render(w, code, "accounts.html", view)
}

func matches(a admin.Account, q string) bool {
	for _, ad := range append([]string{a.Name}, a.Addresses...) {
		if strings.Contains(ad, q) {
			return true
		}
	}
	return false
}

// accountView is one account's page.
type accountView struct {
	pageView
	Account     accountRow
	QuotaMB     string
	NewPassword string // made up by the box, shown once
	AppPass     appPassView
	setupView
}

// setupView is the client set-up section of a page (Options.Setup).
type setupView struct {
	Setup template.HTML // "": no section
	// SetupFailed: the instructions could not be made (the log says why).
	SetupFailed bool
}

// setupOf is the client set-up section for account name; without
// Options.Setup, none.
func (h *handler) setupOf(name string) setupView {
	if h.setup == nil {
		return setupView{}
	}
	page, err := h.setup.SetupPage(name)
	if err != nil {
		h.logger.Error("web page: client set-up", "account", name, "err", err)
		return setupView{SetupFailed: true}
	}
	return setupView{Setup: page}
}

func (h *handler) accountPage(w http.ResponseWriter, r *http.Request, v *visitor) {
	h.renderAccount(w, r, v, h.doneView(v, "accounts", r), http.StatusOK, "")
}

func (h *handler) renderAccount(w http.ResponseWriter, r *http.Request, v *visitor, pv pageView, code int, password string) {
	h.renderAccountWith(w, r, v, pv, code, password, admin.AppPasswordResult{})
}

// renderAccountWith is renderAccount showing created, an app password just
// made, once.
func (h *handler) renderAccountWith(w http.ResponseWriter, r *http.Request, v *visitor, pv pageView, code int, password string, created admin.AppPasswordResult) {
	res, err := admin.Call[admin.AccountResult](r.Context(), h.admin, v.actor, admin.GetAccount{Name: r.PathValue("name")})
	if err != nil {
		h.failPage(w, err)
		return
	}
	pv.Heading = res.Account.Name
	view := accountView{pageView: pv, Account: rowOf(res.Account), NewPassword: password, setupView: h.setupOf(res.Account.Name)}
	view.AppPass = h.appPassOf(r.Context(), v, view.Account.Link, res.Account, created)
	if res.Account.Quota > 0 {
		view.QuotaMB = strconv.FormatInt(res.Account.Quota/1e6, 10)
	}
	h.render(w, code, "account.html", view)
}

// addAccount is the list page's "new account" form.
func (h *handler) addAccount(w http.ResponseWriter, r *http.Request, v *visitor) {
	pv := h.view(v, "accounts")
	req := admin.AddAccount{Name: r.PostForm.Get("name"), Password: r.PostForm.Get("password"),
		Generate: r.PostForm.Get("password") == "", Admin: r.PostForm.Get("admin") == "on"}
	res, err := admin.Call[admin.AccountResult](r.Context(), h.admin, v.actor, req)
	if err != nil {
		pv.keep("add", r, "name", "admin")
		h.renderAccounts(w, r, v, pv, pv.fail("add", err, "name", "password"))
		return
	}
	if res.Password == "" {
		http.Redirect(w, r, accountLink(res.Account.Name)+"?done=added", http.StatusSeeOther)
		return
	}
	pv.Notice = "Account " + res.Account.Name + " added."
	r.SetPathValue("name", res.Account.Name)
	h.renderAccount(w, r, v, pv, http.StatusOK, res.Password)
}

// done are the notices a change leaves, by the ?done= of the redirect
// after it (fixed words, so a link cannot put its own on the page).
var done = map[string]string{
	"added":         "Account added.",
	"password":      "Password changed. Every login of this account on the web page has ended.",
	"quota":         "Storage limit saved.",
	"retention":     "Saved.",
	"admin":         "Saved.",
	"address":       "Address added: mail to it is delivered here from now on.",
	"unaddress":     "Address removed.",
	"removed":       "Account removed.",
	"renamed":       "Account renamed: it logs in with its new address from now on.",
	"domain":        "Saved.",
	"settings":      "Saved.",
	"certificate":   "Certificate saved: every mail port and the public page use it from now on.",
	"uncertificate": "The uploaded certificate is no longer used.",
	"renew":         "The box is asking for a certificate now: reload this page in a minute.",
	"queue":         "Done.",
	"unapppass":     "App password removed: the device that used it can no longer log in, and the account's open mail connections have ended.",
	"webonly":       "Saved.",
}

// accountChange is every form of the account page: it runs the form's
// operation on the account in the path and goes back to the page.
func (h *handler) accountChange(w http.ResponseWriter, r *http.Request, v *visitor) {
	name := r.PathValue("name")
	form := r.PathValue("form")
	pv := h.view(v, "accounts")
	if handled, created, fields, err := h.appPassChange(r.Context(), v, name, form, r); handled { // apppass.go
		switch {
		case err != nil:
			pv.keep(form, r, "name")
			h.renderAccount(w, r, v, pv, pv.fail(form, err, fields...), "")
		case form == "apppass":
			pv.Notice = fmt.Sprintf("App password %q made.", created.AppPassword.Name)
			h.renderAccountWith(w, r, v, pv, http.StatusOK, "", created)
		default:
			http.Redirect(w, r, accountLink(name)+"?done="+form, http.StatusSeeOther)
		}
		return
	}
	var op admin.Op
	var fields []string // the form's fields, for the messages
	switch form {
	case "password":
		op = admin.SetPassword{Name: name, Password: r.PostForm.Get("password"), Generate: r.PostForm.Get("password") == ""}
		fields = []string{"password"}
	case "quota":
		mb, err := megabytes(r.PostForm.Get("quota"))
		if err != nil {
			pv.keep(form, r, "quota")
			h.renderAccount(w, r, v, pv, pv.fail(form, err, "quota"), "")
			return
		}
		op = admin.SetQuota{Name: name, Bytes: mb * 1e6}
		fields = []string{"quota"}
	case "retention":
		days, err := number("days", r.PostForm.Get("days"), "a number of days, 0 to keep downloaded mail")
		if err != nil {
			pv.keep(form, r, "days")
			h.renderAccount(w, r, v, pv, pv.fail(form, err, "days"), "")
			return
		}
		op = admin.SetRetention{Name: name, Days: int(days)}
		fields = []string{"days"}
	case "admin":
		op = admin.SetAdmin{Name: name, Admin: r.PostForm.Get("admin") == "on"}
	case "address":
		op = admin.AddAddress{Address: r.PostForm.Get("address"), Account: name}
		fields = []string{"address"}
	case "unaddress":
		op = admin.RemoveAddress{Address: r.PostForm.Get("address")}
	case "rename":
		op = admin.RenameAccount{Name: name, NewName: r.PostForm.Get("new_name"), KeepOldAddress: r.PostForm.Get("keep_old_address") == "on"}
		fields = []string{"new_name"}
	case "remove":
		if !strings.EqualFold(strings.TrimSpace(r.PostForm.Get("confirm")), name) {
			pv.fail(form, &admin.Error{Code: admin.CodeInvalid, Field: "confirm", Message: "type the account's address to confirm"}, "confirm")
			h.renderAccount(w, r, v, pv, http.StatusBadRequest, "")
			return
		}
		op = admin.RemoveAccount{Name: name}
	default:
		http.NotFound(w, r)
		return
	}
	res, err := h.admin.Do(r.Context(), v.actor, op)
	if err != nil {
		pv.keep(form, r, "address", "days", "quota", "new_name")
		code := pv.fail(form, err, fields...)
		h.renderAccount(w, r, v, pv, code, "")
		return
	}
	switch form {
	case "password":
		h.endLogins(name, v)
		if ar, ok := res.(admin.AccountResult); ok && ar.Password != "" {
			pv.Notice = done["password"]
			h.renderAccount(w, r, v, pv, http.StatusOK, ar.Password)
			return
		}
	case "remove":
		h.endLogins(name, v)
		http.Redirect(w, r, "/accounts?done=removed", http.StatusSeeOther)
		return
	case "rename":
		// Logins of the old name end (the visitor's own too: it names
		// an account that is not there any more).
		h.endLogins(name, &visitor{})
		if ar, ok := res.(admin.AccountResult); ok {
			http.Redirect(w, r, accountLink(ar.Account.Name)+"?done=renamed", http.StatusSeeOther)
			return
		}
	}
	http.Redirect(w, r, accountLink(name)+"?done="+form, http.StatusSeeOther)
}

// endLogins ends every web login of account (but the visitor's own): its
// password changed or it is gone.
func (h *handler) endLogins(account string, v *visitor) {
	acct, err := admin.NormalizeAddress("name", account, false)
	if err != nil {
		return
	}
	n, err := h.sessions.endAccount(acct, v.sess.id)
	if err != nil {
		h.logger.Error("end the web logins of an account", "account", acct, "err", err)
		return
	}
	if acct == v.acct.Name {
		// The visitor's own password: this login stays, with the new stamp.
		if stamp, err := h.passwordStamp(acct); err == nil && stamp != v.sess.Stamp {
			v.sess.Stamp = stamp
			if err := h.sessions.put(v.sess); err != nil {
				h.logger.Error("keep the web login after a password change", "account", acct, "err", err)
			}
		}
	}
	if n > 0 {
		h.logger.Info("web logins ended", "account", acct, "sessions", n, "by", v.actor)
	}
}

// megabytes reads a storage limit in MB: "" or 0 is no limit.
func megabytes(s string) (int64, error) {
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
	return number("quota", s, "a whole number of MB (1000 MB are 1 GB), or 0 for no limit")
}

// number reads a whole number a person typed, from 0 to 10 million.
func number(field, s, what string) (int64, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > 10_000_000 {
		shown := s
		if len(shown) > 20 || strings.ContainsFunc(shown, unicode.IsControl) {
			shown = "that"
		} else {
			shown = fmt.Sprintf("%q", shown)
		}
		return 0, &admin.Error{Code: admin.CodeInvalid, Field: field, Message: shown + " is not " + what}
	}
	return n, nil
}

// meView is a user's own page.
type meView struct {
	pageView
	Account accountRow
	AppPass appPassView
	setupView
}

func (h *handler) meView(ctx context.Context, pv pageView, v *visitor) meView {
	return h.meViewCreated(ctx, pv, v, admin.AppPasswordResult{})
}

// meViewCreated is meView showing created, an app password just made.
func (h *handler) meViewCreated(ctx context.Context, pv pageView, v *visitor, created admin.AppPasswordResult) meView {
	acct := v.acct
	// The visitor's record may predate a change made by this request.
	if res, err := admin.Call[admin.AccountResult](ctx, h.admin, v.actor, admin.GetAccount{Name: acct.Name}); err == nil {
		acct = res.Account
	}
	return meView{pageView: pv, Account: rowOf(acct), setupView: h.setupOf(acct.Name),
		AppPass: h.appPassOf(ctx, v, "/me", acct, created)}
}

func (h *handler) mePage(w http.ResponseWriter, r *http.Request, v *visitor) {
	h.render(w, http.StatusOK, "me.html", h.meView(r.Context(), h.doneView(v, "me", r), v))
}

// changeOwnPassword: the current password again (through the login guard,
// so the form is no way around it), then the new one twice. Every other
// login of the account ends.
func (h *handler) changeOwnPassword(w http.ResponseWriter, r *http.Request, v *visitor) {
	pv := h.view(v, "me")
	fail := func(field, msg string) {
		pv.fail("password", &admin.Error{Code: admin.CodeInvalid, Field: field, Message: msg}, field)
		h.render(w, http.StatusBadRequest, "me.html", h.meView(r.Context(), pv, v))
	}
	if _, err := h.logins.Login(r.Context(), r.RemoteAddr, v.acct.Name, r.PostForm.Get("current")); err != nil {
		msg := "that is not your current password"
		if errors.Is(err, ErrLoginLocked) {
			msg = "too many failed logins: wait a quarter of an hour and try again"
		}
		fail("current", msg)
		return
	}
	if r.PostForm.Get("password") != r.PostForm.Get("again") {
		fail("again", "the two new passwords differ")
		return
	}
	_, err := h.admin.Do(r.Context(), v.actor, admin.SetPassword{Name: v.acct.Name, Password: r.PostForm.Get("password")})
	if err != nil {
		code := pv.fail("password", err, "password")
		h.render(w, code, "me.html", h.meView(r.Context(), pv, v))
		return
	}
	h.endLogins(v.acct.Name, v)
	http.Redirect(w, r, "/me?done=password", http.StatusSeeOther)
}

// failPage answers a request whose page cannot be shown at all.
func (h *handler) failPage(w http.ResponseWriter, err error) {
	code := (&pageView{}).fail("", err)
	if code == http.StatusInternalServerError {
		h.logger.Error("web page", "err", err)
	}
	http.Error(w, upperFirst(err.Error())+".", code)
}

// doneView is a page's view with the notice its ?done= names.
func (h *handler) doneView(v *visitor, nav string, r *http.Request) pageView {
	pv := h.view(v, nav)
	pv.Notice = done[r.URL.Query().Get("done")]
	return pv
}
