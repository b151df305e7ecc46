package firstboot

import (
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"postroom/internal/ratelimit"
	"postroom/internal/testutil"
)

var (
	office = netip.MustParseAddr("192.168.1.20")
	other  = netip.MustParseAddr("192.168.1.21")
	start  = time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC) // a DST night in Europe: no matter
)

type announced struct {
	mu    sync.Mutex
	codes []string
}

func (a *announced) add(code string, _ time.Time) {
	a.mu.Lock()
	a.codes = append(a.codes, code)
	a.mu.Unlock()
}

func (a *announced) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.codes...)
}

func newTest(t *testing.T) (*Setup, *testutil.Clock, *announced) {
	t.Helper()
	clock := testutil.NewClock(start)
	ann := &announced{}
	s := New(Options{Now: clock.Now, Announce: ann.add})
	s.SetActive(true)
	return s, clock, ann
}

// TestCodeShape: three groups of four from the alphabet without
// look-alikes, different each time, and announced when made.
func TestCodeShape(t *testing.T) {
	s, _, ann := newTest(t)
	code, exp := s.Code()
	if len(code) != 14 || code[4] != '-' || code[9] != '-' {
		t.Fatalf("code %q", code)
	}
	for _, r := range strings.ReplaceAll(code, "-", "") {
		if !strings.ContainsRune(Alphabet, r) {
			t.Errorf("code %q holds %q, not in the alphabet", code, r)
		}
	}
	for _, bad := range "0O1IL2Z5S8B" {
		if strings.ContainsRune(Alphabet, bad) {
			t.Errorf("the alphabet holds the look-alike %q", bad)
		}
	}
	if !exp.Equal(start.Add(Lifetime)) {
		t.Errorf("expires %v", exp)
	}
	if again, _ := s.Code(); again != code {
		t.Errorf("the code changed without a reason: %s, %s", code, again)
	}
	if got := ann.list(); len(got) != 1 || got[0] != code {
		t.Errorf("announced %v, want [%s]", got, code)
	}
	seen := map[string]bool{}
	for range 200 {
		seen[newCode()] = true
	}
	if len(seen) != 200 {
		t.Errorf("%d different codes of 200", len(seen))
	}
}

// TestTake walks a code's life: wrong, typed loosely, used once, reused,
// expired, and the session it opens.
func TestTake(t *testing.T) {
	s, clock, ann := newTest(t)
	code, _ := s.Code()
	if _, err := s.Take(office, "ACDE-FGHJ-KMNP-XXXX"); !errors.Is(err, ErrWrong) {
		t.Errorf("a wrong code: %v", err)
	}
	// Lower case, spaces instead of dashes: the same code.
	loose := strings.ToLower(strings.ReplaceAll(code, "-", " "))
	token, err := s.Take(office, "  "+loose+" ")
	if err != nil || token == "" {
		t.Fatalf("the right code typed loosely: %q %v", token, err)
	}
	w, ok := s.Wizard(token)
	if !ok || w.CSRF == "" {
		t.Fatalf("no session after the code: %+v %v", w, ok)
	}
	next, _ := s.Code()
	if next == code {
		t.Error("the used code is still shown")
	}
	if got := ann.list(); len(got) != 2 || got[1] != next {
		t.Errorf("announced %v, want the new code after the old", got)
	}
	if _, err := s.Take(office, code); !errors.Is(err, ErrUsed) {
		t.Errorf("the code again: %v, want used", err)
	}

	// The session keeps what the steps save, and its form token.
	w.Domains, w.Hostname = []string{"example.org"}, "mail.example.org"
	w.CSRF = "forged"
	if !s.Save(token, w) {
		t.Fatal("save refused")
	}
	if w2, _ := s.Wizard(token); w2.Hostname != "mail.example.org" || w2.CSRF == "forged" || w2.Domains[0] != "example.org" {
		t.Errorf("session after save: %+v", w2)
	}
	if _, ok := s.Wizard(token + "x"); ok {
		t.Error("another token opens the session")
	}

	// An hour on, the code is replaced; the old one is "expired".
	clock.Advance(Lifetime)
	third, _ := s.Code()
	if third == next {
		t.Error("the code outlived its hour")
	}
	if _, err := s.Take(other, next); !errors.Is(err, ErrExpired) {
		t.Errorf("the expired code: %v", err)
	}
	// The session was used less than WizardIdle ago... until it is idle.
	if _, ok := s.Wizard(token); !ok {
		t.Error("the session ended with the code")
	}
	clock.Advance(WizardIdle + time.Second)
	if _, ok := s.Wizard(token); ok {
		t.Error("an idle session goes on")
	}

	// A second person at the box takes the new code: the first session
	// ends.
	fourth, _ := s.Code()
	t1, err := s.Take(other, fourth)
	if err != nil {
		t.Fatal(err)
	}
	fifth, _ := s.Code()
	t2, err := s.Take(office, fifth)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Wizard(t1); ok {
		t.Error("the first session goes on beside the second")
	}
	if _, ok := s.Wizard(t2); !ok {
		t.Error("no second session")
	}
	s.End(t2)
	if _, ok := s.Wizard(t2); ok {
		t.Error("an ended session goes on")
	}

	// Set up: no code, no session, nothing to take.
	t3, _ := s.Take(office, mustCode(s))
	s.SetActive(false)
	if c, _ := s.Code(); c != "" {
		t.Errorf("a code after the set-up: %q", c)
	}
	if _, ok := s.Wizard(t3); ok {
		t.Error("a session after the set-up")
	}
	if _, err := s.Take(office, third); !errors.Is(err, ErrNotNeeded) {
		t.Errorf("a code after the set-up: %v", err)
	}
}

