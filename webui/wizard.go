package webui

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"postroom/appliance/admin"
	"postroom/appliance/firstboot"
	"postroom/internal/lan"
)

// The first set-up (PRODUCT.md journey 1), GET and POST /setup and
// /setup/{step}. While the box waits to be set up (Options.FirstBoot is
// active) every page but the status page and its parts leads here
// (setupGate). The steps:
//
//	/setup           the set-up code from the display (firstboot.Take),
//	                 which starts the one set-up session (its own cookie)
//	/setup/domains   the mail domains (admin.AddDomain, RemoveDomain)
//	/setup/hostname  the box's own name, saved at the end
//	/setup/admin     the administrator's address and password (AddAccount)
//	/setup/users     the first users, with generated passwords shown once
//	/setup/finish    admin.SetupFinish: TLS and DKIM material, the host
//	                 name, the end of "needs setup"; the administrator is
//	                 logged in and goes on to the DNS records (/dns)
//
// Every change goes through the admin layer, as "the set-up page": the
// same checks, audit log and status Bus as every other page. A refused
// step shows its form again with the message next to the field and what
// was typed, never a password. The session's memory (firstboot.Wizard)
// outlives a restart of the services (the host name makes one at the
// end), not a restart of the box: then a new code is shown and typed.

// setupCookie holds the set-up session's token, for the set-up pages only.
const setupCookie = "postroom_setup"

// Limits of the set-up forms.
const (
	maxSetupDomains = 10
	maxSetupUsers   = 50
	setupActor      = admin.Actor("the set-up page")
)

// setupSteps are the steps in order, with their titles.
var setupSteps = []struct{ name, title string }{
	{"code", "Set-up code"},
	{"domains", "Mail domains"},
	{"hostname", "The box's name"},
	{"admin", "Administrator"},
	{"users", "First users"},
	{"finish", "Finish"},
}

// wizardView is what wizard.html shows.
type wizardView struct {
	pageView
	Step           string
	StepNo, Steps  int
	StepList       []stepItem
	W              firstboot.Wizard
	Domains, Users string // the text areas, as typed or as saved
	Created        []createdUser
	// Done: the set-up finished; Next is where the page goes on to.
	Done bool
	Next string
	// USB: the USB disks a restore can read from (wizard_restore.go).
	USB []usbChoice
}

type createdUser struct{ Name, Password string }

// stepItem is one step in the list at the top; Class is "done", "here"
// or "".
type stepItem struct{ Title, Class string }

func (h *handler) setupOn() bool { return h.firstboot != nil && h.firstboot.Active() }

// setupGate sends every page but the status page, its parts and the set-up
// pages themselves to the set-up while the box waits for it.
func (h *handler) setupGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if !h.setupOn() || p == "/" || p == "/status.json" || p == "/display.png" || p == "/events" ||
			p == "/status.js" || p == "/setup" || strings.HasPrefix(p, "/setup/") {
			next.ServeHTTP(w, r)
			return
		}
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
	})
}

func (h *handler) setupView(step string, w firstboot.Wizard) wizardView {
	v := wizardView{pageView: pageView{Hostname: h.bus.Latest().Hostname, CSRF: w.CSRF}, Step: step, W: w, Steps: len(setupSteps)}
	for i, s := range setupSteps {
		if s.name == step {
			v.StepNo = i + 1
		}
	}
	for i, s := range setupSteps {
		class := ""
		switch {
		case i+1 < v.StepNo:
			class = "done"
		case i+1 == v.StepNo:
			class = "here"
		}
		v.StepList = append(v.StepList, stepItem{s.title, class})
		if s.name == step {
			v.StepNo = i + 1
			v.Heading = "Set up the box: " + strings.ToLower(s.title[:1]) + s.title[1:]
			if step == "code" {
				v.Heading = "Set up the box"
			}
		}
	}
	return v
}

