// Package public is the box's one web handler for the internet (port 80 on
// the board, listen.public): the questions mail clients ask to set
// themselves up (webui/autoconfig), and nothing else. The LAN pages
// (package webui) are never reachable through it: a phone on mobile data
// can fetch its settings while the admin pages stay on the office network.
//
// Every request is counted against its client's token bucket
// (internal/ratelimit): an IPv4 address, or the /64 of an IPv6 one (what
// one line gets), has Burst requests at once and PerSecond after that; the
// rest get 429 with Retry-After. The bucket map is bounded (MaxClients).
// Client addresses come from the connection only: a proxy's
// X-Forwarded-For is not trusted, since nothing sits in front of the box.
// Connections are bounded before they reach this handler, by the same
// connection front as the mail ports (internal/front, in the runner's
// appliance/run_public.go).
//
// The runner serves the same handler on port 443 (listen.public_tls) with
// the box's certificate, and puts the ACME authority's HTTP-01 answers
// (appliance/certs) in front of Autoconfig, under the same rate limit.
package public

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"postroom/internal/front"
	"postroom/internal/ratelimit"
)

// Options configures New. Zero values take the default in brackets.
type Options struct {
	// Autoconfig answers the client set-up paths (autoconfig.New);
	// it answers 404 to everything else. Required.
	Autoconfig http.Handler
	Logger     *slog.Logger     // [slog.Default()]
	PerSecond  float64          // requests a second per client after the burst [1]
	Burst      int              // requests a client may make at once [20]
	MaxClients int              // clients tracked at once [4096]
	Now        func() time.Time // the rate limiter's clock [time.Now]
}

// New returns the public handler.
func New(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Burst <= 0 {
		o.Burst = 20
	}
	return &handler{
		next: o.Autoconfig,
		log:  o.Logger,
		limit: ratelimit.New[netip.Prefix](ratelimit.Options{
			PerSecond: o.PerSecond, Burst: o.Burst, MaxKeys: o.MaxClients, Now: o.Now,
		}),
	}
}

type handler struct {
	next  http.Handler
	log   *slog.Logger
	limit *ratelimit.Limiter[netip.Prefix]
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	client := clientKey(r.RemoteAddr)
	if !h.limit.Allow(client) {
		h.log.Debug("public: rate limited", "client", client)
		w.Header().Set("Retry-After", "10")
		http.Error(w, "Too many requests: try again in a few seconds.", http.StatusTooManyRequests)
		return
	}
	h.log.Debug("public", "client", client, "method", r.Method, "path", r.URL.Path)
	h.next.ServeHTTP(w, r)
}

// clientKey is the bucket of the client at remote (host:port): the unit
// the mail ports count connections by (front.AddrKey), an IPv4 address or
// an IPv6 /64.
func clientKey(remote string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Prefix{}
	}
	return front.AddrKey(ap.Addr())
}
