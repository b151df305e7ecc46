package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postroom/storage"
)

// TestExportImport exports an account of a stopped box as mbox and as a
// Maildir with postroomctl and imports both into another account, twice.
func TestExportImport(t *testing.T) {
	data := newData(t)
	date := time.Date(2023, 4, 5, 6, 7, 8, 0, time.UTC)
	body := "Subject: hi\r\n\r\nFrom here\r\n>From there\r\n"
	withStore(t, data, func(st *storage.Store) {
		for _, n := range []string{"alice@example.org", "bob@example.org"} {
			if _, err := st.CreateAccount(n, "password of "+n); err != nil {
				t.Fatal(err)
			}
		}
		a, _ := st.Account("alice@example.org")
		if _, err := st.Append(context.Background(), a.ID, "INBOX", storage.FlagSeen, nil, date, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	})
	dir := t.TempDir()
	mbox := filepath.Join(dir, "inbox.mbox")
	md := filepath.Join(dir, "md")
	runCtl(t, data, "", "export", "alice@example.org", "INBOX", mbox).check(t, exitOK, []string{"exported 1 messages"}, nil)
	runCtl(t, data, "", "export", "-format", "maildir", "alice@example.org", md).check(t, exitOK, []string{"exported 1 messages", "of 6 mailboxes"}, nil)
	runCtl(t, data, "", "export", "alice@example.org", "INBOX", mbox).check(t, exitFailed, nil, []string{"exists"})

	for _, c := range []struct{ format, src, box string }{{"mbox", mbox, "From mbox"}, {"maildir", md, "From Maildir"}} {
		runCtl(t, data, "", "import", "-format", c.format, "bob@example.org", c.box, c.src).
			check(t, exitOK, []string{"imported 1 messages", "(made it); 0 were there already"}, nil)
		runCtl(t, data, "", "import", "-format", c.format, "bob@example.org", c.box, c.src).
			check(t, exitOK, []string{"imported 0 messages", "1 were there already"}, nil)
	}
	withStore(t, data, func(st *storage.Store) {
		b, _ := st.Account("bob@example.org")
		for _, box := range []string{"From mbox", "From Maildir"} {
			mb, err := st.Mailbox(b.ID, box)
			if err != nil {
				t.Fatal(err)
			}
			msgs, _ := st.Messages(b.ID, mb.ID)
			if len(msgs) != 1 || msgs[0].Flags != storage.FlagSeen || !msgs[0].InternalDate.Equal(date) {
				t.Fatalf("%s: %+v", box, msgs)
			}
			r, _ := st.OpenBody(msgs[0].Object)
			got, _ := io.ReadAll(r.Reader())
			r.Close()
			if string(got) != body {
				t.Errorf("%s: %q, want %q", box, got, body)
			}
		}
	})

	bad := filepath.Join(dir, "bad.mbox")
	if err := os.WriteFile(bad, []byte("Subject: x\n\nno From line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runCtl(t, data, "", "import", "bob@example.org", "Bad", bad).check(t, exitFailed, nil, []string{"not an mbox file"})
	runCtl(t, data, "", "import", "-format", "zip", "bob@example.org", "Bad", bad).check(t, exitFailed, nil, []string{"mbox or maildir"})
	runCtl(t, data, "", "import", "bob@example.org", "Bad").check(t, exitUsage, nil, []string{"missing arguments"})
}

// TestRunningBoxExportImport imports an mbox into a running box over its
// control socket, exports it again and gets the same file (but for the
// envelope sender), with its flags and date kept.
func TestRunningBoxExportImport(t *testing.T) {
	b := startBox(t, nil)
	dir := t.TempDir()
	src := filepath.Join(dir, "old.mbox")
	mbox := "From bob@example.org Sat Jun  1 12:00:00 2024\nStatus: RO\nX-Status: A\n" +
		"Subject: moved in\n\n>From the old provider\nFrom\n\n"
	if err := os.WriteFile(src, []byte(mbox), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "again.mbox")
	runSteps(t, b.data, []ctlStep{
		{[]string{"users", "add", "alice@example.org", "-password-stdin"}, "a secret pass\n", 0, nil, nil},
		{[]string{"import", "alice@example.org", "Old mail", src}, "", 0, []string{"imported 1 messages", "made it"}, nil},
		{[]string{"import", "alice@example.org", "Old mail", src}, "", 0, []string{"imported 0 messages", "1 were there already"}, nil},
		{[]string{"export", "alice@example.org", "Old mail", out}, "", 0, []string{"exported 1 messages"}, nil},
		{[]string{"messages", "alice@example.org", "Old mail"}, "", 0, []string{"moved in", `\Seen`, `\Answered`}, nil},
	})
	got, err := os.ReadFile(out)
	want := strings.Replace(mbox, "From bob@example.org", "From MAILER-DAEMON", 1) // the envelope sender is not kept
	if err != nil || string(got) != want {
		t.Errorf("export after import:\n%s\nwant:\n%s (%v)", got, want, err)
	}
	if !strings.Contains(b.log.String(), "imported 1 messages into Old mail of alice@example.org") {
		t.Errorf("the appliance's log lacks the import")
	}
}
