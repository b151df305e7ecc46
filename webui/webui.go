// Package webui serves the appliance's web pages on the web listener.
//
// The map:
//
//	webui.go     New, Options, the interfaces the pages need, the routes
//	guard.go     the gates every request passes: LAN only, the box's own Host
//	view.go      the status page (GET /) and its words; GET /status.json
//	events.go    GET /events: the status page's live updates (Server-Sent
//	             Events) and /status.js, the one script, which shows them
//	display.go   GET /display.png, the front panel's display
//	reset.go     /factory-reset, confirming a 10-second button press
//	session.go   logins and sessions: why they are built as they are
//	login.go     /login, /logout, the Admin interface, the login gate of
//	             every page behind it, and the form messages (pageView)
//	accounts.go  /accounts (list, search, paging, new account),
//	             /accounts/{name} (one form per change), /me (a user's own),
//	             both with the account's client set-up (ClientSetup)
//	settings.go  /domains, /settings (host name, smarthost), /queue
//	diagnostics.go  /log (recent lines) and /diagnostics.zip
//	dns.go       /dns: the DNS records to publish and what DNS says of
//	             them now, the box's reverse DNS and port 25 (DNSCheck)
//	wizard.go    /setup: the first set-up, from the set-up code on the
//	             display to the DNS records; every page leads there until
//	             it is done
//
// Every request passes two gates (guard.go): the client must be on the
// office network (lanOnly), and the Host it asked for must be one of the
// box's own names or addresses (knownHost), so that a DNS-rebinding page in
// an office browser cannot read the pages under a name of its own. A form
// posted by another site's page is refused (http.CrossOriginProtection),
// and the forms behind the login carry their session's token (session.go).
//
// The status page, status.json, the display and the factory reset need no
// login (the reset asks for an administrator's password itself). The
// pages behind the login change the box only through the admin layer
// (appliance/admin, Options.Admin): the same operations, checks, audit log
// and status Bus as postroomctl. An administrator sees every page; any
// other user only their own (/me). A refused change shows the page again
// with the admin layer's message next to the field it is about (Error.Field,
// the form field's name) and what was typed, but never a password.
//
// What the pages need from the rest of the box is declared here, as small
// interfaces that the appliance satisfies (STYLE convention 1): Admins
// checks an administrator's login, Resetter erases the box, DisplaySource
// draws the display, Admin runs the admin layer's operations, Logins checks
// anyone's login through the login guard, SessionStore keeps the sessions,
// ClientSetup tells how to set up a mail program.
// A page that needs more declares its own small interface here and gets a
// field in Options; a part that can do more than its interface says is
// asked with a type assertion on an extension interface, never by widening
// the first one. A nil field turns its pages off with a plain message.
//
// Pages are html/template files embedded in the binary (templates/), with
// their words in Go so that tests check them, inline CSS, no CDN, and a
// Content-Security-Policy that allows nothing from elsewhere. The
// appliance decides where it listens (127.0.0.1:8080 in development).
package webui

import (
	"context"
	"embed"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"postroom/appliance/firstboot"
	"postroom/appliance/status"
)

//go:embed templates/*.html
var templates embed.FS

var pages = template.Must(template.New("").Funcs(funcs).ParseFS(templates, "templates/*.html"))

// Admins checks administrators' logins.
type Admins interface {
	// CheckAdmin checks an administrator's login from the client at remote
	// (host:port): nil for an administrator with the right password; an
	// error wrapping ErrLoginLocked when the login guard locked it out.
	// The appliance routes it through its login guard (delays, lockout).
	CheckAdmin(ctx context.Context, remote, user, password string) error
}

// Resetter erases the box and starts it afresh (the factory reset).
type Resetter interface {
	// FactoryReset asks the box to stop, erase its data folder but for
	// the configuration, and start again; by is who confirmed it. It
	// returns at once; an error means the reset will not happen (e.g.
	// another maintenance step is already waiting).
	FactoryReset(by string) error
	// LastReset is when the last factory reset was done (zero: none since
	// the appliance started): a button press at or before it is used up
	// and confirms nothing.
	LastReset() time.Time
}

// DisplaySource draws the front panel's display (display.go).
type DisplaySource interface {
	// PNG returns the display as it is now, 128x64 pixels; nil when no
	// frame is available.
	PNG() []byte
}

