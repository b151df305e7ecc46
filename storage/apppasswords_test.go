package storage_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"postroom/internal/testutil"
	"postroom/storage"
	"postroom/storage/storagetest"
)

func clockStore(t *testing.T, opts storage.Options) (*storage.Store, *testutil.Clock) {
	t.Helper()
	clock := testutil.NewClock(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	opts.Now = clock.Now
	return storagetest.OpenOptions(t, opts), clock
}

func wantAuth(t *testing.T, st *storage.Store, login, pw, wantApp string) {
	t.Helper()
	a, err := st.Authenticate(login, pw)
	if err != nil {
		t.Fatalf("Authenticate(%s, %q): %v", login, pw, err)
	}
	if a.AppPassword != wantApp {
		t.Fatalf("Authenticate(%s): app password %q, want %q", login, a.AppPassword, wantApp)
	}
}

func wantAuthFail(t *testing.T, st *storage.Store, login, pw string) {
	t.Helper()
	if _, err := st.Authenticate(login, pw); !errors.Is(err, storage.ErrAuthFailed) {
		t.Fatalf("Authenticate(%s, %q) = %v, want ErrAuthFailed", login, pw, err)
	}
}

// TestAppPasswords: create, log in with it as typed in many ways, last use
// written lazily, revoke one by one, and no app password reaches another
// account or the web page.
func TestAppPasswords(t *testing.T) {
	st, clock := clockStore(t, storage.Options{})
	storagetest.Account(t, st, "anna@example.test")
	storagetest.Account(t, st, "ben@example.test")

	phone, secret, err := st.AddAppPassword("Anna@Example.test", "  Anna's phone  ")
	if err != nil {
		t.Fatal(err)
	}
	if phone.Name != "Anna's phone" || len(phone.ID) != 4 || !phone.Created.Equal(clock.Now()) || !phone.LastUsed.IsZero() {
		t.Fatalf("added %+v", phone)
	}
	if len(secret) != 19 || strings.Count(secret, " ") != 3 || !strings.HasPrefix(secret, phone.ID+" ") {
		t.Fatalf("secret %q is not four groups of four starting with the ID %q", secret, phone.ID)
	}
	clock.Advance(time.Second)
	laptop, laptopSecret, err := st.AddAppPassword("anna@example.test", "Laptop <b>")
	if err != nil {
		t.Fatal(err)
	}
	bare := strings.ReplaceAll(secret, " ", "")
	for _, typed := range []string{secret, bare, strings.ToUpper(bare), strings.ReplaceAll(secret, " ", "-")} {
		wantAuth(t, st, "anna@example.test", typed, "Anna's phone")
	}
	wantAuth(t, st, "anna@example.test", laptopSecret, "Laptop <b>")
	wantAuth(t, st, "anna@example.test", "password-anna@example.test", "")
	// Not for another account, not a letter changed, not for the web.
	wantAuthFail(t, st, "ben@example.test", secret)
	other := "a"
	if bare[15] == 'a' {
		other = "b"
	}
	wantAuthFail(t, st, "anna@example.test", bare[:15]+other)
	if _, err := st.AccountPasswordOnly().Authenticate("anna@example.test", secret); !errors.Is(err, storage.ErrAuthFailed) {
		t.Fatalf("app password on the web: %v", err)
	}

	// Last use: written at the first use, then at most hourly.
	list, err := st.AppPasswords("anna@example.test")
	if err != nil || len(list) != 2 || list[0].ID != phone.ID || list[1].ID != laptop.ID {
		t.Fatalf("list %+v %v", list, err)
	}
	first := list[0].LastUsed
	if !first.Equal(clock.Now()) || !list[1].LastUsed.Equal(clock.Now()) {
		t.Fatalf("last used %v, want %v", first, clock.Now())
	}
	clock.Advance(59 * time.Minute)
	wantAuth(t, st, "anna@example.test", secret, "Anna's phone")
	if l, _ := st.AppPasswords("anna@example.test"); !l[0].LastUsed.Equal(first) {
		t.Fatalf("last use written again within the hour: %v", l[0].LastUsed)
	}
	clock.Advance(2 * time.Minute)
	wantAuth(t, st, "anna@example.test", secret, "Anna's phone")
	if l, _ := st.AppPasswords("anna@example.test"); !l[0].LastUsed.Equal(clock.Now()) {
		t.Fatalf("last use not written after the hour: %v", l[0].LastUsed)
	}

	// Another account cannot revoke it; its owner can, one by one.
	if _, err := st.RevokeAppPassword("ben@example.test", phone.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("ben revoking anna's: %v", err)
	}
	for _, id := range []string{"", "abc", "abcde", "\x00\x00\x00\x00"} {
		if _, err := st.RevokeAppPassword("anna@example.test", id); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("revoke %q: %v", id, err)
		}
	}
	gone, err := st.RevokeAppPassword("anna@example.test", phone.ID)
	if err != nil || gone.Name != "Anna's phone" {
		t.Fatalf("revoke: %+v %v", gone, err)
	}
	wantAuthFail(t, st, "anna@example.test", secret) // it was in the cache
	wantAuth(t, st, "anna@example.test", laptopSecret, "Laptop <b>")

	// The account's password kept for the web.
	if err := st.SetPasswordWebOnly("anna@example.test", true); err != nil {
		t.Fatal(err)
	}
	wantAuthFail(t, st, "anna@example.test", "password-anna@example.test")
	wantAuth(t, st, "anna@example.test", laptopSecret, "Laptop <b>")
	if a, err := st.AccountPasswordOnly().Authenticate("anna@example.test", "password-anna@example.test"); err != nil || !a.PasswordWebOnly {
		t.Fatalf("web login with the account password: %+v %v", a, err)
	}
	if err := st.SetPasswordWebOnly("anna@example.test", false); err != nil {
		t.Fatal(err)
	}
	wantAuth(t, st, "anna@example.test", "password-anna@example.test", "")

	// Removing the account removes its app passwords (Check at cleanup
	// finds none left over).
	if err := st.DeleteAccount("anna@example.test"); err != nil {
		t.Fatal(err)
	}
	wantAuthFail(t, st, "anna@example.test", laptopSecret)
}

