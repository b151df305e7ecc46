package webui

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"postroom/appliance/admin"
)

// Admin runs the admin layer's operations (appliance/admin): the same
// *admin.Admin that serves postroomctl on the control socket, so the pages
// change the live store and config, validated, logged and published the
// same way.
type Admin interface {
	Do(ctx context.Context, by admin.Actor, op admin.Op) (any, error)
}

// visitor is who sent a request with a live session.
type visitor struct {
	sess  session
	acct  admin.Account
	actor admin.Actor
}

// loginView is what the login template shows.
type loginView struct {
	pageView
	User, Next string
}

// pageView is what every page after login shows: who is logged in, the
// form token, a notice after a change, and what went wrong in which form.
type pageView struct {
	Hostname string
	Me       admin.Account
	CSRF     string
	Notice   string
	// OfferRestart puts "Restart the box" in the note (restart.go): the
	// note says the next restart does something.
	OfferRestart bool
	// Nav is the page's entry in the menu, "" for none; Heading, when
	// set, is the page's title instead of the entry's.
	Nav, Heading string
	// Failed is the form a change was refused in: the top of the page
	// says so and links to it (on a phone the form may be far below).
	Failed string
	// errs are messages by "form.field" ("form." for the form as a
	// whole); vals the values typed, by the same keys, to show again.
	errs, vals map[string]string
}

// Title is the page's title.
func (p pageView) Title() string {
	if p.Heading != "" {
		return p.Heading
	}
	switch p.Nav {
	case "accounts":
		return "Accounts"
	case "domains":
		return "Mail domains"
	case "queue":
		return "Outgoing mail"
	case "settings":
		return "Settings"
	case "me":
		return "My account"
	case "log":
		return "Log"
	}
	return "Postroom"
}

// Err is the message for field of form ("" for the form as a whole).
func (p pageView) Err(form, field string) string { return p.errs[form+"."+field] }

// Val is what was typed into field of form, to show again after an error.
func (p pageView) Val(form, field string) string { return p.vals[form+"."+field] }

// HasErr reports whether form has any message.
func (p pageView) HasErr(form string) bool {
	for k := range p.errs {
		if strings.HasPrefix(k, form+".") {
			return true
		}
	}
	return false
}

// fail records err for form: next to its field when the form has that
// field (fields), else for the whole form. It returns the HTTP status
// that fits.
func (p *pageView) fail(form string, err error, fields ...string) int {
	if p.errs == nil {
		p.errs = map[string]string{}
	}
	var ae *admin.Error
	if !errors.As(err, &ae) {
		p.errs[form+"."] = "That could not be done: " + err.Error()
		return http.StatusInternalServerError
	}
	p.Failed = form
	key := form + "."
	for _, f := range fields {
		if f == ae.Field {
			key += f
		}
	}
	p.errs[key] = upperFirst(ae.Message) + "."
	p.errs[key] = strings.TrimSuffix(p.errs[key], "..") // messages that end in a full stop keep one
	switch ae.Code {
	case admin.CodeInvalid:
		return http.StatusBadRequest
	case admin.CodeNotFound:
		return http.StatusNotFound
	case admin.CodeExists, admin.CodeConflict:
		return http.StatusConflict
	case admin.CodeDenied:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// keep remembers what was typed into form, but for passwords.
func (p *pageView) keep(form string, r *http.Request, fields ...string) {
	if p.vals == nil {
		p.vals = map[string]string{}
	}
	for _, f := range fields {
		p.vals[form+"."+f] = r.PostForm.Get(f)
	}
}

// loginPage shows the login form.
func (h *handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if !h.loginsOn() {
		h.off(w)
		return
	}
	v := loginView{pageView: pageView{Hostname: h.bus.Latest().Hostname, Heading: "Log in"}, Next: localPath(r.URL.Query().Get("next"))}
	if r.URL.Query().Get("ended") != "" {
		v.Notice = "You are logged out."
	}
	h.render(w, http.StatusOK, "login.html", v)
}

// login checks an address and password and starts a session.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	if !h.loginsOn() {
		h.off(w)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "The form could not be read.", http.StatusBadRequest)
		return
	}
	user := strings.TrimSpace(r.PostForm.Get("user"))
	v := loginView{pageView: pageView{Hostname: h.bus.Latest().Hostname, Heading: "Log in"}, User: user, Next: localPath(r.PostForm.Get("next"))}
	if user == "" || r.PostForm.Get("password") == "" {
		v.fail("login", &admin.Error{Code: admin.CodeInvalid, Message: "give your address and your password"})
		h.render(w, http.StatusBadRequest, "login.html", v)
		return
	}
	name, err := h.logins.Login(r.Context(), r.RemoteAddr, user, r.PostForm.Get("password"))
	if err != nil {
		// The appliance logged why; the page does not say whether the
		// address exists.
		msg := "That address and password do not match an account."
		if errors.Is(err, ErrLoginLocked) {
			msg = "Too many failed logins: wait a quarter of an hour and try again."
		}
		v.errs = map[string]string{"login.": msg}
		h.render(w, http.StatusForbidden, "login.html", v)
		return
	}
	stamp, err := h.passwordStamp(name)
	if err != nil {
		h.logger.Error("web login: read the password stamp", "user", name, "err", err)
		http.Error(w, "The box could not log you in: its store failed. The log has more.", http.StatusInternalServerError)
		return
	}
	token, _, err := h.sessions.create(name, stamp)
	if err != nil {
		h.logger.Error("web login: start a session", "user", name, "err", err)
		http.Error(w, "The box could not log you in: its store failed. The log has more.", http.StatusInternalServerError)
		return
	}
	h.logger.Info("web login", "user", name, "remote", r.RemoteAddr)
	setCookie(w, r, token)
	next := v.Next
	if next == "" {
		// An administrator starts at the accounts, anyone else at their
		// own page.
		next = "/me"
		if a, err := admin.Call[admin.AccountResult](r.Context(), h.admin, "web page", admin.GetAccount{Name: name}); err == nil && a.Account.Admin {
			next = "/accounts"
		}
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session.
func (h *handler) logout(w http.ResponseWriter, r *http.Request, v *visitor) {
	if err := h.sessions.end(v.sess.id); err != nil {
		h.logger.Error("web logout", "user", v.acct.Name, "err", err)
	}
	h.logger.Info("web logout", "user", v.acct.Name, "remote", r.RemoteAddr)
	setCookie(w, r, "")
	http.Redirect(w, r, "/login?ended=1", http.StatusSeeOther)
}

// localPath keeps a "next" page only when it is a path on this box, so a
// login link cannot send the browser elsewhere.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return ""
	}
	if u, err := url.Parse(p); err != nil || u.Host != "" || u.Scheme != "" {
		return ""
	}
	return p
}

