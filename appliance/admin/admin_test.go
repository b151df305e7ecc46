package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"postroom/appliance/config"
	"postroom/appliance/status"
	"postroom/internal/testutil"
	"postroom/storage"
	"postroom/storage/storagetest"
)

// env is an Admin over a real store and config file, with its audit log
// and status Bus to look at.
type env struct {
	a       *Admin
	st      *storage.Store
	bus     *status.Bus
	log     *testutil.SyncBuffer
	cfgPath string
	applied []string // Apply calls: "restart what" or "save what"
}

var t0 = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{st: storagetest.Open(t), bus: status.NewBus(status.Snapshot{Phase: status.PhaseNeedsSetup}), log: &testutil.SyncBuffer{}}
	e.cfgPath = filepath.Join(dir, config.ConfigFile)
	cfg := config.DevDefault(dir)
	if err := cfg.Save(e.cfgPath); err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{
		Store: e.st, ConfigPath: e.cfgPath, Logger: slog.New(slog.NewTextHandler(e.log, nil)),
		Publish: e.bus.Update, Now: testutil.NewClock(t0).Now,
		Apply: func(cfg config.Config, restart bool, what string, by Actor) (string, error) {
			kind := "save"
			if restart {
				kind = "restart"
			}
			e.applied = append(e.applied, kind+" "+what)
			return "", nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.a = a
	return e
}

const actor Actor = "tester (uid 1) via test"

// step is one operation and what must come of it: no error (code "") or an
// *Error with that code and field; check looks at the result.
type step struct {
	op    Op
	code  Code
	field string
	want  string // in the error message, or in the audit line of a change
	check func(t *testing.T, e *env, res any)
}

// run runs the steps in order on one env, each seeing what the ones before
// did, and checks every change's audit line and Bus update, and every
// refusal's absence from the Bus.
func (e *env) run(t *testing.T, steps []step) {
	t.Helper()
	for i, s := range steps {
		before := e.bus.Latest().LastChange
		logBefore := len(e.log.String())
		res, err := e.a.Do(context.Background(), actor, s.op)
		line := e.log.String()[logBefore:]
		name := s.op.OpName()
		_, ro := s.op.(readOnly)
		if s.code != "" {
			var ae *Error
			if err == nil {
				t.Errorf("step %d %s %+v: no error, want %s", i, name, s.op, s.code)
				continue
			}
			if !asErr(err, &ae) || ae.Code != s.code || ae.Field != s.field || !strings.Contains(ae.Message, s.want) {
				t.Errorf("step %d %s: error %#v, want code %s field %q containing %q", i, name, err, s.code, s.field, s.want)
			}
			if got := e.bus.Latest().LastChange; got != before {
				t.Errorf("step %d %s: a refusal was published: %+v", i, name, got)
			}
			if !ro && !strings.Contains(line, "admin: refused") {
				t.Errorf("step %d %s: refusal not logged: %q", i, name, line)
			}
			continue
		}
		if err != nil {
			t.Errorf("step %d %s %+v: %v", i, name, s.op, err)
			continue
		}
		got := e.bus.Latest().LastChange
		if ro {
			if got != before || line != "" {
				t.Errorf("step %d %s: a question logged %q or published %+v", i, name, line, got)
			}
		} else {
			if got.Seq != before.Seq+1 || got.Op != name || got.By != string(actor) || !got.Time.Equal(t0) || !strings.Contains(got.What, s.want) {
				t.Errorf("step %d %s: Bus LastChange %+v (before %+v), want op %s with %q", i, name, got, before, name, s.want)
			}
			if !strings.Contains(line, "op="+name) || !strings.Contains(line, `by="`+string(actor)+`"`) || !strings.Contains(line, s.want) {
				t.Errorf("step %d %s: audit line %q lacks op, by or %q", i, name, line, s.want)
			}
		}
		if s.check != nil {
			s.check(t, e, res)
		}
	}
}

func asErr(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}

func account(t *testing.T, e *env, name string) storage.Account {
	t.Helper()
	a, err := e.st.Account(name)
	if err != nil {
		t.Fatalf("account %s: %v", name, err)
	}
	return a
}

// TestAccounts walks accounts and addresses through every operation and
// every kind of bad input.
func TestAccounts(t *testing.T) {
	e := newEnv(t)
	var generated string
	steps := []step{
		{op: ListAccounts{}, check: func(t *testing.T, e *env, res any) {
			if l := res.(AccountList); len(l.Accounts) != 0 {
				t.Errorf("accounts %+v", l)
			}
		}},
		{op: AddAccount{Name: " Alice@Example.ORG ", Password: "alice secret 1", Admin: true}, want: "added account alice@example.org (administrator)",
			check: func(t *testing.T, e *env, res any) {
				r := res.(AccountResult)
				if r.Account.Name != "alice@example.org" || !r.Account.Admin || r.Password != "" || !slices.Contains(r.Mailboxes, "INBOX") {
					t.Errorf("result %+v", r)
				}
				if _, err := e.st.Authenticate("alice@example.org", "alice secret 1"); err != nil {
					t.Errorf("login with the new password: %v", err)
				}
				if p := e.bus.Latest().Phase; p != status.PhaseRunning {
					t.Errorf("phase %s after the first account, want running", p)
				}
			}},
		{op: AddAccount{Name: "bob@example.org", Generate: true}, want: "added account bob@example.org with a generated password",
			check: func(t *testing.T, e *env, res any) {
				generated = res.(AccountResult).Password
				if len(generated) < 16 {
					t.Fatalf("generated password %q", generated)
				}
				if _, err := e.st.Authenticate("bob@example.org", generated); err != nil {
					t.Errorf("login with the generated password: %v", err)
				}
			}},
		// Bad input: nothing is created.
		{op: AddAccount{Name: "alice@example.org", Password: "whatever secret"}, code: CodeExists, field: "name", want: "exists already"},
		{op: AddAccount{Name: "", Password: "whatever secret"}, code: CodeInvalid, field: "name", want: "give an address"},
		{op: AddAccount{Name: "carol", Password: "whatever secret"}, code: CodeInvalid, field: "name", want: "is not an address"},
		{op: AddAccount{Name: "@example.org", Password: "whatever secret"}, code: CodeInvalid, field: "name", want: "no name before the @"},
		{op: AddAccount{Name: "carol@example.org\r\nBcc: x@evil.example", Password: "whatever secret"}, code: CodeInvalid, field: "name", want: "control character"},
		{op: AddAccount{Name: "<script>@example.org", Password: "whatever secret"}, code: CodeInvalid, field: "name", want: "<>"},
		{op: AddAccount{Name: strings.Repeat("a", 250) + "@example.org", Password: "whatever secret"}, code: CodeInvalid, field: "name", want: "at most 254"},
		{op: AddAccount{Name: "carol@exa mple.org", Password: "whatever secret"}, code: CodeInvalid, field: "name", want: "space"},
		{op: AddAccount{Name: "carol@example.org", Password: "short"}, code: CodeInvalid, field: "password", want: "at least 8"},
		{op: AddAccount{Name: "carol@example.org", Password: "line\nbreak secret"}, code: CodeInvalid, field: "password", want: "control characters"},
		{op: AddAccount{Name: "carol@example.org", Password: strings.Repeat("x", 300)}, code: CodeInvalid, field: "password", want: "at most 256"},
		{op: AddAccount{Name: "carol@example.org"}, code: CodeInvalid, field: "password", want: "at least 8"},
		// Unicode: the domain in its IDNA form, a UTF-8 local part kept.
		{op: AddAccount{Name: "Jörg@Bücher.example", Password: "jörg secret pw"}, want: "added account jörg@xn--bcher-kva.example"},
		{op: SetPassword{Name: "bob@example.org", Password: "bob secret two"}, want: "changed the password of bob@example.org",
			check: func(t *testing.T, e *env, res any) {
				if _, err := e.st.Authenticate("bob@example.org", "bob secret two"); err != nil {
					t.Errorf("new password: %v", err)
				}
				if _, err := e.st.Authenticate("bob@example.org", generated); err == nil {
					t.Errorf("the old password still works")
				}
			}},
		{op: SetPassword{Name: "nobody@example.org", Password: "nobody secret"}, code: CodeNotFound, field: "name", want: `no account "nobody@example.org"`},
		{op: SetPassword{Name: "bob@example.org", Password: "tiny"}, code: CodeInvalid, field: "password", want: "at least 8"},
		{op: SetQuota{Name: "alice@example.org", Bytes: 500 << 20}, want: "set the quota of alice@example.org to 524288000 bytes",
			check: func(t *testing.T, e *env, res any) {
				if a := account(t, e, "alice@example.org"); a.Quota != 500<<20 {
					t.Errorf("quota %d", a.Quota)
				}
			}},
		{op: SetQuota{Name: "alice@example.org", Bytes: -1}, code: CodeInvalid, field: "bytes", want: "0 (unlimited)"},
		{op: SetQuota{Name: "alice@example.org", Bytes: 0}, want: "removed the quota of alice@example.org"},
		{op: SetRetention{Name: "alice@example.org", Days: 30}, want: "to 30 days",
			check: func(t *testing.T, e *env, res any) {
				if a := account(t, e, "alice@example.org"); a.POPRetentionDays != 30 {
					t.Errorf("retention %d", a.POPRetentionDays)
				}
			}},
		{op: SetRetention{Name: "alice@example.org", Days: 40000}, code: CodeInvalid, field: "days", want: "number of days"},
		{op: SetAdmin{Name: "alice@example.org", Admin: false}, code: CodeConflict, field: "admin", want: "only administrator"},
		{op: RemoveAccount{Name: "alice@example.org"}, code: CodeConflict, field: "name", want: "only administrator"},
		{op: SetAdmin{Name: "bob@example.org", Admin: true}, want: "made bob@example.org an administrator"},
		{op: SetAdmin{Name: "alice@example.org", Admin: false}, want: "took the administrator's rights from alice@example.org"},
		// Addresses.
		{op: AddAddress{Address: "Info@Example.org", Account: "alice@example.org"}, want: "mail for info@example.org now goes to alice@example.org",
			check: func(t *testing.T, e *env, res any) {
				if id, err := e.st.Resolve("info@example.org"); err != nil || id != account(t, e, "alice@example.org").ID {
					t.Errorf("info@ resolves to %d, %v", id, err)
				}
			}},
		{op: AddAddress{Address: "@example.org", Account: "bob@example.org"}, want: "any other address @example.org now goes to bob@example.org",
			check: func(t *testing.T, e *env, res any) {
				if !res.(AddressResult).CatchAll {
					t.Errorf("not a catch-all: %+v", res)
				}
				if id, err := e.st.Resolve("whoever@example.org"); err != nil || id != account(t, e, "bob@example.org").ID {
					t.Errorf("the catch-all resolves to %d, %v", id, err)
				}
			}},
		{op: AddAddress{Address: "info@example.org", Account: "bob@example.org"}, code: CodeExists, field: "address", want: "already delivers to account alice@example.org"},
		{op: AddAddress{Address: "@example.org", Account: "alice@example.org"}, code: CodeExists, field: "address", want: "already goes to account bob@example.org"},
		{op: AddAddress{Address: "bob@example.org", Account: "alice@example.org"}, code: CodeExists, field: "address", want: "account bob@example.org"},
		// Move: the catch-all changes hands in one step; a login never moves.
		{op: AddAddress{Address: "@example.org", Account: "alice@example.org", Move: true}, want: "mail for @example.org now goes to alice@example.org instead of bob@example.org",
			check: func(t *testing.T, e *env, res any) {
				if id, err := e.st.Resolve("whoever@example.org"); err != nil || id != account(t, e, "alice@example.org").ID {
					t.Errorf("the catch-all resolves to %d, %v", id, err)
				}
				if slices.Contains(account(t, e, "bob@example.org").Addresses, "@example.org") {
					t.Errorf("bob kept the catch-all")
				}
			}},
		{op: AddAddress{Address: "@example.org", Account: "alice@example.org", Move: true}, code: CodeExists, field: "address", want: "already"},
		{op: AddAddress{Address: "bob@example.org", Account: "alice@example.org", Move: true}, code: CodeConflict, field: "address", want: "login"},
		{op: AddAddress{Address: "@example.org", Account: "bob@example.org", Move: true}, want: "instead of alice@example.org"},
		{op: AddAddress{Address: "sales@example.org", Account: "nobody@example.org"}, code: CodeNotFound, field: "account", want: "no account"},
		{op: AddAddress{Address: "sales@example.org\nX: y", Account: "alice@example.org"}, code: CodeInvalid, field: "address", want: "control character"},
		{op: AddAccount{Name: "info@example.org", Password: "whatever secret"}, code: CodeExists, field: "name", want: "already an address of account alice@example.org"},
		{op: RemoveAddress{Address: "alice@example.org"}, code: CodeConflict, field: "address", want: "login of an account"},
		{op: RemoveAddress{Address: "old@example.org"}, code: CodeNotFound, field: "address", want: "no account has the address old@example.org"},
		{op: RemoveAddress{Address: "INFO@example.org"}, want: "mail for info@example.org is no longer accepted"},
		// Rename: onto a taken name is refused; the old name may stay.
		{op: RenameAccount{Name: "alice@example.org", NewName: "bob@example.org"}, code: CodeExists, field: "new_name", want: "account bob@example.org"},
		{op: RenameAccount{Name: "alice@example.org", NewName: "alice@example.org"}, code: CodeInvalid, field: "new_name", want: "already"},
		{op: RenameAccount{Name: "alice@example.org", NewName: "anna@example.org", KeepOldAddress: true}, want: "renamed account alice@example.org to anna@example.org",
			check: func(t *testing.T, e *env, res any) {
				a := account(t, e, "anna@example.org")
				if !slices.Contains(a.Addresses, "alice@example.org") || a.POPRetentionDays != 30 {
					t.Errorf("renamed account %+v", a)
				}
				if _, err := e.st.Authenticate("anna@example.org", "alice secret 1"); err != nil {
					t.Errorf("login under the new name: %v", err)
				}
			}},
		{op: RenameAccount{Name: "bob@example.org", NewName: "robert@example.org"}, want: "renamed account bob@example.org to robert@example.org",
			check: func(t *testing.T, e *env, res any) {
				if _, err := e.st.Resolve("bob@example.org"); err == nil {
					// the catch-all takes it now, which is right: check it is not bob's own address
					if a := account(t, e, "robert@example.org"); slices.Contains(a.Addresses, "bob@example.org") {
						t.Errorf("the old name stayed: %+v", a)
					}
				}
			}},
		{op: GetAccount{Name: "robert@example.org"}, check: func(t *testing.T, e *env, res any) {
			if r := res.(AccountResult); !r.Account.Admin || !slices.Contains(r.Account.Addresses, "@example.org") {
				t.Errorf("account %+v", r)
			}
		}},
		{op: RemoveAccount{Name: "robert@example.org"}, code: CodeConflict, field: "name", want: "robert@example.org is the only administrator"},
		{op: SetAdmin{Name: "anna@example.org", Admin: true}, want: "made anna@example.org an administrator"},
		{op: RemoveAccount{Name: "robert@example.org"}, want: "removed account robert@example.org"},
		{op: RemoveAccount{Name: "robert@example.org"}, code: CodeNotFound, field: "name", want: "no account"},
		{op: ListAccounts{Query: "ANNA", Limit: 5}, check: func(t *testing.T, e *env, res any) {
			if l := res.(AccountList); l.Total != 1 || len(l.Accounts) != 1 || l.Accounts[0].Name != "anna@example.org" {
				t.Errorf("search: %+v", l)
			}
		}},
		{op: ListAccounts{Offset: 1, Limit: 1}, check: func(t *testing.T, e *env, res any) {
			if l := res.(AccountList); l.Total != 2 || len(l.Accounts) != 1 || l.Accounts[0].Name != "jörg@xn--bcher-kva.example" {
				t.Errorf("page 2 of 1: %+v", l)
			}
		}},
		{op: ListAccounts{Offset: 10}, check: func(t *testing.T, e *env, res any) {
			if l := res.(AccountList); l.Total != 2 || len(l.Accounts) != 0 {
				t.Errorf("past the end: %+v", l)
			}
		}},
		{op: ListAccounts{Limit: -1}, code: CodeInvalid, field: "offset", want: "0 or more"},
		{op: ListAccounts{}, check: func(t *testing.T, e *env, res any) {
			var names []string
			for _, a := range res.(AccountList).Accounts {
				names = append(names, a.Name)
			}
			if want := []string{"anna@example.org", "jörg@xn--bcher-kva.example"}; !slices.Equal(names, want) {
				t.Errorf("accounts %v, want %v", names, want)
			}
		}},
		// The last administrator goes with the last account: the box needs
		// setting up again.
		{op: RemoveAccount{Name: "jörg@bücher.example"}, want: "removed account jörg@xn--bcher-kva.example"},
		{op: RemoveAccount{Name: "anna@example.org"}, want: "removed account anna@example.org",
			check: func(t *testing.T, e *env, res any) {
				if p := e.bus.Latest().Phase; p != status.PhaseNeedsSetup {
					t.Errorf("phase %s without accounts, want needs-setup", p)
				}
			}},
	}
	e.run(t, steps)
	noSecrets(t, e)
}

// noSecrets fails if a password of the tests (they all hold "secret") is
// in the audit log or on the Bus.
func noSecrets(t *testing.T, e *env) {
	t.Helper()
	snap, _ := json.Marshal(e.bus.Latest())
	for what, s := range map[string]string{"the log": e.log.String(), "the Bus": string(snap)} {
		if strings.Contains(s, "secret") {
			t.Errorf("a password is in %s:\n%s", what, s)
		}
	}
}

// A request logged by mistake hides its password too.
func TestLogValueHidesPasswords(t *testing.T) {
	var b testutil.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&b, nil))
	log.Info("x", "req", AddAccount{Name: "a@example.org", Password: "the secret"},
		"req2", SetPassword{Name: "a@example.org", Password: "the secret"},
		"req3", SetSmarthost{Host: "relay.example", Username: "u", Password: "the secret"})
	if strings.Contains(b.String(), "secret") || !strings.Contains(b.String(), "relay.example") {
		t.Errorf("log: %s", b.String())
	}
}