// TestAppPasswordNames: bad names are refused and nothing is saved.
func TestAppPasswordNames(t *testing.T) {
	st := storagetest.Open(t)
	storagetest.Account(t, st, "anna@example.test")
	for _, name := range []string{"", "   ", strings.Repeat("x", 65), "a\r\nBcc: x", "tab\there", "nul\x00", "bad \xff utf8", "line\u2028sep"} {
		if _, _, err := st.AddAppPassword("anna@example.test", name); !errors.Is(err, storage.ErrAppPasswordName) {
			t.Errorf("name %q: %v", name, err)
		}
	}
	if _, _, err := st.AddAppPassword("anna@example.test", strings.Repeat("é", 64)); err != nil {
		t.Errorf("64 characters: %v", err)
	}
	if _, _, err := st.AddAppPassword("anna@example.test", "Phone"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AddAppPassword("anna@example.test", "phone"); !errors.Is(err, storage.ErrAppPasswordTaken) {
		t.Errorf("duplicate name: %v", err)
	}
	if _, _, err := st.AddAppPassword("nobody@example.test", "Phone"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("no such account: %v", err)
	}
	for i := 2; i < storage.MaxAppPasswords; i++ {
		if _, _, err := st.AddAppPassword("anna@example.test", fmt.Sprint("device ", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := st.AddAppPassword("anna@example.test", "one too many"); !errors.Is(err, storage.ErrTooManyAppPasswd) {
		t.Errorf("over the limit: %v", err)
	}
	if l, _ := st.AppPasswords("anna@example.test"); len(l) != storage.MaxAppPasswords {
		t.Errorf("%d app passwords, want %d", len(l), storage.MaxAppPasswords)
	}
}

// TestCredentialCache: a verified login is remembered (no second argon2id
// run), for its TTL only; a password change, an app password's removal,
// the web-only setting and a rename are seen at once; failures are never
// remembered; the cache is bounded.
func TestCredentialCache(t *testing.T) {
	st, clock := clockStore(t, storage.Options{CredentialCacheTTL: 10 * time.Minute, CredentialCacheSize: 2})
	for _, n := range []string{"a@example.test", "b@example.test", "c@example.test"} {
		storagetest.Account(t, st, n)
	}
	runs := func(f func()) int64 {
		before := st.PasswordChecks()
		f()
		return st.PasswordChecks() - before
	}
	pw := "password-a@example.test"
	if n := runs(func() { wantAuth(t, st, "a@example.test", pw, "") }); n != 1 {
		t.Fatalf("first login: %d argon2id runs", n)
	}
	if n := runs(func() { wantAuth(t, st, " A@example.TEST", pw, "") }); n != 0 {
		t.Fatalf("second login: %d argon2id runs, want 0 (cached)", n)
	}
	// Failures are not cached.
	for i := 0; i < 2; i++ {
		if n := runs(func() { wantAuthFail(t, st, "a@example.test", "wrong password") }); n != 1 {
			t.Fatalf("failure %d: %d runs, want 1", i, n)
		}
	}
	// TTL.
	clock.Advance(10 * time.Minute)
	if n := runs(func() { wantAuth(t, st, "a@example.test", pw, "") }); n != 1 {
		t.Fatalf("after the TTL: %d runs, want 1", n)
	}
	// A password change: the old one fails at once, the new one works.
	if err := st.SetPassword("a@example.test", "new password 1"); err != nil {
		t.Fatal(err)
	}
	wantAuthFail(t, st, "a@example.test", pw)
	wantAuth(t, st, "a@example.test", "new password 1", "")
	// Web-only: a cached account password is refused for mail.
	if err := st.SetPasswordWebOnly("a@example.test", true); err != nil {
		t.Fatal(err)
	}
	wantAuthFail(t, st, "a@example.test", "new password 1")
	if err := st.SetPasswordWebOnly("a@example.test", false); err != nil {
		t.Fatal(err)
	}
	// Rename: the old login no longer works, cached or not.
	wantAuth(t, st, "a@example.test", "new password 1", "")
	if _, err := st.RenameAccount("a@example.test", "a2@example.test", false); err != nil {
		t.Fatal(err)
	}
	wantAuthFail(t, st, "a@example.test", "new password 1")
	wantAuth(t, st, "a2@example.test", "new password 1", "")

	// Bounded: with room for two, a third login pushes the oldest out.
	// Each login a minute after the one before: entries made at the same
	// moment are equally old, and either could go.
	clock.Advance(time.Minute)
	wantAuth(t, st, "b@example.test", "password-b@example.test", "")
	clock.Advance(time.Minute)
	wantAuth(t, st, "c@example.test", "password-c@example.test", "")
	if n := runs(func() { wantAuth(t, st, "a2@example.test", "new password 1", "") }); n != 1 {
		t.Fatalf("the oldest entry was kept: %d runs", n)
	}
	if n := runs(func() { wantAuth(t, st, "c@example.test", "password-c@example.test", "") }); n != 0 {
		t.Fatalf("the newest entry was dropped: %d runs", n)
	}
}

// TestCredentialCacheOff: a negative TTL turns the cache off.
func TestCredentialCacheOff(t *testing.T) {
	st := storagetest.OpenOptions(t, storage.Options{CredentialCacheTTL: -1})
	storagetest.Account(t, st, "a@example.test")
	before := st.PasswordChecks()
	for i := 0; i < 3; i++ {
		wantAuth(t, st, "a@example.test", "password-a@example.test", "")
	}
	if n := st.PasswordChecks() - before; n != 3 {
		t.Fatalf("%d runs, want 3", n)
	}
}

// TestLoginsSeen: devices most recent first, writes bounded per device,
// names cleaned, at most MaxDevices, last logins for the list.
func TestLoginsSeen(t *testing.T) {
	st, clock := clockStore(t, storage.Options{})
	anna := storagetest.Account(t, st, "anna@example.test")
	storagetest.Account(t, st, "ben@example.test")
	t0 := clock.Now()
	phone := storage.Login{Protocol: "imap", Addr: "192.168.1.20", Client: "Anna's phone"}
	if err := st.NoteLogin("anna@example.test", phone); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if err := st.NoteLogin("ANNA@example.test", storage.Login{Protocol: "pop3", Addr: "192.168.1.30", Client: "Outlook\r\n<script>\x00" + strings.Repeat("x", 100)}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	// Within loginWriteEvery of its last write: not written again.
	if err := st.NoteLogin("anna@example.test", phone); err != nil {
		t.Fatal(err)
	}
	ds, err := st.Devices("anna@example.test")
	if err != nil || len(ds) != 2 {
		t.Fatalf("devices %+v %v", ds, err)
	}
	if ds[0].Protocol != "pop3" || ds[1].Client != "Anna's phone" || !ds[1].Last.Equal(t0) {
		t.Fatalf("devices %+v", ds)
	}
	if c := ds[0].Client; c != "Outlook<script>"+strings.Repeat("x", 64-len("Outlook<script>")) {
		t.Errorf("client name not cleaned: %q", c)
	}
	clock.Advance(10 * time.Minute)
	if err := st.NoteLogin("anna@example.test", phone); err != nil {
		t.Fatal(err)
	}
	ds, _ = st.Devices("anna@example.test")
	if ds[0].Client != "Anna's phone" || !ds[0].Last.Equal(clock.Now()) || !ds[0].First.Equal(t0) {
		t.Fatalf("after 10 minutes: %+v", ds[0])
	}
	for i := 0; i < storage.MaxDevices+5; i++ {
		clock.Advance(time.Second)
		if err := st.NoteLogin("anna@example.test", storage.Login{Protocol: "submission", Addr: fmt.Sprint("10.0.0.", i)}); err != nil {
			t.Fatal(err)
		}
	}
	ds, _ = st.Devices("anna@example.test")
	if len(ds) != storage.MaxDevices || ds[0].Addr != fmt.Sprint("10.0.0.", storage.MaxDevices+4) {
		t.Fatalf("%d devices, newest %+v", len(ds), ds[0])
	}
	last, err := st.LastLogins()
	if err != nil || len(last) != 1 || !last[anna.ID].Last.Equal(clock.Now()) {
		t.Fatalf("last logins %+v %v", last, err)
	}
	if err := st.NoteLogin("nobody@example.test", phone); err != nil {
		t.Errorf("a login of an account that is gone: %v", err)
	}
	if err := st.DeleteAccount("anna@example.test"); err != nil {
		t.Fatal(err)
	}
	if last, _ := st.LastLogins(); len(last) != 0 {
		t.Errorf("last logins after removal: %+v", last)
	}
}
