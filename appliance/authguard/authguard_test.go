package authguard

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"postroom/internal/testutil"
	"postroom/storage"
	"postroom/storage/storagetest"
)

func tcp(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000} }
func newGuard(t *testing.T, c *testutil.Clock) *Guard {
	return New(Options{
		Logger: testutil.Logger(t), Now: c.Now, FailureDelay: time.Nanosecond,
		MaxFailures: 3, Window: time.Minute, Lockout: 10 * time.Minute, MaxStrikes: 4,
	})
}

func TestLoginLockout(t *testing.T) {
	st := storagetest.Open(t)
	storagetest.Account(t, st, "alice@example.test")
	c := testutil.NewClock(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	g := newGuard(t, c)
	ctx := context.Background()
	const good = "password-alice@example.test"
	office, stranger, other := tcp("192.168.1.10"), tcp("203.0.113.7"), tcp("198.51.100.9")

	// The office machine logs in once: it becomes known for the account.
	if _, err := g.Login(ctx, st, office, "alice@example.test", good); err != nil {
		t.Fatalf("good login: %v", err)
	}

	type step struct {
		remote net.Addr
		login  string
		pw     string
		want   error
	}
	steps := []step{
		{stranger, "alice@example.test", "x", storage.ErrAuthFailed},
		{stranger, "ALICE@example.test", "y", storage.ErrAuthFailed},
		{stranger, "nobody@example.test", "z", storage.ErrAuthFailed}, // unknown login: the same answer
		{stranger, "alice@example.test", "w", storage.ErrAuthFailed},
		// Three failures for alice from the stranger: that pair is
		// locked, even with the right password.
		{stranger, "alice@example.test", good, ErrLocked},
		// Other addresses are not affected by the pair's lock.
		{office, "alice@example.test", good, nil},
	}
	for i, s := range steps {
		_, err := g.Login(ctx, st, s.remote, s.login, s.pw)
		if !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Fatalf("step %d (%v %s): err %v, want %v", i, s.remote, s.login, err, s.want)
		}
	}

	// Many addresses guessing alice's password lock the account (4 x 3
	// failures), but not for the office machine that logged in before.
	for i := range 12 {
		ip := net.IPv4(198, 51, 100, byte(10+i))
		g.Login(ctx, st, &net.TCPAddr{IP: ip}, "alice@example.test", "guess")
	}
	if _, err := g.Login(ctx, st, other, "alice@example.test", good); !errors.Is(err, ErrLocked) {
		t.Fatalf("account lock from a new address: %v, want ErrLocked", err)
	}
	if _, err := g.Login(ctx, st, office, "alice@example.test", good); err != nil {
		t.Fatalf("known address during the account lock: %v", err)
	}

	// The lockout ends.
	c.Advance(11 * time.Minute)
	for _, r := range []net.Addr{stranger, other} {
		if _, err := g.Login(ctx, st, r, "alice@example.test", good); err != nil {
			t.Fatalf("after the lockout, %v: %v", r, err)
		}
	}
}

// TestSharedAddressStalePassword: a shared office PC (or a phone behind
// the office router) keeps failing with an old password for account A.
// A gets locked from that address; B logs in from the same address at
// once, and A's right password works from elsewhere.
func TestSharedAddressStalePassword(t *testing.T) {
	st := storagetest.Open(t)
	storagetest.Account(t, st, "a@example.test")
	storagetest.Account(t, st, "b@example.test")
	c := testutil.NewClock(time.Date(2026, 2, 3, 8, 0, 0, 0, time.UTC))
	// The defaults, but no waiting: 10 failures lock a pair.
	g := New(Options{Logger: testutil.Logger(t), Now: c.Now, FailureDelay: time.Nanosecond})
	ctx := context.Background()
	shared, home := tcp("192.168.1.20"), tcp("198.51.100.3")
	for i := range 30 {
		_, err := g.Login(ctx, st, shared, "a@example.test", "stale")
		want := storage.ErrAuthFailed
		if i >= 10 {
			want = ErrLocked
		}
		if !errors.Is(err, want) {
			t.Fatalf("attempt %d with the stale password: %v, want %v", i, err, want)
		}
		c.Advance(time.Second)
	}
	if _, err := g.Login(ctx, st, shared, "b@example.test", "password-b@example.test"); err != nil {
		t.Fatalf("B from the shared address: %v", err)
	}
	if _, err := g.Login(ctx, st, home, "a@example.test", "password-a@example.test"); err != nil {
		t.Fatalf("A from another address: %v", err)
	}
	if _, err := g.Login(ctx, st, shared, "a@example.test", "password-a@example.test"); !errors.Is(err, ErrLocked) {
		t.Fatalf("A from the shared address during its lock: %v, want ErrLocked", err)
	}
	if !g.Known(addrOf(shared)) || g.Known(addrOf(tcp("203.0.113.99"))) {
		t.Error("Known: want true for the shared address (B logged in), false for a stranger")
	}
}