// setupSession finds the request's set-up session; without one the
// browser goes to the code (or, once the box is set up, to the login).
func (h *handler) setupSession(w http.ResponseWriter, r *http.Request) (string, firstboot.Wizard, bool) {
	if !h.setupOn() {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return "", firstboot.Wizard{}, false
	}
	token := ""
	if c, err := r.Cookie(setupCookie); err == nil {
		token = c.Value
	}
	wz, ok := h.firstboot.Wizard(token)
	if !ok {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return "", firstboot.Wizard{}, false
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 32<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "The form could not be read.", http.StatusBadRequest)
			return "", firstboot.Wizard{}, false
		}
		if got := r.PostForm.Get("csrf"); got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(wz.CSRF)) != 1 {
			h.logger.Warn("set-up form refused: no or wrong form token", "remote", r.RemoteAddr, "path", r.URL.Path)
			http.Error(w, "This form is out of date or came from another page: reload the page and try again.", http.StatusForbidden)
			return "", firstboot.Wizard{}, false
		}
	}
	return token, wz, true
}

// setSetupCookie hands the browser the set-up session's token, for the
// set-up pages only (session.go).
func setSetupCookie(w http.ResponseWriter, r *http.Request, token string) {
	writeCookie(w, r, setupCookie, "/setup", token)
}

