package storage_test

import (
	"errors"
	"testing"

	"postroom/storage"
	"postroom/storage/storagetest"
)

// TestResolveRoleMailboxes: postmaster (RFC 5321 4.5.1) and abuse (RFC
// 2142) reach an administrator in every domain of the box, the first
// account when nobody is one, an alias of that name when the office made
// one; never in a domain that is not ours.
func TestResolveRoleMailboxes(t *testing.T) {
	st := storagetest.Open(t)
	if _, err := st.Resolve("postmaster"); !errors.Is(err, storage.ErrUnknownAddress) {
		t.Fatalf("postmaster of an empty box: %v; want ErrUnknownAddress", err)
	}
	alice := storagetest.Account(t, st, "alice@example.test")
	bob := storagetest.Account(t, st, "bob@example.test")
	carol := storagetest.Account(t, st, "carol@other.test")
	if err := st.AddAddress(carol.Name, "@other.test"); err != nil { // catch-all
		t.Fatal(err)
	}

	type want struct {
		addr string
		id   storage.AccountID // 0: ErrUnknownAddress
	}
	check := func(stage string, cases []want) {
		t.Helper()
		for _, c := range cases {
			got, err := st.Resolve(c.addr)
			switch {
			case c.id == 0 && !errors.Is(err, storage.ErrUnknownAddress):
				t.Errorf("%s: Resolve(%q) = %d, %v; want ErrUnknownAddress", stage, c.addr, got, err)
			case c.id != 0 && (err != nil || got != c.id):
				t.Errorf("%s: Resolve(%q) = %d, %v; want %d", stage, c.addr, got, err, c.id)
			}
		}
	}

	// Nobody is an administrator: the first account (alice) gets them.
	check("no administrator", []want{
		{"postmaster@example.test", alice.ID},
		{"PostMaster@Example.TEST.", alice.ID},
		{"postmaster", alice.ID},
		{"POSTMASTER", alice.ID},
		{"abuse@example.test", alice.ID},
		{"postmaster+dmarc@example.test", alice.ID},
		{"abuse@other.test", alice.ID}, // the role wins over carol's catch-all
		{"postmaster@elsewhere.test", 0},
		{"abuse", 0}, // only postmaster may come without a domain
		{"webmaster@example.test", 0},
		{"anyone@other.test", carol.ID},
	})

	if err := st.SetAdmin(bob.Name, true); err != nil {
		t.Fatal(err)
	}
	check("bob is the administrator", []want{
		{"postmaster@example.test", bob.ID},
		{"postmaster@other.test", bob.ID},
		{"postmaster", bob.ID},
		{"abuse@example.test", bob.ID},
	})

	// The office points postmaster@example.test at alice: that alias wins
	// in its domain only.
	if err := st.AddAddress(alice.Name, "postmaster@example.test"); err != nil {
		t.Fatal(err)
	}
	check("an alias", []want{
		{"postmaster@example.test", alice.ID},
		{"Postmaster+x@example.test", alice.ID},
		{"postmaster@other.test", bob.ID},
		{"abuse@example.test", bob.ID},
		{"postmaster", bob.ID},
	})
}
