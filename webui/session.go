package webui

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Logins and sessions, designed once (STYLE.md's model is mox's webauth):
//
//   - A login is an account's address and password, checked by the
//     appliance through its login guard (Logins), so a guesser is delayed
//     and locked out on the web as on IMAP, POP3 and submission.
//   - A session is server-side: the browser holds only a random token in a
//     cookie that is HttpOnly (no script reads it), SameSite=Strict (no
//     other site's page sends it) and Secure when the page came over TLS.
//     The store keeps the session under the token's SHA-256 (SessionStore),
//     so sessions outlive a restart and a copy of the store logs nobody in.
//   - A session ends after IdleTimeout without a request (the clock is
//     Options.Now), at logout, and for every session of an account when its
//     password is changed ("log out everywhere"), when it is renamed or
//     removed. A password set elsewhere (postroomctl) ends them too when
//     Logins can say when a password changed (PasswordStamps): the session
//     keeps its login's stamp and ends when the account's differs. There are at most MaxSessions in all and
//     MaxAccountSessions per account: a new login pushes out the least
//     recently used.
//   - Forms that change something are refused when another site posted
//     them: http.CrossOriginProtection looks at the browser's
//     Sec-Fetch-Site and Origin headers, and every form carries the
//     session's own CSRF token, which another site cannot read.

// SessionStore keeps the web sessions' records. *storage.Store is one.
type SessionStore interface {
	PutWebSession(id [32]byte, value []byte) error
	// WebSession returns nil and no error when there is no record.
	WebSession(id [32]byte) ([]byte, error)
	DeleteWebSessions(ids ...[32]byte) error
	WebSessions(fn func(id [32]byte, value []byte) error) error
}

// Logins checks anyone's login for the web pages.
type Logins interface {
	// Login checks the address and password of any account, from the
	// client at remote (host:port), through the appliance's login guard,
	// and returns the account's login name as the store keeps it. An
	// error wraps ErrLoginLocked when the guard locked the login out.
	Login(ctx context.Context, remote, user, password string) (string, error)
}

// PasswordStamps is what Logins can do besides: a value that changes
// whenever an account's password is set, and tells nothing about it.
// *storage.Store has the method.
type PasswordStamps interface {
	PasswordStamp(login string) (string, error)
}

// Session limits.
const (
	// IdleTimeout ends a session that made no request for so long.
	IdleTimeout = 12 * time.Hour
	// MaxSessions is how many sessions the box keeps in all.
	MaxSessions = 200
	// MaxAccountSessions is how many sessions one account keeps: a
	// phone, a laptop and a few browsers.
	MaxAccountSessions = 10
	// touchEvery: a session's last use is written at most this often,
	// so that clicking around does not write to the store each time.
	touchEvery = time.Minute
	// cookieName holds the session token.
	cookieName = "postroom_session"
)

// session is one login, as kept in the store (JSON).
type session struct {
	id      [32]byte
	Account string `json:"account"`
	CSRF    string `json:"csrf"`
	// Stamp is the account's PasswordStamp at login ("" without one).
	Stamp   string    `json:"stamp,omitempty"`
	Created time.Time `json:"created"`
	Used    time.Time `json:"used"`
	// touchErr is why the last use could not be written, if it could not.
	touchErr error
}

// sessions keeps the logins in a SessionStore.
type sessions struct {
	store SessionStore
	now   func() time.Time
	// mu serialises new logins and ends, so the limits hold.
	mu sync.Mutex
}

