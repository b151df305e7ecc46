package admin

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postroom/internal/dovecottest"
)

// TestDovecotServesExportedMaildir: a Maildir export, put where Dovecot
// keeps a user's mail, is served by Dovecot with the same folders,
// messages, flags and keywords (issue #15: an export opened by a real
// program).
func TestDovecotServesExportedMaildir(t *testing.T) {
	dc := dovecottest.Start(t, dovecottest.User{Name: "src@old.example", Password: "dovecot pw"})
	e := newEnv(t)
	src := fillExport(t, e)
	out := dc.Maildir("src@old.example")
	if _, err := e.a.ExportMail(context.Background(), actor, ExportMail{Account: src.Name, Format: FormatMaildir, Path: out}); err != nil {
		t.Fatal(err)
	}
	dc.Give(t, out)
	c, err := imapclient.DialTLS(dc.IMAPS, &imapclient.Options{TLSConfig: dc.Client})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("src@old.example", "dovecot pw").Wait(); err != nil {
		t.Fatal(err)
	}
	for _, box := range []string{"INBOX", "Sent", "Archive/2024"} {
		var want []string
		for _, m := range exportMessages {
			if m.box != box {
				continue
			}
			fl := append(m.flags.Names(), m.keywords...)
			slices.Sort(fl)
			subject := m.body[strings.Index(m.body, "Subject: ")+9:]
			want = append(want, subject[:strings.Index(subject, "\r\n")]+": "+strings.Join(fl, " "))
		}
		sel, err := c.Select(box, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil || int(sel.NumMessages) != len(want) {
			t.Fatalf("Dovecot's %s: %+v %v\n%s", box, sel, err, dc.Log())
		}
		var all imap.SeqSet
		all.AddRange(1, sel.NumMessages)
		msgs, err := c.Fetch(all, &imap.FetchOptions{Flags: true, Envelope: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range msgs {
			var fl []string
			for _, f := range m.Flags {
				if f != `\Recent` {
					fl = append(fl, string(f))
				}
			}
			slices.Sort(fl)
			got = append(got, m.Envelope.Subject+": "+strings.Join(fl, " "))
		}
		slices.Sort(got)
		slices.Sort(want)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s as Dovecot serves it:\n%s\nwant:\n%s", box, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}
