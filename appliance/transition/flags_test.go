package transition

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postroom/internal/dovecottest"
	"postroom/storage"
	"postroom/storage/storagetest"
)

// oldClient logs in to the old server, as a person on its webmail.
func oldClient(t *testing.T, dc *dovecottest.Server) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialTLS(dc.IMAPS, &imapclient.Options{TLSConfig: dc.Client})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(oldUser, oldPass).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// oldStore changes the flags of the message of an old folder with the
// given subject.
func oldStore(t *testing.T, c *imapclient.Client, folder, subject string, op imap.StoreFlagsOp, flags ...imap.Flag) {
	t.Helper()
	if _, err := c.Select(folder, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	uids, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: subject}}}, nil).Wait()
	if err != nil || len(uids.AllUIDs()) != 1 {
		t.Fatalf("finding %q on the old server: %v %v", subject, uids, err)
	}
	if err := c.Store(imap.UIDSetNum(uids.AllUIDs()...), &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close(); err != nil {
		t.Fatalf("STORE on the old server: %v", err)
	}
}

// ourStore changes the flags of the message here with the given subject,
// as a mail program on the box would.
func ourStore(t *testing.T, st *storage.Store, box, subject string, op storage.FlagOp, names ...string) {
	t.Helper()
	acct, _ := st.Account(ours)
	mb, err := st.Mailbox(acct.ID, box)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := st.Messages(acct.ID, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		obj, _ := st.Object(m.Object)
		b := st.OpenObjectBody(obj)
		data, _ := io.ReadAll(b.Reader())
		b.Close()
		if strings.Contains(string(data), "\r\nSubject: "+subject+"\r\n") {
			f, kw := storage.ParseFlags(names)
			if _, err := st.SetFlags(acct.ID, mb.ID, []uint32{m.UID}, op, f, kw); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no %q in %s here", subject, box)
}

// flagsOf is the flags here of each message of a mailbox, by subject.
func flagsOf(t *testing.T, st *storage.Store, box string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for subj, v := range ourMail(t, st)[box] {
		out[subj] = strings.TrimSpace(v[:len(v)-len(" 2006-01-02 15:04:05")]) // the date off
	}
	return out
}

// startIMAPMove starts a Dovecot with msgs as the old account, and a
// move of it over IMAPS into a new store.
func startIMAPMove(t *testing.T, o dovecottest.Options, msgs []oldMessage) (*dovecottest.Server, *storage.Store, *Manager, Source) {
	t.Helper()
	dc := dovecottest.StartWith(t, o, dovecottest.User{Name: oldUser, Password: oldPass})
	fillOld(t, dc, msgs)
	st := storagetest.Open(t)
	storagetest.Account(t, st, ours)
	m := newManager(t, st, dc)
	src, err := m.Add(context.Background(), NewSource{Account: ours, Protocol: IMAP, Host: "localhost", Port: port(t, dc.IMAPS), Username: oldUser, Password: oldPass})
	if err != nil {
		t.Fatalf("Add: %v\n%s", err, dc.Log())
	}
	return dc, st, m, src
}

// TestFlagsFollowOldServer: flags changed on the old server after the
// first pull reach the box on the next run, flag by flag, without undoing
// what was changed here since (flags.go's rule), with CONDSTORE and with
// a server without it.
func TestFlagsFollowOldServer(t *testing.T) {
	for _, tc := range []struct {
		name       string
		capability string
		condstore  bool
	}{
		{"condstore", "", true},
		{"without condstore", "IMAP4rev1 IDLE", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dc, st, m, src := startIMAPMove(t, dovecottest.Options{IMAPCapability: tc.capability}, []oldMessage{
				{"INBOX", nil, day, msg("read there", "")},
				{"INBOX", []imap.Flag{imap.FlagSeen}, day, msg("unread here", "")},
				{"INBOX", []imap.Flag{imap.FlagFlagged}, day, msg("both changed", "")},
				{"INBOX", nil, day, msg("keyword and deleted", "")},
				{"INBOX", nil, day, msg("same change", "")},
				{"Sent", nil, day, msg("other folder", "")},
			})
			ctx := context.Background()
			if res, err := m.RunOnce(ctx, src.ID); err != nil || res.Fetched != 6 || res.Updated != 0 {
				t.Fatalf("first run: %+v %v\n%s", res, err, dc.Log())
			}
			s, _ := m.Get(src.ID)
			if got := s.Folders["INBOX"].ModSeq != 0; got != tc.condstore {
				t.Errorf("INBOX's HIGHESTMODSEQ kept: %v, want %v", s.Folders["INBOX"].ModSeq, tc.condstore)
			}

			// Between two runs: changes on the old webmail, and here.
			old := oldClient(t, dc)
			oldStore(t, old, "INBOX", "read there", imap.StoreFlagsAdd, imap.FlagSeen)
			ourStore(t, st, "INBOX", "unread here", storage.FlagsRemove, `\Seen`)
			oldStore(t, old, "INBOX", "both changed", imap.StoreFlagsDel, imap.FlagFlagged)
			ourStore(t, st, "INBOX", "both changed", storage.FlagsAdd, `\Answered`)
			oldStore(t, old, "INBOX", "keyword and deleted", imap.StoreFlagsAdd, "$Work", imap.FlagDeleted)
			oldStore(t, old, "INBOX", "same change", imap.StoreFlagsAdd, imap.FlagFlagged)
			ourStore(t, st, "INBOX", "same change", storage.FlagsAdd, `\Flagged`)
			oldStore(t, old, "Sent", "other folder", imap.StoreFlagsAdd, imap.FlagSeen, imap.FlagAnswered)

			res, err := m.RunOnce(ctx, src.ID)
			if err != nil || res.Fetched != 0 || res.Updated != 5 {
				t.Fatalf("second run: %+v %v, want 5 updated", res, err)
			}
			want := map[string]string{
				"read there":          `\Seen`,
				"unread here":         ``,          // changed here only: stays
				"both changed":        `\Answered`, // \Flagged off there, \Answered on here
				"keyword and deleted": `$Work`,     // \Deleted is not followed
				"same change":         `\Flagged`,  // the same change on both sides
			}
			if got := flagsOf(t, st, "INBOX"); !equalMaps(got, want) {
				t.Errorf("INBOX after the second run:\n got %q\nwant %q", got, want)
			}
			if got := flagsOf(t, st, "Sent")["other folder"]; got != `\Answered \Seen` {
				t.Errorf("Sent after the second run: %q", got)
			}

			// Nothing changed on the old side: a run changes nothing here,
			// not even what was changed here since.
			ourStore(t, st, "INBOX", "read there", storage.FlagsAdd, `\Flagged`)
			ourStore(t, st, "INBOX", "keyword and deleted", storage.FlagsRemove, `$Work`)
			if res, err := m.RunOnce(ctx, src.ID); err != nil || res.Updated != 0 {
				t.Fatalf("third run: %+v %v", res, err)
			}
			if got := flagsOf(t, st, "INBOX"); got["read there"] != `\Flagged \Seen` || got["keyword and deleted"] != `` {
				t.Errorf("changes here were undone by a run with no change there: %q", got)
			}

			// After a restart (a new Manager on the same state), a change
			// back on the old side is followed too.
			oldStore(t, old, "INBOX", "read there", imap.StoreFlagsDel, imap.FlagSeen)
			m2, err := New(m.o)
			if err != nil {
				t.Fatal(err)
			}
			if res, err := m2.RunOnce(ctx, src.ID); err != nil || res.Updated != 1 {
				t.Fatalf("run after a restart: %+v %v", res, err)
			}
			if got := flagsOf(t, st, "INBOX")["read there"]; got != `\Flagged` {
				t.Errorf("after the old side marked it unread: %q", got)
			}

			// Finishing the move forgets the flag files.
			if _, err := m2.Finish(src.ID); err != nil {
				t.Fatal(err)
			}
			if left, _ := filepath.Glob(filepath.Join(m.o.Dir, "*.flags")); len(left) != 0 {
				t.Errorf("flag files left after Finish: %v", left)
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestFlagsAfterCrash: messages a crash left in the store without their
// record (found again by their bytes) have their flags followed too, and
// a lost flag file costs no message twice.
func TestFlagsAfterCrash(t *testing.T) {
	dc, st, m, src := startIMAPMove(t, dovecottest.Options{}, oldMail[:3])
	ctx := context.Background()
	if res, err := m.RunOnce(ctx, src.ID); err != nil || res.Fetched != 3 {
		t.Fatalf("first run: %+v %v", res, err)
	}
	// The power went before the last two were recorded, flags and all.
	m.update(src.ID, func(r *record) { r.Folders["INBOX"].LastUID -= 2 })
	if err := os.Remove(flagMapPath(m.o.Dir, src.ID, "INBOX")); err != nil {
		t.Fatal(err)
	}
	oldStore(t, oldClient(t, dc), "INBOX", "third", imap.StoreFlagsAdd, imap.FlagSeen)
	// The run after the crash finds them by their bytes, and takes the
	// flags they have here as what the last pull put there; the next run
	// follows what the old server has changed since.
	if res, err := m.RunOnce(ctx, src.ID); err != nil || res.Fetched != 0 {
		t.Fatalf("run after the crash: %+v %v", res, err)
	}
	if got := flagsOf(t, st, "INBOX"); len(got) != 3 {
		t.Errorf("INBOX after the crash run: %q", got)
	}
	oldStore(t, oldClient(t, dc), "INBOX", "third", imap.StoreFlagsAdd, imap.FlagFlagged)
	if res, err := m.RunOnce(ctx, src.ID); err != nil || res.Updated != 1 {
		t.Fatalf("run after that: %+v %v", res, err)
	}
	if got := flagsOf(t, st, "INBOX")["third"]; got != `\Flagged \Seen` {
		t.Errorf("a message found by its bytes does not follow the old flags: %q", got)
	}
}
