package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"postroom/storage"
)

// newData makes a data folder with an empty store in it, as the appliance
// leaves it after its first start.
func newData(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	withStore(t, data, func(*storage.Store) {})
	return data
}

// withStore opens the store of data, hands it to f, checks every invariant
// and closes it again, so that postroomctl can open it next.
func withStore(t *testing.T, data string, f func(*storage.Store)) {
	t.Helper()
	st, err := storage.Open(storage.Options{Dir: storeDir(data), NoGC: true})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer func() {
		if err := st.Check(context.Background()); err != nil {
			t.Errorf("store check: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	}()
	f(st)
}

type result struct {
	out, err string
	code     int
}

// runCtl runs postroomctl in-process on data with stdin as its input.
func runCtl(t *testing.T, data, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"-data", data}, args...), strings.NewReader(stdin), &out, &errb)
	return result{out.String(), errb.String(), code}
}

func (r result) check(t *testing.T, code int, stdout, stderr []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.out, r.err)
	}
	for _, s := range stdout {
		if !strings.Contains(r.out, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.out)
		}
	}
	for _, s := range stderr {
		if !strings.Contains(r.err, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.err)
		}
	}
}

// TestAccounts walks through the life of accounts in one data folder: each
// step sees what the steps before it did.
func TestAccounts(t *testing.T) {
	data := newData(t)
	runSteps(t, data, accountSteps)
	checkAccounts(t, data)
}

// ctlStep is one postroomctl command and what it must print.
type ctlStep struct {
	args   []string
	stdin  string
	code   int
	stdout []string
	stderr []string
}

// runSteps runs the steps in order on data; none may print a password
// given on its input (they all hold "secret").
func runSteps(t *testing.T, data string, steps []ctlStep) {
	t.Helper()
	for _, s := range steps {
		r := runCtl(t, data, s.stdin, s.args...)
		t.Logf("postroomctl %s\n%s%s", strings.Join(s.args, " "), r.out, r.err)
		r.check(t, s.code, s.stdout, s.stderr)
		if strings.Contains(r.out+r.err, "secret") { // every password given here has it
			t.Errorf("postroomctl %s printed a password:\n%s%s", strings.Join(s.args, " "), r.out, r.err)
		}
	}
}

