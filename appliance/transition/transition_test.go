package transition

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postroom/internal/dovecottest"
	"postroom/internal/testutil"
	"postroom/storage"
	"postroom/storage/storagetest"
)

const (
	oldUser = "old@example.net"
	oldPass = "old secret"
	ours    = "anna@example.org"
)

// oldMessage is one message put on the old server.
type oldMessage struct {
	folder string
	flags  []imap.Flag
	date   time.Time
	body   string
}

func msg(subject, extra string) string {
	return "From: Bob <bob@example.net>\r\nTo: old@example.net\r\nSubject: " + subject +
		"\r\nDate: Tue, 03 Nov 2026 10:00:00 +0000\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.net>\r\n\r\n" + extra + "\r\n"
}

var day = time.Date(2026, 11, 3, 9, 30, 0, 0, time.UTC)

// oldMail is the old account: folders with flags, keywords, a nested
// folder, an 8-bit message, a large one and an empty folder.
var oldMail = []oldMessage{
	{"INBOX", []imap.Flag{imap.FlagSeen}, day, msg("first", "hello")},
	{"INBOX", []imap.Flag{imap.FlagFlagged, "$Label1"}, day.Add(time.Hour), msg("second", "flagged with a keyword")},
	{"INBOX", nil, day.Add(2 * time.Hour), msg("third", "Grüße aus Köln, 8-bit")},
	{"Sent", []imap.Flag{imap.FlagSeen}, day.Add(3 * time.Hour), msg("sent one", "what I sent")},
	{"Projects/2024", []imap.Flag{imap.FlagSeen, imap.FlagAnswered}, day.Add(4 * time.Hour), msg("project", strings.Repeat("a line of a long message\r\n", 12000))},
}

func fillOld(t *testing.T, dc *dovecottest.Server, msgs []oldMessage, create ...string) {
	t.Helper()
	c, err := imapclient.DialTLS(dc.IMAPS, &imapclient.Options{TLSConfig: dc.Client})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(oldUser, oldPass).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, f := range create {
		if err := c.Create(f, nil).Wait(); err != nil {
			t.Fatalf("CREATE %s: %v\n%s", f, err, dc.Log())
		}
	}
	for _, m := range msgs {
		if m.folder != "INBOX" && m.folder != "Sent" {
			c.Create(m.folder, nil).Wait() // exists after the first
		}
		cmd := c.Append(m.folder, int64(len(m.body)), &imap.AppendOptions{Flags: m.flags, Time: m.date})
		io.WriteString(cmd, m.body)
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			t.Fatalf("APPEND to %s: %v\n%s", m.folder, err, dc.Log())
		}
	}
}

