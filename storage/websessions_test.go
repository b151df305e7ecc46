package storage_test

import (
	"bytes"
	"errors"
	"testing"

	"postroom/storage"
	"postroom/storage/storagetest"
)

// TestWebSessions: records round-trip, are replaced in place,
// list in id order, and go one by one.
func TestWebSessions(t *testing.T) {
	st := storagetest.Open(t)
	a, b := [32]byte{1}, [32]byte{2}
	if v, err := st.WebSession(a); err != nil || v != nil {
		t.Fatalf("missing session: %q %v", v, err)
	}
	for id, v := range map[[32]byte]string{b: "bee", a: "ay"} {
		if err := st.PutWebSession(id, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutWebSession(a, []byte("ay2")); err != nil {
		t.Fatal(err)
	}
	if v, err := st.WebSession(a); err != nil || string(v) != "ay2" {
		t.Fatalf("session a: %q %v", v, err)
	}
	var seen [][32]byte
	var vals []string
	if err := st.WebSessions(func(id [32]byte, v []byte) error {
		seen = append(seen, id)
		vals = append(vals, string(v))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != a || seen[1] != b || vals[0] != "ay2" || vals[1] != "bee" {
		t.Fatalf("listed %x %q", seen, vals)
	}
	if err := st.DeleteWebSessions(a, [32]byte{9}); err != nil {
		t.Fatal(err)
	}
	if v, err := st.WebSession(a); err != nil || v != nil {
		t.Fatalf("deleted session: %q %v", v, err)
	}
	if v, err := st.WebSession(b); err != nil || !bytes.Equal(v, []byte("bee")) {
		t.Fatalf("kept session: %q %v", v, err)
	}
}

// TestPasswordStamp: the stamp stays while the password does, changes
// when it is set (even to the same password: a new salt), and holds
// nothing of the hash.
func TestPasswordStamp(t *testing.T) {
	st := storagetest.Open(t)
	storagetest.Account(t, st, "ann@example.test")
	a, err := st.PasswordStamp("ann@example.test")
	if err != nil || len(a) != 24 {
		t.Fatalf("stamp %q %v", a, err)
	}
	if b, err := st.PasswordStamp("ANN@example.test"); err != nil || b != a {
		t.Fatalf("stamp again %q %v", b, err)
	}
	if err := st.SetPassword("ann@example.test", "password-ann@example.test"); err != nil {
		t.Fatal(err)
	}
	if b, err := st.PasswordStamp("ann@example.test"); err != nil || b == a {
		t.Fatalf("stamp after a new password %q %v", b, err)
	}
	if _, err := st.PasswordStamp("nobody@example.test"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("stamp of nobody: %v", err)
	}
}