// accountSteps is the life of accounts in one data folder, the same on a
// stopped box and a running one (running_test.go).
var accountSteps = []ctlStep{
	{[]string{"users", "list"}, "", 0, []string{"no accounts yet"}, nil},
	{[]string{"users", "add", "alice@example.org", "-password-stdin"}, "first secret pass\n", 0,
		[]string{"created account alice@example.org", "INBOX"}, nil},
	{[]string{"users", "add", "bob@example.org"}, "bobs secret pass\n", 0, []string{"created account bob@example.org"}, nil},
	{[]string{"users", "add", "alice@example.org", "-password-stdin"}, "whatever pass\n", 1, nil, []string{"exists already"}},
	{[]string{"users", "passwd", "alice@example.org", "-password-stdin"}, "second secret pass\r\n", 0,
		[]string{"password of alice@example.org changed"}, nil},
	{[]string{"users", "passwd", "nobody@example.org", "-password-stdin"}, "x y z secret\n", 1, nil, []string{`no account "nobody@example.org"`}},
	{[]string{"users", "quota", "alice@example.org", "500M"}, "", 0, []string{"quota of alice@example.org: 500M"}, nil},
	{[]string{"users", "quota", "bob@example.org", "2G"}, "", 0, []string{"2G"}, nil},
	{[]string{"users", "quota", "bob@example.org", "0"}, "", 0, []string{"unlimited"}, nil},
	{[]string{"users", "retention", "alice@example.org", "30"}, "", 0, []string{"30 days"}, nil},
	{[]string{"users", "admin", "alice@example.org", "on"}, "", 0, []string{"alice@example.org is an administrator"}, nil},
	{[]string{"users", "admin", "bob@example.org", "maybe"}, "", 2, nil, []string{"write on or off"}},
	{[]string{"alias", "add", "info@example.org", "alice@example.org"}, "", 0, []string{"info@example.org now goes to alice@example.org"}, nil},
	{[]string{"alias", "add", "@example.org", "bob@example.org"}, "", 0, []string{"any other address @example.org"}, nil},
	{[]string{"alias", "add", "info@example.org", "bob@example.org"}, "", 1, nil, []string{"already delivers to account alice@example.org", "-move"}},
	{[]string{"alias", "add", "info@example.org", "bob@example.org", "-move"}, "", 0, []string{"mail for info@example.org now goes to bob@example.org"}, nil},
	{[]string{"alias", "add", "info@example.org", "alice@example.org", "-move"}, "", 0, []string{"now goes to alice@example.org"}, nil},
	{[]string{"alias", "add", "sales@example.org", "nobody@example.org"}, "", 1, nil, []string{"no account"}},
	{[]string{"alias", "list"}, "", 0, []string{"@example.org", "catch-all", "info@example.org", "alias"}, nil},
	{[]string{"users", "list"}, "", 0, []string{"NAME", "alice@example.org", "info@example.org", "500M", "30 days", "bob@example.org", "unlimited", "ADMIN", "yes"}, nil},
	{[]string{"alias", "add", "old@example.org", "alice@example.org"}, "", 0, nil, nil},
	{[]string{"alias", "remove", "old@example.org"}, "", 0, []string{"no longer accepted"}, nil},
	{[]string{"alias", "remove", "old@example.org"}, "", 1, nil, []string{"no account has the address old@example.org"}},
	{[]string{"users", "remove", "bob@example.org"}, "n\n", 1, nil, []string{"not removed"}},
	{[]string{"users", "remove", "bob@example.org"}, "", 1, nil, []string{"-yes"}},
	{[]string{"users", "remove", "bob@example.org", "-yes"}, "", 0, []string{"removed account bob@example.org"}, nil},
	{[]string{"users", "remove", "bob@example.org", "-yes"}, "", 1, nil, []string{"no account"}},
	{[]string{"fsck"}, "", 0, []string{"ok: 1 account, 0 messages checked"}, nil},
	{[]string{"stats"}, "", 0, []string{"accounts", "alice@example.org"}, nil},
}

// checkAccounts looks into the stopped box's store after accountSteps.
func checkAccounts(t *testing.T, data string) {
	t.Helper()
	withStore(t, data, func(st *storage.Store) {
		if _, err := st.Authenticate("alice@example.org", "second secret pass"); err != nil {
			t.Errorf("new password: %v", err)
		}
		if _, err := st.Authenticate("alice@example.org", "first secret pass"); !errors.Is(err, storage.ErrAuthFailed) {
			t.Errorf("old password: err %v, want ErrAuthFailed", err)
		}
		a, err := st.Account("alice@example.org")
		if err != nil {
			t.Fatal(err)
		}
		if a.Quota != 500<<20 || a.POPRetentionDays != 30 {
			t.Errorf("quota %d, retention %d; want %d, 30", a.Quota, a.POPRetentionDays, 500<<20)
		}
		if id, err := st.Resolve("info@example.org"); err != nil || id != a.ID {
			t.Errorf("info@example.org resolves to %d, %v; want %d", id, err, a.ID)
		}
		if _, err := st.Resolve("old@example.org"); err == nil {
			t.Errorf("old@example.org still resolves after alias remove")
		}
		if _, err := st.Account("bob@example.org"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("bob after users remove: %v, want ErrNotFound", err)
		}
	})
}

