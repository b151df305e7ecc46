package appliance

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postroom/appliance/admin"
	"postroom/appliance/config"
	"postroom/appliance/status"
	"postroom/internal/dovecottest"
)

// TestClientViewAfterMove: after a move from an old provider (a real
// Dovecot) into the demo account, a real sync client, mbsync, sees on the
// box the folders and flags it saw at the old provider.
func TestClientViewAfterMove(t *testing.T) {
	c := newClientRig(t, "mbsync")
	dc := dovecottest.Start(t, dovecottest.User{Name: "demo@old.example", Password: "old demo pw"})
	old, err := imapclient.DialTLS(dc.IMAPS, &imapclient.Options{TLSConfig: dc.Client})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := old.Login("demo@old.example", "old demo pw").Wait(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"Projects", "Projects/2024"} {
		if err := old.Create(f, nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	put := []struct {
		folder, subject string
		flags           []imap.Flag
	}{
		{"INBOX", "read one", []imap.Flag{imap.FlagSeen}},
		{"INBOX", "flagged one", []imap.Flag{imap.FlagFlagged}},
		{"INBOX", "new one", nil},
		{"Sent", "what I sent", []imap.Flag{imap.FlagSeen}},
		{"Drafts", "half written", []imap.Flag{imap.FlagDraft}},
		{"Projects/2024", "answered", []imap.Flag{imap.FlagSeen, imap.FlagAnswered}},
	}
	for _, m := range put {
		body := "From: someone@old.example\r\nSubject: " + m.subject + "\r\n\r\nbody\r\n"
		cmd := old.Append(m.folder, int64(len(body)), &imap.AppendOptions{Flags: m.flags})
		io.WriteString(cmd, body)
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}

	ctx := context.Background()
	ac, err := admin.Dial(ctx, admin.SocketPath(filepath.Dir(filepath.Dir(c.cert))))
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	port, _ := strconv.Atoi(dc.IMAP[strings.LastIndex(dc.IMAP, ":")+1:])
	if _, err := admin.Call[map[string]any](ctx, ac, "", admin.AddTransition{Account: config.DemoUser, Protocol: "imap",
		Host: "127.0.0.1", Port: port, Security: "none", Username: "demo@old.example", Password: "old demo pw"}); err != nil {
		t.Fatal(err)
	}
	c.r.waitFor(t, "the move", func(s status.Snapshot) bool {
		return len(s.Moving) == 1 && s.Moving[0].Fetched == len(put) && !s.Moving[0].Running
	})

	sync := func(name, host, port, user, pw, cert string) map[string]string {
		t.Helper()
		dir := filepath.Join(t.TempDir(), name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		rc := writeConfig(t, name+"rc", fmt.Sprintf(`IMAPAccount a
Host %s
Port %s
User %s
Pass "%s"
SSLType IMAPS
CertificateFile %s
SystemCertificates no

IMAPStore remote
Account a

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel a
Far :remote:
Near :local:
Patterns *
Create Near
Sync Pull
SyncState *
`, host, port, user, pw, cert, dir, dir))
		c.mustRun(t, "", "mbsync", "-c", rc, "-a")
		return maildirView(t, dir)
	}
	_, dport, _ := strings.Cut(dc.IMAPS, ":")
	before := sync("dovecot", "localhost", dport, "demo@old.example", "old demo pw", dc.CertFile)
	after := sync("postroom", "127.0.0.1", c.port(t, ServiceIMAPS), config.DemoUser, c.password, c.cert)
	if len(before) != len(put) {
		t.Fatalf("mbsync saw %d messages at Dovecot, want %d: %v", len(before), len(put), before)
	}
	t.Logf("Dovecot: %v\nPostroom: %v", before, after)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: Dovecot %q, Postroom %q", k, v, after[k])
		}
	}
}

// maildirView is "folder/subject" -> the Maildir flags of the file, for
// every message mbsync wrote under dir.
func maildirView(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		sub := filepath.Base(filepath.Dir(p))
		if sub != "cur" && sub != "new" {
			return nil
		}
		folder, _ := filepath.Rel(dir, filepath.Dir(filepath.Dir(p)))
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		subject := ""
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), "Subject: "); ok {
				subject = s
				break
			}
		}
		_, flags, _ := strings.Cut(d.Name(), ":2,")
		fl := []byte(flags)
		slices.Sort(fl)
		out[folder+"/"+subject] = string(fl)
		return nil
	})
	return out
}
