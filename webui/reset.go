package webui

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ResetWindow is how long after the 10-second button press a factory reset
// may be confirmed on the web page. The press proves someone is at the box;
// the administrator's password proves they may erase it.
const ResetWindow = 10 * time.Minute

// resetView is what the factory reset template shows.
type resetView struct {
	Hostname    string
	Pending     bool
	RequestedAt time.Time
	Done        bool
	Error       string
}

// pendingReset returns the button press that a reset may still confirm.
func (h *handler) pendingReset(now time.Time) (time.Time, bool) {
	at := h.bus.Latest().ResetRequested
	var used time.Time
	if h.reset != nil {
		used = h.reset.LastReset()
	}
	if at.IsZero() || !at.After(used) || now.Sub(at) > ResetWindow || at.After(now.Add(time.Minute)) {
		return time.Time{}, false
	}
	return at, true
}

func (h *handler) resetPage(w http.ResponseWriter, r *http.Request) {
	at, ok := h.pendingReset(h.now())
	h.render(w, http.StatusOK, "reset.html", resetView{Hostname: h.bus.Latest().Hostname, Pending: ok, RequestedAt: at})
}

// resetConfirm erases the box when a button press is pending, the form
// says ERASE, and the login is an administrator's. The password is the
// defence against forged cross-site posts too: another site cannot know
// it. A wrong login is delayed and counted by the appliance's login guard.
func (h *handler) resetConfirm(w http.ResponseWriter, r *http.Request) {
	view := resetView{Hostname: h.bus.Latest().Hostname}
	if !sameOrigin(r) {
		h.logger.Warn("factory reset refused: posted from another site", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"))
		http.Error(w, "This form must be sent from the box's own page.", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "The form could not be read.", http.StatusBadRequest)
		return
	}
	at, ok := h.pendingReset(h.now())
	view.Pending, view.RequestedAt = ok, at
	if !ok {
		h.logger.Warn("factory reset refused: no button press in the last 10 minutes", "remote", r.RemoteAddr)
		h.render(w, http.StatusConflict, "reset.html", view)
		return
	}
	if h.admins == nil || h.reset == nil {
		view.Error = "This box cannot be reset from its web page."
		h.render(w, http.StatusNotImplemented, "reset.html", view)
		return
	}
	if strings.TrimSpace(r.PostForm.Get("confirm")) != "ERASE" {
		view.Error = "Type ERASE in capital letters to confirm."
		h.render(w, http.StatusBadRequest, "reset.html", view)
		return
	}
	user := strings.TrimSpace(r.PostForm.Get("user"))
	if err := h.admins.CheckAdmin(r.Context(), r.RemoteAddr, user, r.PostForm.Get("password")); err != nil {
		// The appliance logged the failure, with the reason; the page
		// does not tell a wrong password from a non-administrator.
		view.Error = "That is not an administrator's login, or the password is wrong."
		if errors.Is(err, ErrLoginLocked) {
			view.Error = "Too many failed logins: wait a quarter of an hour and try again."
		}
		h.render(w, http.StatusForbidden, "reset.html", view)
		return
	}
	// The request returns at once; the box stops only after this page
	// is written (the web server drains its requests when it stops).
	if err := h.reset.FactoryReset(user); err != nil {
		h.logger.Error("factory reset confirmed but refused", "by", user, "remote", r.RemoteAddr, "err", err)
		view.Error = "The box cannot start the reset now: " + err.Error() + ". Try again in a few minutes."
		h.render(w, http.StatusServiceUnavailable, "reset.html", view)
		return
	}
	h.logger.Warn("factory reset confirmed on the web page", "by", user, "remote", r.RemoteAddr, "pressed", at)
	view.Done = true
	h.render(w, http.StatusOK, "reset.html", view)
}

// ErrLoginLocked is what Admins.CheckAdmin returns (wrapped) when the client or
// the account is locked out after too many failed logins.
var ErrLoginLocked = errors.New("webui: login locked")

// sameOrigin rejects a form posted by another site's page: when the
// browser says where the form came from (Origin, or else Referer), it must
// be this host.
func sameOrigin(r *http.Request) bool {
	from := r.Header.Get("Origin")
	if from == "" {
		from = r.Header.Get("Referer")
	}
	if from == "" || from == "null" {
		return from == "" // no header: not a browser, or one that sends none
	}
	u, err := url.Parse(from)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// render executes a template fully before writing, so that a template
// error is a clean 500.
func (h *handler) render(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		h.logger.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}