// TestGeneratedPassword: no password and no terminal makes one up, printed
// once, and it works.
func TestGeneratedPassword(t *testing.T) {
	data := newData(t)
	pwLine := regexp.MustCompile(`password of carol@example.org: (\S+)`)
	r := runCtl(t, data, "", "users", "add", "carol@example.org")
	r.check(t, 0, []string{"created account carol@example.org", "shown only this once"}, nil)
	m := pwLine.FindStringSubmatch(r.out)
	if m == nil {
		t.Fatalf("no generated password in:\n%s", r.out)
	}
	first := m[1]

	r = runCtl(t, data, "", "users", "passwd", "carol@example.org")
	r.check(t, 0, []string{"password of carol@example.org changed"}, nil)
	m = pwLine.FindStringSubmatch(r.out)
	if m == nil {
		t.Fatalf("no generated password in:\n%s", r.out)
	}
	if m[1] == first {
		t.Errorf("the same password was generated twice")
	}
	withStore(t, data, func(st *storage.Store) {
		if _, err := st.Authenticate("carol@example.org", m[1]); err != nil {
			t.Errorf("generated password: %v", err)
		}
	})

	// -password-stdin asks for a password explicitly: none is an error.
	runCtl(t, data, "", "users", "passwd", "carol@example.org", "-password-stdin").
		check(t, 1, nil, []string{"-password-stdin: the first line of standard input is empty"})
}

