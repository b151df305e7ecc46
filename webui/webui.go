// Package webui serves the appliance's web pages on the web listener.
//
// Today that is the status page: GET / shows the boot phase, every service
// with its address and state, and the most important problem in plain
// words; GET /status.json returns the same Snapshot as JSON; GET
// /display.png is the front panel's display as it is now (display.go),
// shown on the status page with the LED states. The setup
// wizard, the admin pages and client autoconfig come with their own issues.
// The package reads appliance/status only; the appliance decides where it
// listens (127.0.0.1:8080 in development).
package webui

import (
	"bytes"
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
}

// New returns the handler for every page.
func New(opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &handler{bus: opts.Bus, logger: opts.Logger, displayPNG: opts.DisplayPNG}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.statusPage)
	mux.HandleFunc("GET /status.json", h.statusJSON)
	mux.HandleFunc("GET /display.png", h.display)
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
	bus        *status.Bus
	logger     *slog.Logger
	displayPNG func() []byte
}

// statusView is what the status template shows.
type statusView struct {
	status.Snapshot
	MailToday int
	Display   bool // the panel draws a display: show /display.png
}

func (h *handler) statusPage(w http.ResponseWriter, r *http.Request) {
	s := h.bus.Latest()
	var buf bytes.Buffer // render fully first, so a template error is a clean 500
	if err := pages.ExecuteTemplate(&buf, "status.html", statusView{Snapshot: s, MailToday: s.MailOn(time.Now()), Display: h.displayPNG != nil}); err != nil {
		h.logger.Error("render status page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
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
