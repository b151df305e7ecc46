package backup

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// folderDump is dump's part for one mailbox.
func (b *box) folderDump(account, name string) string {
	b.t.Helper()
	for _, block := range strings.Split(dump(b.t, b.st), "account ")[1:] {
		if !strings.HasPrefix(block, account+" ") {
			continue
		}
		for _, mb := range strings.Split(block, "\n mailbox ")[1:] {
			if strings.HasPrefix(mb, fmt.Sprintf("%q ", name)) {
				return mb
			}
		}
	}
	return ""
}

// TestRestoreMail: a deleted folder comes back from the last backup with
// its UIDVALIDITY, UIDs, UIDNEXT, flags, keywords, dates and bytes; a
// folder that lost messages gets them back as new ones (its UIDs only go
// up); a second restore adds nothing.
func TestRestoreMail(t *testing.T) {
	b := newBox(t)
	b.fill()
	alice, _ := b.st.Account("alice@example.com")
	büro := b.folderDump("alice@example.com", "Projekte/Büro")
	b.backup()
	if err := b.st.DeleteMailbox(alice.ID, "Projekte/Büro"); err != nil {
		t.Fatal(err)
	}
	in, _ := b.st.Mailbox(alice.ID, "INBOX")
	if _, err := b.st.Expunge(alice.ID, in.ID, []uint32{1, 2}); err != nil {
		t.Fatal(err)
	}
	in, _ = b.st.Mailbox(alice.ID, "INBOX")

	res, err := b.m.RestoreMail(ctx, MailRestore{Account: "alice@example.com", Mailbox: "Projekte/Büro"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Mailboxes) != 1 || !res.Mailboxes[0].Recreated || res.Mailboxes[0].Added != 6 {
		t.Fatalf("folder restore: %+v", res)
	}
	if got := b.folderDump("alice@example.com", "Projekte/Büro"); got != büro {
		t.Errorf("the folder came back as\n%s\nnot as it was:\n%s", got, büro)
	}

	res, err = b.m.RestoreMail(ctx, MailRestore{Account: "alice@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	added := map[string]int{}
	for _, r := range res.Mailboxes {
		added[r.Name] = r.Added
		if r.Recreated {
			t.Errorf("%s recreated though it exists", r.Name)
		}
	}
	if added["INBOX"] != 2 || added["Projekte/Büro"] != 0 {
		t.Errorf("account restore added %v", added)
	}
	msgs, _ := b.st.Messages(alice.ID, in.ID)
	for _, m := range msgs[len(msgs)-2:] {
		if m.UID < in.UIDNext {
			t.Errorf("a message put back into INBOX got UID %d, below UIDNEXT %d", m.UID, in.UIDNext)
		}
	}
	res, err = b.m.RestoreMail(ctx, MailRestore{Account: "alice@example.com"})
	for _, r := range res.Mailboxes {
		if err != nil || r.Added != 0 {
			t.Errorf("a second restore added %d to %s (%v)", r.Added, r.Name, err)
		}
	}
	if _, err := b.m.RestoreMail(ctx, MailRestore{Account: "nobody@example.com"}); !errors.Is(err, ErrNoAccount) {
		t.Errorf("unknown account: %v", err)
	}
	if _, err := b.m.RestoreMail(ctx, MailRestore{Account: "alice@example.com", Mailbox: "Nie"}); err == nil || !strings.Contains(err.Error(), "has no folder Nie") {
		t.Errorf("unknown folder: %v", err)
	}
}