func newManager(t *testing.T, st *storage.Store, dc *dovecottest.Server) *Manager {
	t.Helper()
	m, err := New(Options{
		Store: st, Dir: filepath.Join(t.TempDir(), "transition"), RootCAs: dc.Client.RootCAs,
		Now: testutil.NewClock(day.Add(24 * time.Hour)).Now, AllowPlain: true, Timeout: 20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// port is the port of a host:port.
func port(t *testing.T, addr string) int {
	var p int
	if _, err := fmt.Sscanf(addr[strings.LastIndex(addr, ":")+1:], "%d", &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// ourMail is what the account has: mailbox -> subject -> flags.
func ourMail(t *testing.T, st *storage.Store) map[string]map[string]string {
	t.Helper()
	acct, err := st.Account(ours)
	if err != nil {
		t.Fatal(err)
	}
	boxes, err := st.Mailboxes(acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, b := range boxes {
		msgs, err := st.Messages(acct.ID, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			obj, err := st.Object(m.Object)
			if err != nil {
				t.Fatal(err)
			}
			body := st.OpenObjectBody(obj)
			data, _ := io.ReadAll(body.Reader())
			body.Close()
			subj := ""
			for _, l := range strings.Split(string(data), "\r\n") {
				if s, ok := strings.CutPrefix(l, "Subject: "); ok {
					subj = s
					break
				}
			}
			if out[b.Name] == nil {
				out[b.Name] = map[string]string{}
			}
			if _, dup := out[b.Name][subj]; dup {
				t.Errorf("%s has %q twice", b.Name, subj)
			}
			fl := m.AllFlags()
			slices.Sort(fl)
			out[b.Name][subj] = strings.Join(fl, " ") + " " + m.InternalDate.UTC().Format(time.DateTime)
		}
	}
	return out
}

func TestIMAPTransition(t *testing.T) {
	dc := dovecottest.Start(t, dovecottest.User{Name: oldUser, Password: oldPass})
	fillOld(t, dc, oldMail, "Empty")
	st := storagetest.Open(t)
	storagetest.Account(t, st, ours)
	m := newManager(t, st, dc)
	ctx := context.Background()

	for _, sec := range []struct {
		security, addr string
	}{{TLS, dc.IMAPS}, {StartTLS, dc.IMAP}} {
		// Add logs in first: a wrong password is said at once.
		_, err := m.Add(ctx, NewSource{Account: ours, Protocol: IMAP, Host: "localhost", Port: port(t, sec.addr), Security: sec.security, Username: oldUser, Password: "wrong"})
		if fe, ok := err.(*FieldError); !ok || fe.Field != "password" || !strings.Contains(fe.Msg, "refused the user name or password") {
			t.Fatalf("%s with a wrong password: %v", sec.security, err)
		}
	}
	src, err := m.Add(ctx, NewSource{Account: ours, Protocol: IMAP, Host: "localhost", Port: port(t, dc.IMAPS), Security: TLS, Username: oldUser, Password: oldPass})
	if err != nil {
		t.Fatalf("Add: %v\n%s", err, dc.Log())
	}
	res, err := m.RunOnce(ctx, src.ID)
	if err != nil {
		t.Fatalf("RunOnce: %v\n%s", err, dc.Log())
	}
	if res.Fetched != len(oldMail) || res.Seen != len(oldMail) {
		t.Errorf("first run: %+v, want %d fetched and seen", res, len(oldMail))
	}
	want := map[string]map[string]string{
		"INBOX": {
			"first":  `\Seen 2026-11-03 09:30:00`,
			"second": `$Label1 \Flagged 2026-11-03 10:30:00`,
			"third":  ` 2026-11-03 11:30:00`,
		},
		"Sent":          {"sent one": `\Seen 2026-11-03 12:30:00`},
		"Projects/2024": {"project": `\Answered \Seen 2026-11-03 13:30:00`},
	}
	got := ourMail(t, st)
	for box, msgs := range want {
		for subj, fl := range msgs {
			if got[box][subj] != fl {
				t.Errorf("%s %q: %q, want %q", box, subj, got[box][subj], fl)
			}
		}
	}
	if _, ok := got["Empty"]; ok {
		t.Error("an empty folder got messages")
	}
	acct, _ := st.Account(ours)
	if _, err := st.Mailbox(acct.ID, "Empty"); err != nil {
		t.Errorf("the empty folder was not made: %v", err)
	}
	// The bytes are the old server's, exactly.
	checkBytes(t, st, "Projects/2024", oldMail[4].body)

	// A second run fetches nothing; a message added on the old side in
	// between is the only one taken.
	res, err = m.RunOnce(ctx, src.ID)
	if err != nil || res.Fetched != 0 {
		t.Fatalf("second run: %+v, %v", res, err)
	}
	fillOld(t, dc, []oldMessage{{"INBOX", nil, day.Add(5 * time.Hour), msg("late", "came after the first run")}})
	res, err = m.RunOnce(ctx, src.ID)
	if err != nil || res.Fetched != 1 {
		t.Fatalf("third run: %+v, %v", res, err)
	}
	if got := ourMail(t, st)["INBOX"]; len(got) != 4 || got["late"] == "" {
		t.Errorf("INBOX after the third run: %v", got)
	}
	s, _ := m.Get(src.ID)
	if s.Fetched != len(oldMail)+1 || s.LastError != "" || s.Folders["Projects/2024"].Ours != "Projects/2024" {
		t.Errorf("source after three runs: %+v", s)
	}

	// Nothing changed on the old side: no message lost \Recent-less flags
	// or was marked seen by the transition.
	c, err := imapclient.DialTLS(dc.IMAPS, &imapclient.Options{TLSConfig: dc.Client})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Login(oldUser, oldPass).Wait()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(3), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(msgs) != 1 || slices.Contains(msgs[0].Flags, imap.FlagSeen) {
		t.Errorf("the old server's third message was changed: %+v %v", msgs, err)
	}

	// Finishing erases the password; the record stays.
	fin, err := m.Finish(src.ID)
	if err != nil || fin.Active() {
		t.Fatalf("Finish: %+v %v", fin, err)
	}
	data, err := os.ReadFile(filepath.Join(m.o.Dir, src.ID+".json"))
	if err != nil || strings.Contains(string(data), "sealed") {
		t.Errorf("the state after Finish still has the sealed password: %s %v", data, err)
	}
	if _, err := m.RunOnce(ctx, src.ID); err == nil {
		t.Error("a finished transition ran")
	}
}

func checkBytes(t *testing.T, st *storage.Store, box, want string) {
	t.Helper()
	acct, _ := st.Account(ours)
	mb, err := st.Mailbox(acct.ID, box)
	if err != nil {
		t.Fatal(err)
	}
	have, err := st.Digests(acct.ID, mb.ID, map[int64]bool{int64(len(want)): true})
	if err != nil {
		t.Fatal(err)
	}
	if !have[sha256.Sum256([]byte(want))] {
		t.Errorf("%s does not hold the old message's exact bytes", box)
	}
}

// TestStatePersists: a new Manager over the same folder (a restart)
// knows what was taken, and the password is not in the state file.
func TestStatePersists(t *testing.T) {
	dc := dovecottest.Start(t, dovecottest.User{Name: oldUser, Password: oldPass})
	fillOld(t, dc, oldMail[:2])
	st := storagetest.Open(t)
	storagetest.Account(t, st, ours)
	m := newManager(t, st, dc)
	ctx := context.Background()
	src, err := m.Add(ctx, NewSource{Account: ours, Protocol: POP3, Host: "localhost", Port: port(t, dc.POP3S), Username: oldUser, Password: oldPass})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.RunOnce(ctx, src.ID); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(m.o.Dir, src.ID+".json"))
	if strings.Contains(string(data), oldPass) {
		t.Error("the password is readable in the state file")
	}
	m2, err := New(m.o)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m2.RunOnce(ctx, src.ID)
	if err != nil || res.Fetched != 0 || res.Seen != 2 {
		t.Errorf("after a restart: %+v %v", res, err)
	}
}

func TestPOP3Transition(t *testing.T) {
	dc := dovecottest.Start(t, dovecottest.User{Name: oldUser, Password: oldPass})
	fillOld(t, dc, oldMail)
	st := storagetest.Open(t)
	storagetest.Account(t, st, ours)
	m := newManager(t, st, dc)
	ctx := context.Background()
	_, err := m.Add(ctx, NewSource{Account: ours, Protocol: POP3, Host: "localhost", Port: port(t, dc.POP3), Security: StartTLS, Username: oldUser, Password: "wrong"})
	if fe, ok := err.(*FieldError); !ok || fe.Field != "password" {
		t.Fatalf("a wrong password: %v", err)
	}
	src, err := m.Add(ctx, NewSource{Account: ours, Protocol: POP3, Host: "localhost", Port: port(t, dc.POP3), Security: StartTLS, Username: oldUser, Password: oldPass})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.RunOnce(ctx, src.ID)
	if err != nil || res.Fetched != 3 {
		t.Fatalf("first run: %+v %v\n%s", res, err, dc.Log())
	}
	got := ourMail(t, st)["INBOX"]
	// POP3 has no flags and no arrival date: the Date field is used.
	if got["first"] != " 2026-11-03 10:00:00" || got["third"] == "" {
		t.Errorf("INBOX: %v", got)
	}
	checkBytes(t, st, "INBOX", oldMail[2].body)
	res, err = m.RunOnce(ctx, src.ID)
	if err != nil || res.Fetched != 0 {
		t.Fatalf("second run: %+v %v", res, err)
	}
	fillOld(t, dc, []oldMessage{{"INBOX", nil, day, msg("late", "new on the old side")}})
	res, err = m.RunOnce(ctx, src.ID)
	if err != nil || res.Fetched != 1 || res.Seen != 4 {
		t.Fatalf("third run: %+v %v", res, err)
	}
	// The mail stays on the old server.
	c, err := imapclient.DialTLS(dc.IMAPS, &imapclient.Options{TLSConfig: dc.Client})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Login(oldUser, oldPass).Wait()
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 4 {
		t.Errorf("the old INBOX after the move: %+v %v", sel, err)
	}
}

// TestCrashBetweenAddAndRecord: a message added to the store whose
// taking was not recorded (the box lost power in between) is recognised
// by its bytes on the next run, not added twice.
func TestCrashBetweenAddAndRecord(t *testing.T) {
	dc := dovecottest.Start(t, dovecottest.User{Name: oldUser, Password: oldPass})
	fillOld(t, dc, oldMail[:3])
	for _, proto := range []string{IMAP, POP3} {
		t.Run(proto, func(t *testing.T) {
			st := storagetest.Open(t)
			storagetest.Account(t, st, ours)
			m := newManager(t, st, dc)
			addr := dc.IMAPS
			if proto == POP3 {
				addr = dc.POP3S
			}
			src, err := m.Add(context.Background(), NewSource{Account: ours, Protocol: proto, Host: "localhost", Port: port(t, addr), Username: oldUser, Password: oldPass})
			if err != nil {
				t.Fatal(err)
			}
			if res, err := m.RunOnce(context.Background(), src.ID); err != nil || res.Fetched != 3 {
				t.Fatalf("first run: %+v %v", res, err)
			}
			// Forget the last two messages taken, as a power cut between
			// the store's commits and the batched record would.
			if proto == IMAP {
				m.update(src.ID, func(r *record) { r.Folders["INBOX"].LastUID -= 2 })
			} else {
				path := filepath.Join(m.o.Dir, src.ID+".uidl")
				data, _ := os.ReadFile(path)
				lines := strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
				os.WriteFile(path, []byte(strings.Join(lines[:len(lines)-2], "")), 0o600)
			}
			res, err := m.RunOnce(context.Background(), src.ID)
			if err != nil || res.Fetched != 0 {
				t.Errorf("run after the crash: %+v %v", res, err)
			}
			if inbox := ourMail(t, st)["INBOX"]; len(inbox) != 3 {
				t.Errorf("INBOX: %v", inbox)
			}
		})
	}
}