func TestMessages(t *testing.T) {
	data := newData(t)
	withStore(t, data, func(st *storage.Store) {
		a, err := st.CreateAccount("dave@example.org", "password-dave")
		if err != nil {
			t.Fatal(err)
		}
		msg := "From: Eve <eve@example.net>\r\nTo: dave@example.org\r\nSubject: Hello over SMTP\r\n" +
			"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\nHi Dave.\r\n"
		_, err = st.Deliver(context.Background(), storage.Delivery{
			Recipients:   []storage.Recipient{{Account: a.ID}},
			InternalDate: time.Date(2026, 3, 2, 10, 0, 5, 0, time.UTC),
		}, strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		// A subject that tries to rewrite the terminal.
		_, err = st.Deliver(context.Background(), storage.Delivery{
			Recipients: []storage.Recipient{{Account: a.ID, Flags: storage.FlagSeen}},
		}, strings.NewReader("Subject: evil \x1b[2Jclear\r\n\r\nbody\r\n"))
		if err != nil {
			t.Fatal(err)
		}
	})

	r := runCtl(t, data, "", "messages", "dave@example.org")
	t.Logf("postroomctl messages dave@example.org\n%s", r.out)
	r.check(t, 0, []string{"UID", "SUBJECT", "Hello over SMTP", "eve@example.net", `\Seen`}, nil)
	if strings.Contains(r.out, "\x1b") {
		t.Errorf("an escape character from a subject reached the terminal:\n%q", r.out)
	}
	runCtl(t, data, "", "messages", "dave@example.org", "INBOX", "-n", "1").
		check(t, 0, []string{"the last 1 of 2 messages"}, nil)
	runCtl(t, data, "", "messages", "dave@example.org", "Sent").check(t, 0, []string{"Sent of dave@example.org is empty"}, nil)
	runCtl(t, data, "", "messages", "dave@example.org", "Nope").check(t, 1, nil, []string{`no mailbox "Nope"`})
	r = runCtl(t, data, "", "mailboxes", "dave@example.org")
	t.Logf("postroomctl mailboxes dave@example.org\n%s", r.out)
	r.check(t, 0, []string{"UIDVALIDITY", "UIDNEXT", "INBOX", "Sent", `\Sent`, "Archive"}, nil)
	runCtl(t, data, "", "fsck").check(t, 0, []string{"ok: 1 account, 2 messages checked"}, nil)
	r = runCtl(t, data, "", "stats")
	t.Logf("postroomctl stats\n%s", r.out)
	r.check(t, 0, []string{"messages", "2", "dave@example.org"}, nil)
}

// TestApplianceRunning holds the store as a running appliance would, but
// without its control socket (as while it starts or stops): postroomctl
// says so and touches nothing. run_test.go has the real running box.
func TestApplianceRunning(t *testing.T) {
	data := newData(t)
	st, err := storage.Open(storage.Options{Dir: storeDir(data), NoGC: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// What Open says then is recognised too, for when the lock is taken
	// between our own test of it and Open.
	if st2, err := storage.Open(storage.Options{Dir: storeDir(data), NoGC: true}); err == nil {
		st2.Close()
		t.Fatal("a second Open of a held store succeeded")
	} else if !isLockError(err) {
		t.Errorf("storage.Open of a held store: %v; isLockError does not recognise it", err)
	}

	for _, args := range [][]string{{"users", "list"}, {"fsck"}, {"users", "add", "x@example.org"}} {
		want := "postroomctl: " + strings.Join(args[:min(2, len(args))], " ") + ": the appliance is running but its control socket " +
			filepath.Join(data, "control.sock") + " does not answer"
		r := runCtl(t, data, "", args...)
		if r.code != exitFailed || !strings.HasPrefix(r.err, want) || r.out != "" {
			t.Errorf("postroomctl %s while the store is held: exit %d\nstdout: %q\nstderr: %q\nwant stderr %q...",
				strings.Join(args, " "), r.code, r.out, r.err, want)
		}
	}
}

// Badger's own error, in case the lock is taken between our test and Open.
func TestIsLockError(t *testing.T) {
	badger := errors.New(`Cannot acquire directory lock on "/data/store".  Another process is using this Badger database. err: resource temporarily unavailable`)
	if !isLockError(badger) || !isLockError(errors.Join(errors.New("storage: open"), badger)) {
		t.Errorf("Badger's lock error not recognised")
	}
	if isLockError(errors.New("storage: manifest has unsupported version")) {
		t.Errorf("an unrelated error taken for the lock")
	}
}

func TestBadArguments(t *testing.T) {
	data := t.TempDir() // the arguments are refused before any folder is looked at
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"users"},
		{"users", "delete", "alice"},
		{"users", "add"},
		{"users", "add", "a@example.org", "b@example.org"},
		{"users", "add", "a b@example.org"},
		{"users", "add", "alice"},
		{"users", "list", "-yes"},
		{"users", "add", "a@example.org", "-force"},
		{"users", "quota", "a@example.org"},
		{"users", "quota", "a@example.org", "lots"},
		{"users", "quota", "a@example.org", "-5M"},
		{"users", "retention", "a@example.org", "a month"},
		{"alias", "add", "not-an-address", "a@example.org"},
		{"alias", "remove"},
		{"messages"},
		{"messages", "a@example.org", "INBOX", "extra"},
		{"fsck", "now"},
		{"-data"},
	} {
		r := runCtl(t, data, "", args...)
		if r.code != exitUsage || !strings.Contains(r.err, "Usage:") || !strings.HasPrefix(r.err, "postroomctl: ") || r.out != "" {
			t.Errorf("postroomctl %q: exit %d, want 2 with the usage on stderr\nstdout: %s\nstderr: %s", args, r.code, r.out, r.err)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"users", "add", "-help"}} {
		var out, errb bytes.Buffer
		code := run(args, nil, &out, &errb)
		if code != 0 || !strings.Contains(out.String(), "Usage:") || !strings.Contains(out.String(), "Examples:") || errb.Len() != 0 {
			t.Errorf("postroomctl %q: exit %d\nstdout: %s\nstderr: %s", args, code, out.String(), errb.String())
		}
	}
}

func TestDataFolder(t *testing.T) {
	data := newData(t)
	// POSTROOM_DATA when there is no -data.
	t.Setenv("POSTROOM_DATA", data)
	var out, errb bytes.Buffer
	if code := run([]string{"fsck"}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "ok: 0 accounts") {
		t.Errorf("fsck with POSTROOM_DATA: exit %d\n%s%s", code, out.String(), errb.String())
	}

	// A folder that is not a data folder is refused, and no store appears in it.
	empty := t.TempDir()
	runCtl(t, empty, "", "users", "list").check(t, 1, nil, []string{"does not look like a Postroom data folder"})
	if _, err := os.Stat(filepath.Join(empty, "store")); err == nil {
		t.Errorf("a store was created in a folder that is no data folder")
	}
	runCtl(t, filepath.Join(empty, "missing"), "", "users", "list").check(t, 1, nil, []string{"no data folder at"})

	// A data folder with config.json but no store yet: the first start did
	// not happen; adding a user creates the store.
	fresh := t.TempDir()
	if err := os.WriteFile(filepath.Join(fresh, "config.json"), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runCtl(t, fresh, "pw-for-the-first\n", "users", "add", "first@example.org").check(t, 0, []string{"created account first@example.org"}, nil)
}