// TestAddressTryingManyAccounts: one failure each on MaxAccounts different
// accounts locks the whole address, for every account, even a right
// password; another address is not affected.
func TestAddressTryingManyAccounts(t *testing.T) {
	st := storagetest.Open(t)
	storagetest.Account(t, st, "a@example.test")
	c := testutil.NewClock(time.Date(2026, 2, 3, 8, 0, 0, 0, time.UTC))
	g := New(Options{Logger: testutil.Logger(t), Now: c.Now, FailureDelay: time.Nanosecond})
	ctx := context.Background()
	guesser := tcp("203.0.113.50")
	for i, login := range []string{"info", "sales", "admin", "office"} {
		if _, err := g.Login(ctx, st, guesser, login+"@example.test", "123456"); !errors.Is(err, storage.ErrAuthFailed) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	// Four accounts: not yet locked.
	if _, err := g.Login(ctx, st, guesser, "a@example.test", "password-a@example.test"); err != nil {
		t.Fatalf("after four accounts: %v", err)
	}
	// A success does not wipe the evidence: the fifth account locks.
	g.Login(ctx, st, guesser, "boss@example.test", "123456")
	if _, err := g.Login(ctx, st, guesser, "a@example.test", "password-a@example.test"); !errors.Is(err, ErrLocked) {
		t.Fatalf("after five accounts: %v, want ErrLocked", err)
	}
	if _, err := g.Login(ctx, st, tcp("203.0.113.51"), "a@example.test", "password-a@example.test"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	c.Advance(16 * time.Minute)
	if _, err := g.Login(ctx, st, guesser, "a@example.test", "password-a@example.test"); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
}

func TestFailureDelayGrows(t *testing.T) {
	c := testutil.NewClock(time.Unix(1e9, 0))
	g := New(Options{Logger: testutil.Logger(t), Now: c.Now, FailureDelay: time.Second, MaxFailures: 100})
	a := addrOf(tcp("203.0.113.1"))
	var got []time.Duration
	for range 6 {
		got = append(got, g.failed(a, "x"))
	}
	want := []time.Duration{1, 2, 4, 8, 8, 8}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("delays %v, want %v seconds", got, want)
		}
	}
	// A success from the address resets its count.
	g.succeeded(a, "x")
	if d := g.failed(a, "x"); d != time.Second {
		t.Fatalf("delay after a success = %v, want 1s", d)
	}
}

func TestLoginWaitsForContext(t *testing.T) {
	st := storagetest.Open(t)
	g := New(Options{Logger: testutil.Logger(t), FailureDelay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Login(ctx, st, tcp("127.0.0.1"), "nobody", "pw"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

func TestStrike(t *testing.T) {
	c := testutil.NewClock(time.Unix(1e9, 0))
	g := newGuard(t, c)
	r := tcp("203.0.113.5")
	for i := 1; i <= 3; i++ {
		if g.Strike(r) {
			t.Fatalf("strike %d disconnects; want only from the 4th", i)
		}
	}
	if !g.Strike(r) {
		t.Fatal("4th strike within the window does not disconnect")
	}
	if g.Strike(tcp("203.0.113.6")) {
		t.Fatal("another address was struck out")
	}
	c.Advance(2 * time.Minute)
	if g.Strike(r) {
		t.Fatal("strikes outside the window still count")
	}
}

func TestTrackingIsBounded(t *testing.T) {
	c := testutil.NewClock(time.Unix(1e9, 0))
	g := New(Options{Logger: testutil.Logger(t), Now: c.Now, MaxTracked: 100, MaxFailures: 1000})
	for i := range 10000 {
		ip := net.IPv4(10, byte(i>>16), byte(i>>8), byte(i))
		g.failed(addrOf(&net.TCPAddr{IP: ip}), "user"+string(rune('a'+i%26)))
	}
	if n := len(g.byAddr); n > 100 {
		t.Fatalf("%d addresses tracked, want at most 100", n)
	}
	if n := len(g.byPair); n > 100 {
		t.Fatalf("%d (address, account) pairs tracked, want at most 100", n)
	}
}

func TestPlaintextAllowed(t *testing.T) {
	cases := []struct {
		remote        string
		tls, allowLAN bool
		want          bool
	}{
		{"203.0.113.1", true, false, true},
		{"203.0.113.1", false, true, false},
		{"127.0.0.1", false, false, false},
		{"127.0.0.1", false, true, true},
		{"192.168.0.20", false, true, true},
		{"10.1.2.3", false, true, true},
		{"172.16.5.5", false, true, true},
		{"172.32.5.5", false, true, false},
		{"100.64.1.1", false, true, false}, // carrier-grade NAT is not the office LAN
		{"fd00::1", false, true, true},
		{"fe80::1", false, true, true},
		{"::ffff:192.168.1.1", false, true, true},
		{"2001:db8::1", false, true, false},
	}
	for _, c := range cases {
		if got := PlaintextAllowed(tcp(c.remote), c.tls, c.allowLAN); got != c.want {
			t.Errorf("PlaintextAllowed(%s, tls=%v, lan=%v) = %v, want %v", c.remote, c.tls, c.allowLAN, got, c.want)
		}
	}
}
