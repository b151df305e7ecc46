package webui

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"postroom/appliance/admin"
)

// App passwords, the password kept for the web page, and devices seen, on
// a user's own page (/me/...) and on the administrator's account page
// (/accounts/{name}/...). Both call the same admin operations; on /me the
// account is always the visitor's own, whatever the form says, so a user
// can neither see nor remove another account's app passwords. A new app
// password is shown once, in the answer to the form that made it; the
// page after a removal is a redirect, so a reload repeats nothing.

// appPassView is the app password section of a page.
type appPassView struct {
	Base         string // where its forms post: "/me" or the account's link
	List         []appPassRow
	Devices      []deviceRow
	WebOnly      bool
	New          string // the new app password, shown once
	NewName      string
	Unavailable  bool // the list could not be read (the log says why)
	MaxPasswords int
}

type appPassRow struct {
	admin.AppPassword
	CreatedWords, UsedWords string
}

type deviceRow struct {
	admin.Device
	What, LastWords string
}

// appPassOf reads the section for account; created is an app password
// just made (shown once), if any.
func (h *handler) appPassOf(ctx context.Context, v *visitor, base string, acct admin.Account, created admin.AppPasswordResult) appPassView {
	view := appPassView{Base: base, WebOnly: acct.PasswordWebOnly, New: created.Password, NewName: created.AppPassword.Name,
		MaxPasswords: 20}
	now := h.now()
	list, err := admin.Call[admin.AppPasswordList](ctx, h.admin, v.actor, admin.ListAppPasswords{Account: acct.Name})
	if err != nil {
		h.logger.Error("web page: app passwords", "account", acct.Name, "err", err)
		view.Unavailable = true
		return view
	}
	for _, p := range list.AppPasswords {
		row := appPassRow{AppPassword: p, CreatedWords: dayWords(p.Created, now), UsedWords: "never"}
		if !p.LastUsed.IsZero() {
			row.UsedWords = agoWords(p.LastUsed, now)
		}
		view.List = append(view.List, row)
	}
	devs, err := admin.Call[admin.DeviceList](ctx, h.admin, v.actor, admin.ListDevices{Account: acct.Name})
	if err != nil {
		h.logger.Error("web page: devices", "account", acct.Name, "err", err)
		return view
	}
	for _, d := range devs.Devices {
		view.Devices = append(view.Devices, deviceRow{Device: d, What: protocolWords(d.Protocol), LastWords: agoWords(d.Last, now)})
	}
	return view
}

// protocolWords names a protocol for an office manager.
func protocolWords(p string) string {
	switch p {
	case "imap":
		return "Reading mail (IMAP)"
	case "pop3":
		return "Downloading mail (POP3)"
	case "submission":
		return "Sending mail"
	case "web":
		return "This web page"
	}
	return p
}

func dayWords(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(now.Location()).Format("2 Jan 2006")
}

// agoWords is "5 minutes ago", or the date for what is older than a week.
func agoWords(t, now time.Time) string {
	switch d := now.Sub(t); {
	case t.IsZero():
		return "never"
	case d < time.Minute:
		return "just now"
	case d < 7*24*time.Hour:
		return age(d) + " ago"
	}
	return t.In(now.Location()).Format("2 Jan 2006 15:04")
}

// appPassChange runs the forms "apppass" (make one), "unapppass" (remove
// one) and "webonly" for account name. It reports whether form was one of
// them; err is the refusal, with fields the form's fields for it.
func (h *handler) appPassChange(ctx context.Context, v *visitor, name, form string, r *http.Request) (handled bool, res admin.AppPasswordResult, fields []string, err error) {
	switch form {
	case "apppass":
		res, err = admin.Call[admin.AppPasswordResult](ctx, h.admin, v.actor, admin.AddAppPassword{Account: name, Name: r.PostForm.Get("name")})
		return true, res, []string{"name"}, err
	case "unapppass":
		res, err = admin.Call[admin.AppPasswordResult](ctx, h.admin, v.actor, admin.RevokeAppPassword{Account: name, ID: r.PostForm.Get("id")})
		return true, res, []string{"id"}, err
	case "webonly":
		_, err = admin.Call[admin.AccountResult](ctx, h.admin, v.actor, admin.SetPasswordWebOnly{Account: name, On: r.PostForm.Get("webonly") == "on"})
		return true, res, nil, err
	}
	return false, res, nil, nil
}

// meChange is the /me forms of app passwords: always on the visitor's own
// account.
func (h *handler) meChange(w http.ResponseWriter, r *http.Request, v *visitor) {
	form := r.PathValue("form")
	handled, res, fields, err := h.appPassChange(r.Context(), v, v.acct.Name, form, r)
	if !handled {
		http.NotFound(w, r)
		return
	}
	pv := h.view(v, "me")
	if err != nil {
		pv.keep(form, r, "name")
		code := pv.fail(form, err, fields...)
		h.render(w, code, "me.html", h.meViewCreated(r.Context(), pv, v, admin.AppPasswordResult{}))
		return
	}
	if form == "apppass" {
		pv.Notice = fmt.Sprintf("App password %q made.", res.AppPassword.Name)
		h.render(w, http.StatusOK, "me.html", h.meViewCreated(r.Context(), pv, v, res))
		return
	}
	http.Redirect(w, r, "/me?done="+form, http.StatusSeeOther)
}