// setupCodePage asks for the code; a browser with a live session goes on
// where it was.
func (h *handler) setupCodePage(w http.ResponseWriter, r *http.Request) {
	if !h.setupOn() {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if c, err := r.Cookie(setupCookie); err == nil {
		if wz, ok := h.firstboot.Wizard(c.Value); ok {
			http.Redirect(w, r, "/setup/"+nextStep(wz), http.StatusSeeOther)
			return
		}
	}
	h.render(w, http.StatusOK, "wizard.html", h.setupView("code", firstboot.Wizard{}))
}

// nextStep is the first step the session has not done.
func nextStep(wz firstboot.Wizard) string {
	switch {
	case len(wz.Domains) == 0:
		return "domains"
	case wz.Hostname == "":
		return "hostname"
	case wz.Admin == "":
		return "admin"
	}
	return "users"
}

// setupCode checks the code and starts the set-up session.
func (h *handler) setupCode(w http.ResponseWriter, r *http.Request) {
	if !h.setupOn() {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "The form could not be read.", http.StatusBadRequest)
		return
	}
	v := h.setupView("code", firstboot.Wizard{})
	typed := r.PostForm.Get("code")
	v.keep("code", r, "code")
	if len(typed) > 64 || strings.ContainsFunc(typed, unicode.IsControl) || !utf8.ValidString(typed) {
		v.vals["code.code"] = ""
	}
	fail := func(code int, msg string) {
		v.Failed = "code"
		v.errs = map[string]string{"code.code": msg}
		h.render(w, code, "wizard.html", v)
	}
	if strings.TrimSpace(typed) == "" {
		fail(http.StatusBadRequest, "Type the set-up code shown on the box's display.")
		return
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !lan.Contains(ap.Addr()) { // lanOnly let it in; be sure
		http.Error(w, "This page is only available on the office network.", http.StatusForbidden)
		return
	}
	token, err := h.firstboot.Take(ap.Addr(), typed)
	if err != nil {
		h.logger.Warn("set-up code refused", "remote", r.RemoteAddr, "why", err)
		code := http.StatusForbidden
		switch {
		case errors.Is(err, firstboot.ErrTooMany):
			code = http.StatusTooManyRequests
		case errors.Is(err, firstboot.ErrNotNeeded):
			code = http.StatusConflict
		}
		fail(code, upperFirst(err.Error())+".")
		return
	}
	if _, err := admin.Call[admin.SetupResult](r.Context(), h.admin, setupActor, admin.SetupStart{}); err != nil {
		h.firstboot.End(token)
		code := v.fail("code", err)
		v.errs["code.code"] = v.errs["code."]
		delete(v.errs, "code.")
		h.render(w, code, "wizard.html", v)
		return
	}
	h.logger.Info("set-up started on the web page", "remote", r.RemoteAddr)
	setSetupCookie(w, r, token)
	http.Redirect(w, r, "/setup/domains", http.StatusSeeOther)
}

// setupStep shows one step's form.
func (h *handler) setupStep(w http.ResponseWriter, r *http.Request) {
	step := r.PathValue("step")
	if !slices.ContainsFunc(setupSteps[1:], func(s struct{ name, title string }) bool { return s.name == step }) {
		http.NotFound(w, r)
		return
	}
	_, wz, ok := h.setupSession(w, r)
	if !ok {
		return
	}
	v := h.setupView(step, wz)
	switch step {
	case "domains":
		s, err := admin.Call[admin.Settings](r.Context(), h.admin, setupActor, admin.GetSettings{})
		if err != nil {
			h.failPage(w, err)
			return
		}
		v.Domains = strings.Join(s.Domains, "\n")
	case "hostname":
		if len(wz.Domains) == 0 {
			http.Redirect(w, r, "/setup/domains", http.StatusSeeOther)
			return
		}
		v.keepVal("hostname", "hostname", wz.Hostname)
		if wz.Hostname == "" {
			v.keepVal("hostname", "hostname", "mail."+wz.Domains[0])
		}
	case "admin":
		if wz.Hostname == "" {
			http.Redirect(w, r, "/setup/"+nextStep(wz), http.StatusSeeOther)
			return
		}
		v.keepVal("admin", "address", wz.Admin)
	case "users", "finish":
		if wz.Admin == "" {
			http.Redirect(w, r, "/setup/"+nextStep(wz), http.StatusSeeOther)
			return
		}
		v.Users = strings.Join(wz.Users, "\n")
	}
	h.render(w, http.StatusOK, "wizard.html", v)
}

func (v *wizardView) keepVal(form, field, val string) {
	if v.vals == nil {
		v.vals = map[string]string{}
	}
	v.vals[form+"."+field] = val
}

// failStep shows the step again with err next to field (or the form).
func (h *handler) failStep(w http.ResponseWriter, v wizardView, err error, fields ...string) {
	code := v.fail(v.Step, err, fields...)
	if code == http.StatusInternalServerError {
		h.logger.Error("set-up step failed", "step", v.Step, "err", err)
	}
	h.render(w, code, "wizard.html", v)
}

func invalid(field, msg string) *admin.Error {
	return &admin.Error{Code: admin.CodeInvalid, Field: field, Message: msg}
}

// lines splits a text area into its non-empty lines, at most max of
// them; a line may not hold control characters.
func lines(field, text string, max int, what string) ([]string, error) {
	var out []string
	for l := range strings.SplitSeq(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if strings.ContainsFunc(l, unicode.IsControl) || !utf8.ValidString(l) {
			return nil, invalid(field, "a line holds a control character: type one "+what+" a line, nothing else")
		}
		out = append(out, l)
	}
	if len(out) > max {
		return nil, invalid(field, "at most "+strconv.Itoa(max)+" at a time here: add more later on the box's pages")
	}
	return out, nil
}

// setupPost is every step's form.
func (h *handler) setupPost(w http.ResponseWriter, r *http.Request) {
	step := r.PathValue("step")
	token, wz, ok := h.setupSession(w, r)
	if !ok {
		return
	}
	v := h.setupView(step, wz)
	ctx := r.Context()
	switch step {
	case "domains":
		v.Domains = r.PostForm.Get("domains")
		typed, err := lines("domains", v.Domains, maxSetupDomains, "domain")
		if err == nil && len(typed) == 0 {
			err = invalid("domains", "give the domain of your mail addresses, such as example.org")
		}
		var want []string
		for _, d := range typed {
			if err != nil {
				break
			}
			var n string
			if n, err = admin.NormalizeDomain("domains", d); err == nil && !slices.Contains(want, n) {
				want = append(want, n)
			}
		}
		if err != nil {
			h.failStep(w, v, err, "domains")
			return
		}
		s, err := admin.Call[admin.Settings](ctx, h.admin, setupActor, admin.GetSettings{})
		if err != nil {
			h.failStep(w, v, err, "domains")
			return
		}
		for _, d := range s.Domains {
			if d, _ := admin.NormalizeDomain("domain", d); !slices.Contains(want, d) {
				if _, err := admin.Call[admin.Settings](ctx, h.admin, setupActor, admin.RemoveDomain{Domain: d}); err != nil {
					h.failStep(w, v, err, "domains")
					return
				}
			}
		}
		for _, d := range want {
			if _, err := admin.Call[admin.Settings](ctx, h.admin, setupActor, admin.AddDomain{Domain: d}); err != nil && admin.CodeOf(err) != admin.CodeExists {
				h.failStep(w, v, err, "domains")
				return
			}
		}
		wz.Domains = want
	case "hostname":
		typed := r.PostForm.Get("hostname")
		v.keepVal("hostname", "hostname", typed)
		n, err := admin.NormalizeDomain("hostname", typed)
		if err != nil || strings.ContainsFunc(typed, unicode.IsControl) {
			if strings.TrimSpace(typed) == "" {
				err = invalid("hostname", "give the box's name, such as mail."+first(wz.Domains))
			} else {
				err = invalid("hostname", "that is not a name such as mail."+first(wz.Domains)+": letters, digits, dots and hyphens")
			}
			h.failStep(w, v, err, "hostname")
			return
		}
		wz.Hostname = n
	case "admin":
		typed := r.PostForm.Get("address")
		v.keepVal("admin", "address", typed)
		name, err := h.setupAddress("address", typed, wz)
		if err == nil {
			err = weakPassword("password", r.PostForm.Get("password"), name)
		}
		if err == nil && r.PostForm.Get("password") != r.PostForm.Get("password2") {
			err = invalid("password2", "the two passwords differ: type the same password twice")
		}
		if err != nil {
			h.failStep(w, v, err, "address", "password", "password2")
			return
		}
		pw := r.PostForm.Get("password")
		var op admin.Op = admin.AddAccount{Name: name, Password: pw, Admin: true}
		existing, gerr := admin.Call[admin.AccountResult](ctx, h.admin, setupActor, admin.GetAccount{Name: name})
		if gerr == nil && !existing.Account.Admin {
			h.failStep(w, v, invalid("address", name+" is the address of a user made in this set-up: choose another for the administrator"), "address")
			return
		}
		if wz.Admin == name || gerr == nil {
			// Made earlier in this set-up (this session, or one before a
			// restart): every account is the set-up's until it ends.
			op = admin.SetPassword{Name: name, Password: pw}
		} else if wz.Admin != "" {
			if _, err := admin.Call[admin.AccountResult](ctx, h.admin, setupActor, admin.RemoveAccount{Name: wz.Admin}); err != nil && admin.CodeOf(err) != admin.CodeNotFound {
				h.failStep(w, v, err, "address")
				return
			}
			wz.Admin = ""
			h.firstboot.Save(token, wz)
		}
		if _, err := admin.Call[admin.AccountResult](ctx, h.admin, setupActor, op); err != nil {
			if ae := (*admin.Error)(nil); errors.As(err, &ae) && ae.Field == "name" {
				ae.Field = "address"
			}
			h.failStep(w, v, err, "address", "password")
			return
		}
		wz.Admin = name
	case "users":
		v.Users = r.PostForm.Get("users")
		typed, err := lines("users", v.Users, maxSetupUsers, "address")
		var names []string
		for _, u := range typed {
			if err != nil {
				break
			}
			var n string
			if n, err = h.setupAddress("users", u, wz); err == nil && n == wz.Admin {
				err = invalid("users", n+" is the administrator's address already")
			}
			if err == nil && !slices.Contains(names, n) && !slices.Contains(wz.Users, n) {
				names = append(names, n)
			}
		}
		// Every address is checked before any account is made, so that a
		// refused list makes none. One made before a restart in the
		// middle of the set-up is kept as it is (its password was shown
		// then).
		var fresh []string
		for _, n := range names {
			if err != nil {
				break
			}
			a, gerr := admin.Call[admin.AccountResult](ctx, h.admin, setupActor, admin.GetAccount{Name: n})
			switch {
			case gerr == nil && a.Account.Admin:
				err = invalid("users", n+" is an administrator's address")
			case gerr == nil:
				wz.Users = append(wz.Users, a.Account.Name)
			case admin.CodeOf(gerr) == admin.CodeNotFound:
				fresh = append(fresh, n)
			default:
				err = gerr
			}
		}
		names = fresh
		if err != nil {
			h.failStep(w, v, err, "users")
			return
		}
		for _, n := range names {
			res, err := admin.Call[admin.AccountResult](ctx, h.admin, setupActor, admin.AddAccount{Name: n, Generate: true})
			if err != nil {
				// Those made so far are kept, and their passwords shown.
				h.firstboot.Save(token, wz)
				v.W = wz
				h.failStep(w, v, err, "users")
				return
			}
			wz.Users = append(wz.Users, res.Account.Name)
			v.Created = append(v.Created, createdUser{res.Account.Name, res.Password})
		}
		h.firstboot.Save(token, wz)
		// The passwords are shown on this answer only: the finish page.
		fv := h.setupView("finish", wz)
		fv.Created, fv.Users = v.Created, strings.Join(wz.Users, "\n")
		h.render(w, http.StatusOK, "wizard.html", fv)
		return
	case "finish":
		h.setupFinish(w, r, token, wz, v)
		return
	default:
		http.NotFound(w, r)
		return
	}
	if !h.firstboot.Save(token, wz) {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/setup/"+nextStep(wz), http.StatusSeeOther)
}

func first(s []string) string {
	if len(s) == 0 {
		return "example.org"
	}
	return s[0]
}

// setupAddress checks an address of the set-up: a valid one, in one of
// the domains the set-up gave.
func (h *handler) setupAddress(field, typed string, wz firstboot.Wizard) (string, error) {
	n, err := admin.NormalizeAddress(field, typed, false)
	if err != nil {
		return "", err
	}
	if !slices.Contains(wz.Domains, n[strings.LastIndexByte(n, '@')+1:]) {
		return "", invalid(field, n+" is not in a domain of this box: use an address that ends in @"+strings.Join(wz.Domains, " or @"))
	}
	return n, nil
}

// commonPasswords are refused for the administrator whatever their
// length: the first a guesser tries.
var commonPasswords = []string{"password", "password1", "12345678", "123456789", "1234567890", "qwertyuiop",
	"qwertzuiop", "azertyuiop", "iloveyou", "sunshine", "passwort", "postroom", "administrator", "letmein1"}

// weakPassword refuses an administrator's password that is too short or
// too easy to guess; it never repeats the password.
func weakPassword(field, pw, address string) error {
	lower := strings.ToLower(pw)
	local := address[:max(strings.LastIndexByte(address, '@'), 0)]
	switch {
	case pw == "":
		return invalid(field, "choose a password for the administrator")
	case utf8.RuneCountInString(pw) < 10:
		return invalid(field, "the administrator's password needs at least 10 characters")
	case len(pw) > 256:
		return invalid(field, "a password has at most 256 characters")
	case !utf8.ValidString(pw) || strings.ContainsFunc(pw, unicode.IsControl):
		return invalid(field, "a password cannot hold control characters (line breaks, tabs)")
	case slices.Contains(commonPasswords, lower) || lower == address || lower == local ||
		strings.Count(lower, string([]rune(lower)[:1])) == len(lower):
		return invalid(field, "that password is too easy to guess: use a few words or more varied characters")
	}
	return nil
}

// setupFinish ends the set-up and logs the administrator in.
func (h *handler) setupFinish(w http.ResponseWriter, r *http.Request, token string, wz firstboot.Wizard, v wizardView) {
	if wz.Admin == "" || wz.Hostname == "" || len(wz.Domains) == 0 {
		http.Redirect(w, r, "/setup/"+nextStep(wz), http.StatusSeeOther)
		return
	}
	v.Users = strings.Join(wz.Users, "\n")
	res, err := admin.Call[admin.SetupResult](r.Context(), h.admin, setupActor, admin.SetupFinish{Hostname: wz.Hostname})
	if err != nil {
		h.failStep(w, v, err)
		return
	}
	h.firstboot.End(token)
	// The runner follows the phase too; this closes the set-up pages
	// before the browser asks for the next one.
	h.firstboot.SetActive(false)
	setSetupCookie(w, r, "")
	h.logger.Info("set-up finished on the web page", "remote", r.RemoteAddr, "admin", wz.Admin, "note", res.Note)
	v.Done, v.Next = true, "/dns"
	v.Heading = "The box is set up"
	// The administrator set the password a minute ago: log them in, so
	// the set-up ends on the DNS records.
	if h.loginsOn() {
		stamp, err := h.passwordStamp(wz.Admin)
		if err == nil {
			var t string
			if t, _, err = h.sessions.create(wz.Admin, stamp); err == nil {
				setCookie(w, r, t)
			}
		}
		if err != nil {
			h.logger.Error("set-up: log the administrator in", "err", err)
			v.Next = "/login?next=/dns"
		}
	}
	h.render(w, http.StatusOK, "wizard.html", v)
}
