// Package firstboot is the box's first set-up, seen from the office
// network: the one-time set-up code and the one set-up session (the web
// page's wizard) that the code opens.
//
// Why a code: before set-up there is no administrator, so whoever reaches
// the set-up page first could take the box. The code proves that the
// person is at the box: it is shown only on the front panel's display,
// the serial console (the appliance's standard output) and, in
// development, the banner. It is never on the status page, status.json,
// the live status stream or the status page's picture of the display
// (webui masks it there). It is made with crypto/rand from an alphabet
// without look-alikes (no 0/O, 1/I/L, 2/Z, 5/S, 8/B), three groups of
// four: 55 bits, typed in any case, with or without the dashes.
//
// A code lasts Lifetime (an hour) and is then replaced; it is used up by
// the first correct entry, which also makes the next code at once (so
// that a second person at the box can start over, which ends the first
// session). Every attempt, right or wrong, takes a token from a limiter
// per client address and one for all addresses, so that guessing is
// hopeless even from many addresses. Codes and the session live in
// memory: a restart shows a new code, and the person types it again.
//
// Setup is told by the runner whether the box waits to be set up
// (SetActive); while it does not, there is no code and no session.
// Time comes from Options.Now, so tests move the clock instead of waiting.
package firstboot

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"math/big"
	"net/netip"
	"strings"
	"sync"
	"time"

	"postroom/internal/ratelimit"
)

// Alphabet is what a code is made of: capital letters and digits that
// cannot be taken for one another.
const Alphabet = "ACDEFGHJKMNPRTUVWXY34679"

const (
	// Lifetime is how long a code is good for before it is replaced.
	Lifetime = time.Hour
	// WizardIdle ends a set-up session after so long without a request;
	// the person then types the code shown at that time.
	WizardIdle = time.Hour
	groups     = 3
	groupLen   = 4
	// keepOld is how many used or expired codes are remembered, to say
	// "expired" or "used" rather than "wrong".
	keepOld = 8
)

// Errors of Take, each with words for the person at the page.
var (
	ErrNotNeeded = errors.New("the box is set up already: log in instead")
	ErrWrong     = errors.New("that is not the code on the box's display: look again and type it as shown")
	ErrExpired   = errors.New("that code has expired: the display shows a new one")
	ErrUsed      = errors.New("that code was used already: the display shows a new one")
	ErrTooMany   = errors.New("too many tries: wait a minute and type the code on the display again")
)

// Options configures New; zero values take the default in brackets.
type Options struct {
	// Now is the clock [time.Now].
	Now func() time.Time
	// Lifetime of a code [Lifetime].
	Lifetime time.Duration
	// Announce is told each new code and when it expires, to print it on
	// the console; called without Setup's lock held. nil: nobody.
	Announce func(code string, expires time.Time)
	// PerClient and All limit the tries: a bucket of Burst tries,
	// refilled at PerSecond [5 tries, one a minute per client address
	// (an IPv6 /64); 60 tries, one a second for all]. The code's 55 bits
	// need no tighter limit: the one for all only keeps a flood of many
	// addresses from filling the log.
	PerClient, All ratelimit.Options
}

// Setup holds the current code and the set-up session. Safe for
// concurrent use.
type Setup struct {
	o         Options
	perClient *ratelimit.Limiter[netip.Addr]
	all       *ratelimit.Limiter[struct{}]

	mu      sync.Mutex
	active  bool
	code    string // normalised: no dashes
	expires time.Time
	old     []oldCode
	wizard  *session
	changed chan struct{}
}

type oldCode struct {
	code string
	err  error // ErrExpired or ErrUsed
}

// session is the one set-up session: who holds it (its token's hash) and
// what the wizard has done so far.
type session struct {
	id   [32]byte
	used time.Time
	w    Wizard
}

// Wizard is what the set-up pages remember between steps. The box itself
// (config, store) holds what was saved; this is only the pages' memory.
type Wizard struct {
	// CSRF is the token the session's forms carry.
	CSRF string
	// Domains the wizard added, Hostname chosen (saved at the end), the
	// Admin account it made, and the Users it made.
	Domains  []string
	Hostname string
	Admin    string
	Users    []string
}

// New returns a Setup that is not active yet.
func New(o Options) *Setup {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Lifetime <= 0 {
		o.Lifetime = Lifetime
	}
	if o.PerClient.Burst == 0 {
		o.PerClient = ratelimit.Options{Burst: 5, PerSecond: 1.0 / 60}
	}
	if o.All.Burst == 0 {
		o.All = ratelimit.Options{Burst: 60, PerSecond: 1}
	}
	o.PerClient.Now, o.All.Now = o.Now, o.Now
	return &Setup{o: o, changed: make(chan struct{}, 1),
		perClient: ratelimit.New[netip.Addr](o.PerClient), all: ratelimit.New[struct{}](o.All)}
}

// SetActive says whether the box waits to be set up. Turning it off ends
// the code and the session; turning it on makes a code on first use.
func (s *Setup) SetActive(on bool) {
	s.mu.Lock()
	if s.active == on {
		s.mu.Unlock()
		return
	}
	s.active = on
	if !on {
		s.code, s.expires, s.old, s.wizard = "", time.Time{}, nil, nil
	}
	s.mu.Unlock()
	s.notify()
}

// Active reports whether the box waits to be set up.
func (s *Setup) Active() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// Changed is told (at most one pending signal) when the code changes or
// the set-up is switched on or off, so that whoever shows the code looks
// again.
func (s *Setup) Changed() <-chan struct{} { return s.changed }

