package appliance

import (
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"postroom/appliance/config"
	"postroom/appliance/status"
	"postroom/internal/testutil"
)

// The fault from issue 10, end to end: the disk fills (mail, then another
// program's file), SMTP answers 452, the status shows the full disk; the
// user deletes mail over IMAP (STORE \Deleted, EXPUNGE), the box gives the
// space back by itself, says so, and accepts mail again.
func TestDeletingMailOverIMAPFreesAFullDisk(t *testing.T) {
	disk := testutil.SmallDisk(t, 256<<20)
	cfg := config.DevDefault(disk)
	cfg.Listen = config.Listeners{SMTP: "127.0.0.1:0", IMAPS: "127.0.0.1:0"}
	r, password := startDemo(t, cfg)
	mx := r.addr(t, ServiceSMTP)

	line := strings.Repeat("x", 76) + "\r\n"
	send := func(i int) error {
		c, err := smtp.Dial(mx)
		if err != nil {
			return err
		}
		defer c.Close()
		body := fmt.Sprintf("From: <far@example.org>\r\nTo: <%s>\r\nSubject: %d\r\n\r\n%s", config.DemoUser, i, strings.Repeat(line, (1<<20)/len(line)))
		return c.SendMail("far@example.org", []string{config.DemoUser}, strings.NewReader(body))
	}
	const kept, sent = 2, 40
	for i := range sent {
		if err := send(i); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if _, err := testutil.FillDisk(filepath.Join(disk, "filler")); err != nil {
		t.Fatal(err)
	}
	var se *smtp.SMTPError
	if err := send(sent); !errors.As(err, &se) || se.Code != 452 {
		t.Fatalf("a message on a full disk: %v; want 452", err)
	}
	notes, stop := r.bus.Subscribe()
	defer stop()
	waitFor := func(what string, ok func(status.Snapshot) bool) {
		t.Helper()
		deadline := time.After(30 * time.Second) // a bound, not a measurement
		for s := r.bus.Latest(); !ok(s); s = r.bus.Latest() {
			select {
			case <-notes:
			case <-deadline:
				t.Fatalf("the status never showed %s: disk %+v, problem %q", what, s.Disk, s.Problem)
			}
		}
	}
	waitFor("the full disk", func(s status.Snapshot) bool { return s.Disk.RefusingMail && s.Problem == s.Disk.Problem() })

	c, err := imapclient.DialTLS(r.addr(t, "imaps"), &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(config.DemoUser, password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var old imap.SeqSet
	old.AddRange(1, sent-kept) // the newest are in the value-log file Badger is writing
	if err := c.Store(old, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	waitFor("space reclaimed", func(s status.Snapshot) bool {
		return !s.Disk.ReclaimedAt.IsZero() && !s.Disk.RefusingMail && !strings.Contains(s.Problem, status.DiskFullProblem)
	})
	s := r.bus.Latest()
	t.Logf("reclaimed %d bytes at %v", s.Disk.ReclaimedBytes, s.Disk.ReclaimedAt)
	if err := send(sent + 1); err != nil {
		t.Errorf("a message after deleting mail: %v", err)
	}
}