// ClientSetup renders an account's client set-up instructions
// (webui/autoconfig's SetupPage): IMAP against POP3 in plain words, the
// settings, QR codes of one-time profile links, notes per mail program.
type ClientSetup interface {
	// SetupPage returns the instructions for the account whose login is
	// name, an HTML fragment (a <section> with its own <h2>) that the
	// page embeds as it is: the implementation escapes what it shows.
	// Each call may make new one-time links.
	SetupPage(name string) (template.HTML, error)
}

// Options configures New.
type Options struct {
	Bus    *status.Bus  // required: where the pages read the status
	Logger *slog.Logger // nil: slog.Default()
	// Admins checks administrators' logins. nil: nothing that needs an
	// administrator can be done (the reset page says so).
	Admins Admins
	// Reset erases the box. nil (like a nil Admins): the reset page says
	// the box cannot be reset from here.
	Reset Resetter
	// Display is the front panel's display, for the status page. nil: the
	// page shows no display.
	Display DisplaySource
	// Names are more host names the pages answer to, besides the host
	// name in the Snapshot, DefaultNames and the box's own addresses
	// (guard.go). nil: none.
	Names []string
	// Now is the clock that decides what "today" and "ago" mean on the
	// pages, and when a login has been idle too long. nil: time.Now.
	Now func() time.Time
	// Admin runs the changes and questions of the pages behind the login
	// (accounts, domains, queue, settings). Logins checks addresses and
	// passwords; Sessions keeps the logins (session.go). A nil one of the
	// three turns the login and the pages behind it off.
	Admin    Admin
	Logins   Logins
	Sessions SessionStore
	// Log holds the recent log lines for the log page and the
	// diagnostics. nil: the page says nothing was kept.
	Log LogSource
	// Setup gives the client set-up instructions shown on a user's own
	// page and on the administrator's page of each account. nil: the
	// pages leave the section out.
	Setup ClientSetup
	// UpdateDir is where the update page spools an uploaded update file
	// on the data disk (update.go). "": no uploads.
	UpdateDir string
	// DNS is the background check of the DNS records and connections
	// that the DNS page shows. nil: the page says there is none.
	DNS DNSCheck
	// FirstBoot is the set-up code and the set-up session (wizard.go):
	// while it is active, every page but the status page leads to the
	// set-up. nil: no set-up pages.
	FirstBoot *firstboot.Setup
}

// Handler serves every page.
type Handler struct {
	http.Handler
	h *handler
}

// CloseStreams ends the status page's live streams (events.go), now and
// later; give it to http.Server.RegisterOnShutdown, or Shutdown waits for
// them.
func (p *Handler) CloseStreams() { p.h.streams.close() }

