package imapd

import (
	"slices"
	"testing"

	"postroom/internal/front"
	"postroom/storage"
)

// TestDeviceNames: a login is recorded (front's OnLogin, here wired to
// storage.NoteLogin as the appliance wires it) under the name of the app
// password it used, or the name the client gave in ID (RFC 2971), before
// or after login; the account page lists these names (storage.Devices).
func TestDeviceNames(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		st := o.Store
		o.Limits.OnLogin = func(fc *front.Conn) {
			if err := st.NoteLogin(fc.Account(), storage.Login{Protocol: "imap", Addr: fc.IP().String(), Client: fc.Client()}); err != nil {
				t.Errorf("NoteLogin: %v", err)
			}
		}
	})
	_, phone, err := e.st.AddAppPassword(alice, "Alice's phone")
	if err != nil {
		t.Fatal(err)
	}
	_, laptop, err := e.st.AddAppPassword(bob, "Bob's laptop")
	if err != nil {
		t.Fatal(err)
	}
	clients := func(login string) []string {
		t.Helper()
		ds, err := e.st.Devices(login)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range ds {
			if d.Protocol != "imap" || d.Addr != "127.0.0.1" {
				t.Errorf("device %+v", d)
			}
			out = append(out, d.Client)
		}
		slices.Sort(out)
		return out
	}

	// An app password names the device at login: one record.
	rc := e.raw()
	rc.do(step{send: `a LOGIN alice@example.test "` + phone + `"`, want: []string{`^a OK`}})
	if got := clients(alice); !slices.Equal(got, []string{"Alice's phone"}) {
		t.Fatalf("after an app password login: %q", got)
	}
	// ID after login renames it.
	rc.do(step{send: `b ID ("name" "Thunderbird" "version" "128.5")`, want: []string{`^\* ID \(`, `^b OK`}})
	if got := clients(alice); !slices.Contains(got, "Thunderbird") {
		t.Fatalf("after ID: %q", got)
	}
	// ID before login (any case of "name"): the login is recorded by it.
	rc2 := e.raw()
	rc2.do(step{send: `a ID ("NAME" "K-9 Mail")`, want: []string{`^a OK`}})
	rc2.do(step{send: "b LOGIN alice@example.test password-alice@example.test", want: []string{`^b OK`}})
	if got := clients(alice); !slices.Contains(got, "K-9 Mail") || slices.Contains(got, "") {
		t.Fatalf("after ID then LOGIN: %q", got)
	}
	// After UNAUTHENTICATE, the next account's login is its own.
	rc2.do(step{send: "c UNAUTHENTICATE", want: []string{`^c OK`}})
	rc2.do(step{send: `d LOGIN bob@example.test "` + laptop + `"`, want: []string{`^d OK`}})
	if got := clients(bob); !slices.Contains(got, "Bob's laptop") {
		t.Fatalf("bob after UNAUTHENTICATE: %q", got)
	}
	if got := clients(alice); slices.Contains(got, "Bob's laptop") {
		t.Fatalf("bob's app password recorded for alice: %q", got)
	}
}