// A quota below what the account holds is refused with a clear message,
// unless the caller says it means it (postroomctl, which then warns).
func TestQuotaBelowUsage(t *testing.T) {
	e := newEnv(t)
	a := addAccount(t, e, "ann@example.org")
	if _, err := e.st.Deliver(context.Background(), storage.Delivery{Recipients: []storage.Recipient{{Account: a.ID}}},
		strings.NewReader("Subject: x\r\n\r\n"+strings.Repeat("mail ", 400)+"\r\n")); err != nil {
		t.Fatal(err)
	}
	usage := account(t, e, "ann@example.org").Usage
	e.run(t, []step{
		{op: SetQuota{Name: "ann@example.org", Bytes: usage - 1}, code: CodeConflict, field: "bytes", want: "new mail would be refused at once"},
		{op: SetQuota{Name: "ann@example.org", Bytes: usage}, want: "set the quota"},
		{op: SetQuota{Name: "ann@example.org", Bytes: 1, AllowBelowUsage: true}, want: "set the quota of ann@example.org to 1 bytes"},
	})
	if q := account(t, e, "ann@example.org").Quota; q != 1 {
		t.Errorf("quota %d", q)
	}
}

func addAccount(t *testing.T, e *env, name string) storage.Account {
	t.Helper()
	if _, err := e.a.AddAccount(context.Background(), actor, AddAccount{Name: name, Password: "password of " + name}); err != nil {
		t.Fatal(err)
	}
	return account(t, e, name)
}