func (h *handler) loginsOn() bool { return h.logins != nil && h.sessions != nil && h.admin != nil }

// off says that the pages behind a login are not available on this box.
func (h *handler) off(w http.ResponseWriter) {
	http.Error(w, "Logging in on the web page is not available on this box.", http.StatusNotImplemented)
}

// page wraps a page behind the login: the request needs a live session
// (else the browser goes to the login page), an account that still
// exists, an administrator for adminOnly pages, and on a POST a form that
// carries the session's CSRF token.
func (h *handler) page(adminOnly bool, fn func(http.ResponseWriter, *http.Request, *visitor)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.loginsOn() {
			h.off(w)
			return
		}
		sess, err := h.sessions.lookup(cookieToken(r))
		if err == nil && sess.touchErr != nil {
			h.logger.Warn("web session: last use not saved", "user", sess.Account, "err", sess.touchErr)
		}
		if err != nil && !errors.Is(err, errNoSession) {
			h.logger.Error("web session", "err", err)
			http.Error(w, "The box could not read your login: its store failed. The log has more.", http.StatusInternalServerError)
			return
		}
		if err == nil && sess.Stamp != "" {
			// The password was set since this login (here or with
			// postroomctl): this login is over.
			if stamp, serr := h.passwordStamp(sess.Account); serr == nil && stamp != sess.Stamp {
				h.logger.Info("web login ended: the password changed", "user", sess.Account)
				h.sessions.end(sess.id)
				err = errNoSession
			}
		}
		var acct admin.AccountResult
		if err == nil {
			acct, err = admin.Call[admin.AccountResult](r.Context(), h.admin, "web page", admin.GetAccount{Name: sess.Account})
			if admin.CodeOf(err) == admin.CodeNotFound || admin.CodeOf(err) == admin.CodeInvalid {
				// The account was removed or renamed: its logins end.
				h.sessions.endAccount(sess.Account, [32]byte{})
				err = errNoSession
			} else if err != nil {
				h.logger.Error("web session: read the account", "user", sess.Account, "err", err)
				http.Error(w, "The box could not read your account. The log has more.", http.StatusInternalServerError)
				return
			}
		}
		if err != nil {
			setCookie(w, r, "")
			next := ""
			if r.Method == http.MethodGet {
				next = "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, "/login"+next, http.StatusSeeOther)
			return
		}
		v := &visitor{sess: sess, acct: acct.Account, actor: admin.Actor(acct.Account.Name + " via the web page")}
		if adminOnly && !v.acct.Admin {
			h.logger.Warn("web page refused: not an administrator", "user", v.acct.Name, "path", r.URL.Path)
			pv := h.view(v, "")
			pv.Heading = "Administrators only"
			h.render(w, http.StatusForbidden, "denied.html", pv)
			return
		}
		if r.Method == http.MethodPost && !isUpload(r) && !isMailUpload(r) { // an upload checks its own form (update.go, backups.go)
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil {
				http.Error(w, "The form could not be read.", http.StatusBadRequest)
				return
			}
			if !sess.checkCSRF(r) {
				h.logger.Warn("web form refused: no or wrong form token", "user", v.acct.Name, "path", r.URL.Path, "remote", r.RemoteAddr)
				http.Error(w, "This form is out of date or came from another page: reload the page and try again.", http.StatusForbidden)
				return
			}
		}
		fn(w, r, v)
	}
}

// view starts a page's view for v.
func (h *handler) view(v *visitor, nav string) pageView {
	return pageView{Hostname: h.bus.Latest().Hostname, Me: v.acct, CSRF: v.sess.CSRF, Nav: nav}
}

// passwordStamp is the account's password stamp, "" when Logins cannot
// tell (PasswordStamps).
func (h *handler) passwordStamp(name string) (string, error) {
	ps, ok := h.logins.(PasswordStamps)
	if !ok {
		return "", nil
	}
	return ps.PasswordStamp(name)
}
