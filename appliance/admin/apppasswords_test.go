package admin

import (
	"context"
	"strings"
	"testing"

	"postroom/storage"
)

// TestAppPasswordOps: add, list, revoke, the password kept for the web and
// devices, with bad input, another account's app password, the audit
// lines without the secret, and the account's mail sessions ended.
func TestAppPasswordOps(t *testing.T) {
	e := newEnv(t)
	var ended []string
	e.a.o.EndSessions = func(account string) int { ended = append(ended, account); return 2 }
	addAccount(t, e, "ann@example.org")
	addAccount(t, e, "bob@example.org")
	var secret, id string
	e.run(t, []step{
		{op: AddAppPassword{Account: "ann@example.org", Name: ""}, code: CodeInvalid, field: "name", want: "give the app password a name"},
		{op: AddAppPassword{Account: "ann@example.org", Name: strings.Repeat("x", 65)}, code: CodeInvalid, field: "name"},
		{op: AddAppPassword{Account: "ann@example.org", Name: "phone\r\nBcc: x"}, code: CodeInvalid, field: "name"},
		{op: AddAppPassword{Account: "nobody@example.org", Name: "phone"}, code: CodeNotFound, field: "account"},
		{op: AddAppPassword{Account: "not an address", Name: "phone"}, code: CodeInvalid, field: "account"},
		{op: AddAppPassword{Account: "ann@example.org", Name: "Ann's <b>phone</b>"}, want: `added app password`,
			check: func(t *testing.T, e *env, res any) {
				r := res.(AppPasswordResult)
				secret, id = r.Password, r.AppPassword.ID
				if len(secret) != 19 || r.AppPassword.Name != "Ann's <b>phone</b>" || r.Account != "ann@example.org" {
					t.Fatalf("result %+v", r)
				}
			}},
		{op: AddAppPassword{Account: "ann@example.org", Name: "ANN'S <B>PHONE</B>"}, code: CodeExists, field: "name", want: "choose another name"},
		{op: ListAppPasswords{Account: "ann@example.org"}, check: func(t *testing.T, e *env, res any) {
			r := res.(AppPasswordList)
			if len(r.AppPasswords) != 1 || r.AppPasswords[0].ID != id || !r.AppPasswords[0].LastUsed.IsZero() {
				t.Fatalf("list %+v", r)
			}
		}},
		// Bob cannot remove Ann's app password by its ID.
		{op: RevokeAppPassword{Account: "bob@example.org", ID: "zzzz"}, code: CodeNotFound, field: "id"},
		{op: ListDevices{Account: "ann@example.org"}, check: func(t *testing.T, e *env, res any) {
			if r := res.(DeviceList); len(r.Devices) != 0 {
				t.Fatalf("devices before any login: %+v", r)
			}
		}},
	})
	if _, err := e.a.RevokeAppPassword(context.Background(), actor, RevokeAppPassword{Account: "bob@example.org", ID: id}); CodeOf(err) != CodeNotFound {
		t.Fatalf("bob revoking ann's: %v", err)
	}
	if a, err := e.st.Authenticate("ann@example.org", secret); err != nil || a.AppPassword != "Ann's <b>phone</b>" {
		t.Fatalf("the app password does not work: %+v %v", a, err)
	}
	if err := e.st.NoteLogin("ann@example.org", storage.Login{Protocol: "imap", Addr: "192.168.1.9", Client: "Ann's <b>phone</b>"}); err != nil {
		t.Fatal(err)
	}
	e.run(t, []step{
		{op: ListDevices{Account: "ann@example.org"}, check: func(t *testing.T, e *env, res any) {
			if r := res.(DeviceList); len(r.Devices) != 1 || r.Devices[0].Addr != "192.168.1.9" {
				t.Fatalf("devices %+v", r)
			}
		}},
		{op: ListAccounts{}, check: func(t *testing.T, e *env, res any) {
			r := res.(AccountList)
			if r.Accounts[0].Name != "ann@example.org" || r.Accounts[0].LastLogin.IsZero() || !r.Accounts[1].LastLogin.IsZero() {
				t.Fatalf("last logins %+v", r.Accounts)
			}
		}},
		{op: SetPasswordWebOnly{Account: "ann@example.org", On: true}, want: "kept the password of ann@example.org for the web page (mail programs need app passwords); ended its 2 open mail sessions"},
		{op: GetAccount{Name: "ann@example.org"}, check: func(t *testing.T, e *env, res any) {
			if a := res.(AccountResult).Account; !a.PasswordWebOnly || a.LastLogin.IsZero() {
				t.Fatalf("account %+v", a)
			}
		}},
		{op: RevokeAppPassword{Account: "ann@example.org", ID: " " + strings.ToUpper(id) + " "}, want: "removed app password " + id},
		{op: RevokeAppPassword{Account: "ann@example.org", ID: id}, code: CodeNotFound, field: "id"},
		{op: SetPassword{Name: "bob@example.org", Password: "a new secret"}, want: "ended its 2 open mail sessions"},
	})
	if _, err := e.st.Authenticate("ann@example.org", secret); err == nil {
		t.Fatal("the removed app password still works")
	}
	if want := []string{"ann@example.org", "ann@example.org", "bob@example.org"}; strings.Join(ended, ",") != strings.Join(want, ",") {
		t.Errorf("sessions ended for %v, want %v", ended, want)
	}
	if strings.Contains(e.log.String(), secret) || strings.Contains(e.log.String(), strings.ReplaceAll(secret, " ", "")) {
		t.Errorf("the app password is in the audit log")
	}
	noSecrets(t, e)
}
