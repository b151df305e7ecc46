package autoconfig

import (
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Options configures New.
type Options struct {
	// Settings returns what clients are told, asked once per request so
	// that a changed configuration shows at once. Required.
	Settings func() Settings
	// Links are the one-time profile links; nil: /p/ answers 404.
	Links *Links
	// Logger: nil is slog.Default().
	Logger *slog.Logger
	// Now is the clock (Autodiscover error times). nil: time.Now.
	Now func() time.Time
	// SignProfile signs an Apple profile (CMS SignedData, DER) or returns
	// it unchanged when the box has no trusted certificate
	// (certs.Manager.SignProfile). nil: profiles go out unsigned.
	SignProfile func(profile []byte) ([]byte, error)
}

// Handler answers the client set-up questions and nothing else: every
// other path is 404. It sets no cookie and reads no login.
type Handler struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
}

// New returns the Handler.
func New(opts Options) *Handler {
	h := &Handler{opts: opts, log: opts.Logger, now: opts.Now}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h
}

// The paths, in lower case: Outlook writes "/Autodiscover/Autodiscover.xml",
// others "/autodiscover/autodiscover.xml", and any case must work.
const (
	PathAutoconfig   = "/mail/config-v1.1.xml"
	PathWellKnown    = "/.well-known/autoconfig/mail/config-v1.1.xml"
	PathAutodiscover = "/autodiscover/autodiscover.xml"
	PathJSON         = "/autodiscover/autodiscover.json"
	PathProfile      = "/profile/mail.mobileconfig"
	PathLink         = "/p/" // + token
)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	path := r.URL.Path
	lower := strings.ToLower(path)
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	s := h.opts.Settings()
	switch {
	case (lower == PathAutoconfig || lower == PathWellKnown) && get:
		h.serveThunderbird(w, r, s)
	case lower == PathAutodiscover:
		h.serveAutodiscoverXML(w, r, s)
	case lower == PathJSON && get:
		h.serveAutodiscoverJSON(w, r, s, "")
	case strings.HasPrefix(lower, PathJSON+"/v1.0/") && get:
		// r.URL.Path is unescaped already: "anna%40example.org" is "anna@example.org".
		h.serveAutodiscoverJSON(w, r, s, path[len(PathJSON+"/v1.0/"):])
	case path == PathProfile && get:
		h.serveProfile(w, r, s)
	case strings.HasPrefix(path, PathLink) && r.Method == http.MethodGet && h.opts.Links != nil:
		// GET only: a HEAD from a link checker must not use the link up.
		addr, proto, err := h.opts.Links.Take(path[len(PathLink):])
		if err != nil {
			http.Error(w, "This link was used or has expired: make a new one on your set-up page.", http.StatusNotFound)
			return
		}
		h.writeProfile(w, r, s, addr, proto)
	default:
		http.NotFound(w, r)
	}
}

// queryFold is the first value of the query parameter named name in any
// letter case.
func queryFold(q url.Values, name string) string {
	if v := q.Get(name); v != "" {
		return v
	}
	for k, v := range q {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// hostOnly is the host of a Host header, without port or brackets.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
