package webui

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"postroom/internal/lan"
)

// DefaultNames are the host names the pages always answer to, besides the
// box's configured host name: the name the box announces over mDNS (and
// shows on its display) and the machine's own name for itself.
var DefaultNames = []string{"postroom.local", "localhost"}

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

// knownHost answers 421 Misdirected Request unless the request names the
// box: its configured host name, one of DefaultNames or Options.Names, or
// one of its own IP addresses (with or without a port). The client being
// on the LAN is not enough: in a DNS-rebinding attack a page from the
// internet, open in an office browser, makes its own name resolve to the
// box and then reads the box's pages as if they were its own. The browser
// still sends the attacker's name in Host, which is refused here.
func (h *handler) knownHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host == "" || h.isBox(r) {
			// No Host at all is HTTP/1.0 from a script, not a browser.
			next.ServeHTTP(w, r)
			return
		}
		h.logger.Warn("web page refused: request for another host name", "host", r.Host, "remote", r.RemoteAddr, "path", r.URL.Path)
		msg := "This box answers only to its own names and addresses"
		if names := h.boxNames(); len(names) > 0 {
			msg += " (" + strings.Join(names, ", ") + ")"
		}
		msg += ", and " + r.Host + " is not one of them. Type the box's name or address in the address bar."
		http.Error(w, msg, http.StatusMisdirectedRequest)
	})
}

// boxNames is every host name the pages answer to, in lower case.
func (h *handler) boxNames() []string {
	var out []string
	for _, n := range append([]string{h.bus.Latest().Hostname}, append(DefaultNames, h.names...)...) {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// isBox reports whether r's Host names this box.
func (h *handler) isBox(r *http.Request) bool {
	host := hostOnly(r.Host)
	if host == "" {
		return false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return h.isBoxAddr(r, ip.WithZone("").Unmap())
	}
	return slices.Contains(h.boxNames(), strings.ToLower(strings.TrimSuffix(host, ".")))
}

// isBoxAddr reports whether ip is one of the box's addresses: loopback,
// the address the client connected to, or one the Snapshot lists.
func (h *handler) isBoxAddr(r *http.Request, ip netip.Addr) bool {
	if ip.IsLoopback() {
		return true
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && lan.Addr(la) == ip {
		return true
	}
	for _, a := range h.bus.Latest().Addresses {
		if b, err := netip.ParseAddr(a); err == nil && b.WithZone("").Unmap() == ip {
			return true
		}
	}
	return false
}

// hostOnly strips the port from a Host header value and the brackets from
// an IPv6 literal: "[::1]:8080" is "::1", "box.local:80" is "box.local".
// It returns "" for a value that is no host.
func hostOnly(hostport string) string {
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 || (end+1 < len(hostport) && hostport[end+1] != ':') {
			return ""
		}
		return hostport[1:end]
	}
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		if strings.Contains(hostport[:i], ":") {
			return "" // a bare IPv6 literal is not a valid Host
		}
		return hostport[:i]
	}
	return hostport
}