// New returns the handler for every page.
func New(opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &handler{bus: opts.Bus, logger: opts.Logger, display: opts.Display,
		admins: opts.Admins, reset: opts.Reset, names: opts.Names, now: opts.Now,
		admin: opts.Admin, logins: opts.Logins, log: opts.Log, setup: opts.Setup, streams: newStreams(),
		firstboot: opts.FirstBoot}
	if opts.Sessions != nil {
		h.sessions = &sessions{store: opts.Sessions, now: opts.Now}
	}
	h.dns = opts.DNS
	h.updateDir = opts.UpdateDir
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.statusPage)
	mux.HandleFunc("GET /status.json", h.statusJSON)
	mux.HandleFunc("GET /display.png", h.displayPNG)
	mux.HandleFunc("GET /events", h.events) // events.go: the status page's live updates
	mux.HandleFunc("GET /status.js", h.statusScript)
	mux.HandleFunc("GET /factory-reset", h.resetPage) // reset.go
	mux.HandleFunc("POST /factory-reset", h.resetConfirm)
	// Behind the login (login.go, session.go).
	mux.HandleFunc("GET /login", h.loginPage)
	mux.HandleFunc("POST /login", h.login)
	mux.HandleFunc("POST /logout", h.page(false, h.logout))
	mux.HandleFunc("GET /me", h.page(false, h.mePage)) // accounts.go
	mux.HandleFunc("POST /me/password", h.page(false, h.changeOwnPassword))
	mux.HandleFunc("POST /me/{form}", h.page(false, h.meChange)) // apppass.go: app passwords
	mux.HandleFunc("GET /accounts", h.page(true, h.accountsPage))
	mux.HandleFunc("POST /accounts", h.page(true, h.addAccount))
	mux.HandleFunc("GET /accounts/{name}", h.page(true, h.accountPage))
	mux.HandleFunc("POST /accounts/{name}/{form}", h.page(true, h.accountChange))
	mux.HandleFunc("GET /domains", h.page(true, h.settingsPage("domains", "domains.html"))) // settings.go
	mux.HandleFunc("GET /settings", h.page(true, h.settingsPage("settings", "settings.html")))
	mux.HandleFunc("POST /settings/{form}", h.page(true, h.settingsChange))
	mux.HandleFunc("GET /queue", h.page(true, h.queuePage))
	mux.HandleFunc("GET /moving", h.page(true, h.movingPage)) // moving.go
	mux.HandleFunc("POST /moving/{form}", h.page(true, h.movingChange))
	mux.HandleFunc("POST /queue/{form}", h.page(true, h.queueChange))
	mux.HandleFunc("GET /log", h.page(true, h.logPage)) // diagnostics.go
	mux.HandleFunc("GET /diagnostics.zip", h.page(true, h.diagnostics))
	mux.HandleFunc("GET /dns", h.page(true, h.dnsPage)) // dns.go; the set-up ends here
	mux.HandleFunc("POST /dns/check", h.page(true, h.dnsRecheck))
	mux.HandleFunc("GET /dns.js", h.dnsScript)
	// The first set-up (wizard.go); setupGate leads every other page here
	// until it is done.
	mux.HandleFunc("GET /setup", h.setupCodePage)
	mux.HandleFunc("POST /setup", h.setupCode)
	mux.HandleFunc("GET /setup/restore", h.setupRestorePage) // wizard_restore.go
	mux.HandleFunc("POST /setup/restore", h.setupRestore)
	mux.HandleFunc("GET /setup/{step}", h.setupStep)
	mux.HandleFunc("POST /setup/{step}", h.setupPost)
	mux.HandleFunc("GET /update", h.page(true, h.updatePage))   // update.go
	mux.HandleFunc("GET /backups", h.page(true, h.backupsPage)) // backups.go
	mux.HandleFunc("GET /backups/export", h.page(true, h.backupsExport))
	mux.HandleFunc("POST /backups/import", h.page(true, h.backupsImport))
	mux.HandleFunc("POST /backups/{form}", h.page(true, h.backupsChange))
	mux.HandleFunc("POST /update", h.page(true, h.updateUpload))
	mux.HandleFunc("POST /restart", h.page(true, h.restart)) // restart.go
	// Forms posted by another site's page are refused before they reach
	// a handler (the browser says where a form came from); the forms'
	// CSRF tokens refuse the rest.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.logger.Warn("web form refused: posted from another site", "remote", r.RemoteAddr, "path", r.URL.Path, "origin", r.Header.Get("Origin"))
		http.Error(w, "This form must be sent from the box's own page.", http.StatusForbidden)
	}))
	return &Handler{Handler: lanOnly(h.logger, h.knownHost(secureHeaders(cop.Handler(h.setupGate(mux))))), h: h} // guard.go
}

type handler struct {
	// updateDir is Options.UpdateDir.
	updateDir string

	bus     *status.Bus
	logger  *slog.Logger
	display DisplaySource
	admins  Admins
	reset   Resetter
	names   []string
	now     func() time.Time
	// The pages behind the login; nil: off.
	admin    Admin
	logins   Logins
	sessions *sessions
	streams  *streams    // the status page's live updates
	log      LogSource   // recent log lines; nil: none
	setup    ClientSetup // client set-up instructions; nil: none
	dns      DNSCheck    // the DNS page's check; nil: none
	// firstboot is the set-up code and session; nil: no set-up pages.
	firstboot *firstboot.Setup
}

func (h *handler) statusPage(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	_, pending := h.pendingReset(now)
	h.render(w, http.StatusOK, "status.html", newStatusView(h.bus.Latest(), now, h.display != nil, pending)) // view.go
}

func (h *handler) statusJSON(w http.ResponseWriter, r *http.Request) {
	s := h.bus.Latest()
	s = withoutCode(s) // diagnostics.go: only the display and the console show it
	now := h.now()
	s.MailToday = s.MailOn(now)
	s.SentToday = s.SentOn(now)
	s.FailedToday = s.FailedOn(now)
	if s.Services == nil { // [] rather than null for scripts that loop over them
		s.Services = []status.Service{}
	}
	if s.Addresses == nil {
		s.Addresses = []string{}
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		h.logger.Error("encode status", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

// secureHeaders keeps the pages out of frames and caches and lets them load
// nothing from elsewhere (the CSS is inline; the one script, /status.js,
// and its live stream come from the box). Images may also be data: URLs:
// the client set-up's QR codes are drawn into the page, since each view
// makes new one-time links; an image cannot run anything.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