func (s *Setup) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Code returns the code to show, as XXXX-XXXX-XXXX, and when it expires;
// "" while the box does not wait to be set up. An expired code is
// replaced first.
func (s *Setup) Code() (string, time.Time) {
	s.mu.Lock()
	fresh := s.freshLocked()
	code, exp := Format(s.code), s.expires
	s.mu.Unlock()
	if fresh {
		s.announce(code, exp)
	}
	return code, exp
}

// freshLocked makes a new code when there is none or it expired, and
// reports whether it did.
func (s *Setup) freshLocked() bool {
	if !s.active {
		return false
	}
	now := s.o.Now()
	if s.code != "" && now.Before(s.expires) {
		return false
	}
	if s.code != "" {
		s.rememberLocked(s.code, ErrExpired)
	}
	s.code = newCode()
	s.expires = now.Add(s.o.Lifetime)
	return true
}

func (s *Setup) rememberLocked(code string, why error) {
	s.old = append(s.old, oldCode{code, why})
	if len(s.old) > keepOld {
		s.old = s.old[len(s.old)-keepOld:]
	}
}

func (s *Setup) announce(code string, exp time.Time) {
	s.notify()
	if s.o.Announce != nil {
		s.o.Announce(code, exp)
	}
}

// Take checks a code typed by the client at addr. The right code is used
// up (a new one is made at once) and starts a new set-up session, ending
// any other; Take returns the session's token, for the browser's cookie.
// Errors: ErrNotNeeded, ErrTooMany, ErrExpired, ErrUsed, ErrWrong.
func (s *Setup) Take(addr netip.Addr, typed string) (string, error) {
	s.mu.Lock()
	if !s.active {
		s.mu.Unlock()
		return "", ErrNotNeeded
	}
	// Every try counts, right or wrong: a guesser learns nothing from
	// which tries were refused for speed.
	if !s.perClient.Allow(clientKey(addr)) || !s.all.Allow(struct{}{}) {
		s.mu.Unlock()
		return "", ErrTooMany
	}
	freshBefore := s.freshLocked()
	got := Normalize(typed)
	var err error
	switch {
	case len(got) == len(s.code) && subtle.ConstantTimeCompare([]byte(got), []byte(s.code)) == 1:
		s.rememberLocked(s.code, ErrUsed)
		s.code = "" // used up: the next is made below
	default:
		err = ErrWrong
		for _, o := range s.old {
			if o.code == got {
				err = o.err
			}
		}
	}
	var token string
	if err == nil {
		token = rand.Text() + rand.Text()
		now := s.o.Now()
		s.wizard = &session{id: sha256.Sum256([]byte(token)), used: now, w: Wizard{CSRF: rand.Text()}}
	}
	fresh := s.freshLocked() || freshBefore
	code, exp := Format(s.code), s.expires
	s.mu.Unlock()
	if fresh {
		s.announce(code, exp)
	}
	return token, err
}

// Wizard returns the set-up session of token and touches it; false when
// token is not the live session (none, another, idle too long, or the box
// is set up).
func (s *Setup) Wizard(token string) (Wizard, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.sessionLocked(token)
	if x == nil {
		return Wizard{}, false
	}
	x.used = s.o.Now()
	w := x.w
	w.Domains = append([]string(nil), w.Domains...)
	w.Users = append([]string(nil), w.Users...)
	return w, true
}

// Save keeps w as the session's memory; false when token is no longer
// the live session.
func (s *Setup) Save(token string, w Wizard) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.sessionLocked(token)
	if x == nil {
		return false
	}
	w.CSRF = x.w.CSRF // the token stays what the forms carry
	x.w = w
	return true
}

// End ends the set-up session of token (the wizard finished).
func (s *Setup) End(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessionLocked(token) != nil {
		s.wizard = nil
	}
}

func (s *Setup) sessionLocked(token string) *session {
	if !s.active || s.wizard == nil || token == "" {
		return nil
	}
	id := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(id[:], s.wizard.id[:]) != 1 {
		return nil
	}
	if s.o.Now().Sub(s.wizard.used) > WizardIdle {
		s.wizard = nil
		return nil
	}
	return s.wizard
}

// clientKey is what the tries are counted by: an IPv4 address, or the
// /64 of an IPv6 one (a single machine may hold a whole /64).
func clientKey(addr netip.Addr) netip.Addr {
	addr = addr.Unmap()
	if addr.Is6() {
		if p, err := addr.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return addr
}

// newCode returns groups*groupLen characters of Alphabet from crypto/rand.
func newCode() string {
	b := make([]byte, groups*groupLen)
	limit := big.NewInt(int64(len(Alphabet)))
	for i := range b {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			// crypto/rand does not fail on the platforms Go supports.
			panic("firstboot: no randomness: " + err.Error())
		}
		b[i] = Alphabet[n.Int64()]
	}
	return string(b)
}

// Format shows a code in groups: ACDE-FGHJ-KMNP.
func Format(code string) string {
	if len(code) != groups*groupLen {
		return code
	}
	var b strings.Builder
	for i := 0; i < len(code); i += groupLen {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(code[i : i+groupLen])
	}
	return b.String()
}

// Normalize turns what a person typed into a code's plain form: capitals,
// without spaces and dashes. At most a few dozen characters are looked at.
func Normalize(typed string) string {
	if len(typed) > 64 {
		typed = typed[:64]
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(typed) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
