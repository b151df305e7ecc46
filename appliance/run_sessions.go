package appliance

import (
	"log/slog"
	"sync"

	"postroom/internal/front"
	"postroom/storage"
)

// sessionHub joins the mail servers' logins to the rest of the box: each
// login (front.Limits.OnLogin) is recorded as the account's last login and
// device (storage.NoteLogin: bounded in number and writes), and its front
// is remembered, so that "log out everywhere" (a password change, an app
// password removed, admin.Options.EndSessions) reaches the sessions of
// every protocol, IMAP included, without each server wiring it. A front
// nobody has logged in to since the services started has no session to
// end. The zero sessionHub is ready.
type sessionHub struct {
	mu     sync.Mutex
	fronts map[*front.Front]struct{}
}

// onLogin is the OnLogin hook of the servers over st.
func (h *sessionHub) onLogin(st *storage.Store, log *slog.Logger) func(*front.Conn) {
	return func(c *front.Conn) {
		f := c.Front()
		h.mu.Lock()
		if h.fronts == nil {
			h.fronts = make(map[*front.Front]struct{})
		}
		if _, ok := h.fronts[f]; !ok {
			for x := range h.fronts { // the fronts of a previous start
				if x.Closed() {
					delete(h.fronts, x)
				}
			}
			h.fronts[f] = struct{}{}
		}
		h.mu.Unlock()
		l := storage.Login{Protocol: protocolOf(f.Name()), Addr: c.IP().String(), Client: c.Client()}
		if err := st.NoteLogin(c.Account(), l); err != nil {
			log.Warn("last login not saved", "account", c.Account(), "err", err)
		}
	}
}

// protocolOf is the name the account page shows for a front.
func protocolOf(name string) string {
	if name == "smtp-submission" {
		return "submission"
	}
	return name
}

// EndSessions ends account's open sessions on every protocol and returns
// how many it ended.
func (h *sessionHub) EndSessions(account string) int {
	h.mu.Lock()
	fs := make([]*front.Front, 0, len(h.fronts))
	for f := range h.fronts {
		fs = append(fs, f)
	}
	h.mu.Unlock()
	n := 0
	for _, f := range fs {
		n += f.EndSessions(account)
	}
	return n
}