func tokenID(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// create starts a session for account and returns its token; stamp is
// the account's password stamp, if known.
func (s *sessions) create(account, stamp string) (string, session, error) {
	token := rand.Text() + rand.Text() // 2 x 128 bits
	now := s.now()
	sess := session{id: tokenID(token), Account: account, CSRF: rand.Text(), Stamp: stamp, Created: now, Used: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.list()
	if err != nil {
		return "", session{}, err
	}
	// Expired sessions go; then the least recently used beyond the limits,
	// counting the new one.
	var drop [][32]byte
	var live []session
	for _, x := range all {
		if s.expired(x, now) {
			drop = append(drop, x.id)
		} else {
			live = append(live, x)
		}
	}
	slices.SortFunc(live, func(a, b session) int { return b.Used.Compare(a.Used) }) // newest first
	mine := 0
	kept := 0
	for _, x := range live {
		if x.Account == account {
			mine++
			if mine >= MaxAccountSessions {
				drop = append(drop, x.id)
				continue
			}
		}
		kept++
		if kept >= MaxSessions {
			drop = append(drop, x.id)
		}
	}
	if err := s.store.DeleteWebSessions(drop...); err != nil {
		return "", session{}, err
	}
	if err := s.put(sess); err != nil {
		return "", session{}, err
	}
	return token, sess, nil
}

func (s *sessions) expired(x session, now time.Time) bool { return now.Sub(x.Used) > IdleTimeout }

func (s *sessions) put(x session) error {
	b, err := json.Marshal(x)
	if err != nil {
		return err
	}
	return s.store.PutWebSession(x.id, b)
}

func decodeSession(id [32]byte, b []byte) (session, error) {
	var x session
	if err := json.Unmarshal(b, &x); err != nil {
		return session{}, fmt.Errorf("web session %x: %w", id[:4], err)
	}
	x.id = id
	return x, nil
}

// list reads every session.
func (s *sessions) list() ([]session, error) {
	var out []session
	err := s.store.WebSessions(func(id [32]byte, v []byte) error {
		x, err := decodeSession(id, v)
		if err != nil {
			// A record that cannot be read is dropped as expired.
			x = session{id: id}
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

// errNoSession: the request carries no live session.
var errNoSession = errors.New("no session")

// lookup returns the live session of token, and extends it.
func (s *sessions) lookup(token string) (session, error) {
	if token == "" || len(token) > 128 {
		return session{}, errNoSession
	}
	id := tokenID(token)
	b, err := s.store.WebSession(id)
	if err != nil {
		return session{}, err
	}
	if b == nil {
		return session{}, errNoSession
	}
	x, err := decodeSession(id, b)
	if err != nil {
		s.end(id)
		return session{}, errNoSession
	}
	now := s.now()
	if s.expired(x, now) {
		s.end(id)
		return session{}, errNoSession
	}
	if now.Sub(x.Used) >= touchEvery {
		x.Used = now
		// A store that refuses writes (a full disk) must not lock the
		// administrator out of the pages that help: the session goes
		// on, unextended, and touchErr says why.
		x.touchErr = s.put(x)
	}
	return x, nil
}

// end deletes one session.
func (s *sessions) end(id [32]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store.DeleteWebSessions(id)
}

// endAccount deletes every session of account but keep's, and returns
// how many went.
func (s *sessions) endAccount(account string, keep [32]byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.list()
	if err != nil {
		return 0, err
	}
	var drop [][32]byte
	for _, x := range all {
		if x.Account == account && x.id != keep {
			drop = append(drop, x.id)
		}
	}
	return len(drop), s.store.DeleteWebSessions(drop...)
}

// checkCSRF reports whether a posted form carries the session's token.
func (x session) checkCSRF(r *http.Request) bool {
	got := r.PostForm.Get("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(x.CSRF)) == 1
}

// setCookie hands the browser its token; an empty token clears it.
func setCookie(w http.ResponseWriter, r *http.Request, token string) {
	writeCookie(w, r, cookieName, "/", token)
}

// writeCookie sets a token cookie for the pages under path: HttpOnly,
// SameSite=Strict, Secure on TLS; an empty token clears it.
func writeCookie(w http.ResponseWriter, r *http.Request, name, path, token string) {
	c := &http.Cookie{Name: name, Value: token, Path: path, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil}
	if token == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// cookieToken is the session token the request carries, or "".
func cookieToken(r *http.Request) string {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return ""
	}
	return c.Value
}
