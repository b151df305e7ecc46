package appliance

import (
	"context"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postroom/appliance/admin"
	"postroom/appliance/status"
	"postroom/internal/dovecottest"
)

// TestRunMovesMailFromTheOldProvider: on a running box, a move from an old
// IMAP account (a real Dovecot) is started over the control socket; its
// worker pulls the mail into the account at once, the status shows the
// progress, and finishing the move takes it off the status.
func TestRunMovesMailFromTheOldProvider(t *testing.T) {
	dc := dovecottest.Start(t, dovecottest.User{Name: "anna@old.example", Password: "anna old pw"})
	old, err := imapclient.DialTLS(dc.IMAPS, &imapclient.Options{TLSConfig: dc.Client})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := old.Login("anna@old.example", "anna old pw").Wait(); err != nil {
		t.Fatal(err)
	}
	for i, folder := range []string{"INBOX", "INBOX", "Sent"} {
		body := "From: x@old.example\r\nSubject: old " + strconv.Itoa(i) + "\r\n\r\nkept for years\r\n"
		cmd := old.Append(folder, int64(len(body)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
		io.WriteString(cmd, body)
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}

	cfg := testConfig(t) // development mode: the old server may be on this machine, without TLS
	r, err := start(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := admin.Dial(ctx, admin.SocketPath(cfg.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := admin.Call[admin.AccountResult](ctx, c, "", admin.AddAccount{Name: "anna@example.test", Password: "anna's new pw"}); err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(dc.IMAP[strings.LastIndex(dc.IMAP, ":")+1:])
	src, err := admin.Call[map[string]any](ctx, c, "", admin.AddTransition{
		Account: "anna@example.test", Protocol: "imap", Host: "127.0.0.1", Port: port, Security: "none",
		Username: "anna@old.example", Password: "anna old pw",
	})
	if err != nil {
		t.Fatalf("transition.add: %v\n%s", err, r.log.String())
	}
	r.waitFor(t, "the move to take the three messages", func(s status.Snapshot) bool {
		return len(s.Moving) == 1 && s.Moving[0].Fetched == 3 && s.Moving[0].Seen == 3 && !s.Moving[0].Running
	})
	for box, n := range map[string]int{"INBOX": 2, "Sent": 1} {
		l, err := admin.Call[admin.MessageList](ctx, c, "", admin.ListMessages{Account: "anna@example.test", Mailbox: box})
		if err != nil || l.Total != n {
			t.Errorf("%s: %+v, %v", box, l, err)
		}
	}
	if strings.Contains(r.log.String(), "anna old pw") {
		t.Error("the old password is in the log")
	}
	if _, err := admin.Call[map[string]any](ctx, c, "", admin.FinishTransition{ID: src["id"].(string)}); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "the finished move to leave the status", func(s status.Snapshot) bool { return len(s.Moving) == 0 })
}
