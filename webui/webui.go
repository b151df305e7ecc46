// Package webui serves the appliance's web pages on the web listener.
//
// Today that is the status page: GET / shows the boot phase, every service
// with its address and state, and the most important problem in plain
// words; GET /status.json returns the same Snapshot as JSON; GET
// /display.png is the front panel's display as it is now (display.go),
// shown on the status page with the LED states; /factory-reset confirms
// the factory reset that a 10-second button press asked for (reset.go).
// The setup wizard, the other admin pages and client autoconfig come with
// their own issues.
// The package reads appliance/status only; the appliance decides where it
// listens (127.0.0.1:8080 in development).
package webui

import (
	"context"
	"embed"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"postroom/appliance/status"
	"postroom/internal/lan"
)

//go:embed templates/*.html
var templates embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"stamp": func(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") },
}).ParseFS(templates, "templates/*.html"))

// Options configures New.
type Options struct {
	Bus    *status.Bus  // required: where the pages read the status
	Logger *slog.Logger // nil: slog.Default()
	// DisplayPNG returns the panel's display as it is now (display.go).
	// nil: the page shows no display.
	DisplayPNG func() []byte
	// CheckAdmin checks an administrator's login from the client at remote
	// (host:port): nil for an administrator with the right password; an
	// error wrapping ErrLoginLocked when the login guard locked it out.
	// The appliance routes it through its login guard (delays, lockout).
	CheckAdmin func(ctx context.Context, remote, user, password string) error
	// FactoryReset erases the box and starts it afresh; it is called once
	// the confirmation page has been written. nil (like a nil CheckAdmin):
	// the reset page says the box cannot be reset from here.
	FactoryReset func(by string)
	// ResetUsed is when the last factory reset was done: a button press
	// at or before it is used up and confirms nothing.
	ResetUsed time.Time
}

// New returns the handler for every page.
func New(opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &handler{bus: opts.Bus, logger: opts.Logger, displayPNG: opts.DisplayPNG,
		checkAdmin: opts.CheckAdmin, factoryReset: opts.FactoryReset, resetUsed: opts.ResetUsed}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.statusPage)
	mux.HandleFunc("GET /status.json", h.statusJSON)
	mux.HandleFunc("GET /display.png", h.display)
	mux.HandleFunc("GET /factory-reset", h.resetPage) // reset.go
	mux.HandleFunc("POST /factory-reset", h.resetConfirm)
	return lanOnly(h.logger, secureHeaders(mux))
}

// lanOnly answers 403 to clients outside the office network: the pages
// show the box's state (and, while setup is pending, the display with the
// setup code), which is nobody else's business, even if a router forwards
// the port by mistake.
func lanOnly(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !lan.Contains(ap.Addr()) {
			log.Warn("web page refused: client outside the local network", "remote", r.RemoteAddr, "path", r.URL.Path)
			http.Error(w, "This page is only available on the office network.", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type handler struct {
	bus          *status.Bus
	logger       *slog.Logger
	displayPNG   func() []byte
	checkAdmin   func(ctx context.Context, remote, user, password string) error
	factoryReset func(by string)
	resetUsed    time.Time
}

// statusView is what the status template shows.
type statusView struct {
	status.Snapshot
	MailToday    int
	Display      bool // the panel draws a display: show /display.png
	ResetPending bool // a button press asks for a factory reset (reset.go)
}

func (h *handler) statusPage(w http.ResponseWriter, r *http.Request) {
	s := h.bus.Latest()
	now := time.Now()
	_, pending := h.pendingReset(now)
	h.render(w, http.StatusOK, "status.html", statusView{Snapshot: s, MailToday: s.MailOn(now), Display: h.displayPNG != nil, ResetPending: pending})
}

func (h *handler) statusJSON(w http.ResponseWriter, r *http.Request) {
	s := h.bus.Latest()
	s.MailToday = s.MailOn(time.Now())
	s.SentToday = s.SentOn(time.Now())
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
// nothing from elsewhere (the CSS is inline).
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