func mustCode(s *Setup) string { c, _ := s.Code(); return c }

// TestLimiter: tries are limited per client address and for all, right
// or wrong; time refills them.
func TestLimiter(t *testing.T) {
	clock := testutil.NewClock(start)
	s := New(Options{Now: clock.Now,
		PerClient: ratelimit.Options{Burst: 3, PerSecond: 1.0 / 60},
		All:       ratelimit.Options{Burst: 5, PerSecond: 1.0 / 60}})
	s.SetActive(true)
	for i := range 3 {
		if _, err := s.Take(office, "AAAA-AAAA-AAAA"); !errors.Is(err, ErrWrong) {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	// Even the right code waits now: a guesser learns nothing.
	if _, err := s.Take(office, mustCode(s)); !errors.Is(err, ErrTooMany) {
		t.Errorf("the 4th try: %v, want too many", err)
	}
	// Another address has its own tries, until all of them are used.
	for i := range 2 {
		if _, err := s.Take(other, "AAAA-AAAA-AAAA"); !errors.Is(err, ErrWrong) {
			t.Fatalf("other %d: %v", i, err)
		}
	}
	third := netip.MustParseAddr("10.0.0.9")
	if _, err := s.Take(third, mustCode(s)); !errors.Is(err, ErrTooMany) {
		t.Errorf("past the limit for all: %v", err)
	}
	clock.Advance(2 * time.Minute)
	if tok, err := s.Take(office, mustCode(s)); err != nil || tok == "" {
		t.Errorf("after a wait: %v", err)
	}
}

// TestNormalize: what people type.
func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"acde-fghj-kmnp":         "ACDEFGHJKMNP",
		" ACDE FGHJ\tKMNP ":      "ACDEFGHJKMNP",
		"":                       "",
		"<script>":               "<SCRIPT>",
		strings.Repeat("A", 100): strings.Repeat("A", 64),
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Format("ACDEFGHJKMNP"); got != "ACDE-FGHJ-KMNP" {
		t.Errorf("Format: %q", got)
	}
}

// TestClientKey: an IPv6 /64 is one client; IPv4 (mapped or not) is
// counted by address.
func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.168.1.20":          "192.168.1.20",
		"::ffff:192.168.1.20":   "192.168.1.20",
		"fd00:1:2:3:aaaa::1":    "fd00:1:2:3::",
		"fd00:1:2:3:ffff::9999": "fd00:1:2:3::",
	} {
		if got := clientKey(netip.MustParseAddr(in)); got.String() != want {
			t.Errorf("clientKey(%s) = %s, want %s", in, got, want)
		}
	}
}
