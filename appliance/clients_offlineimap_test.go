package appliance

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"postroom/appliance/config"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestClientOfflineimap: offlineimap (Debian's offlineimap3), a real
// two-way sync client, mirrors the demo account over IMAPS into Maildirs,
// verifying the appliance's certificate:
//
//  1. the first sync brings every folder down (INBOX, a folder made over
//     IMAP and the default Sent, Drafts, Junk, Trash, Archive), each with
//     the server's message count;
//  2. local changes go up: S and F in a file's Maildir info become \Seen
//     and \Flagged, T becomes \Deleted, a removed file is expunged, a new
//     file is appended and a new local folder is created with its message;
//  3. server changes come down: a message appended and \Flagged set over
//     IMAP show in the Maildir;
//  4. a sync with nothing to do changes nothing on either side.
func TestClientOfflineimap(t *testing.T) {
	c := newClientRig(t, "offlineimap")
	ic := c.imap(t)
	for _, s := range []string{"oi one", "oi two", "oi three", "oi four"} {
		appendMessage(t, ic, "INBOX", s, "body of "+s+"\r\n")
	}
	if err := ic.Create("Lists", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMessage(t, ic, "Lists", "oi list", "list mail\r\n")
	// The server's hierarchy delimiter is "/"; offlineimap turns it into
	// its Maildir separator (sep, "." by default): Lists/go is Lists.go.
	if err := ic.Create("Lists/go", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMessage(t, ic, "Lists/go", "oi nested", "nested mail\r\n")
	appendMessage(t, ic, "Archive", "oi old", "archived\r\n")

	mail := filepath.Join(t.TempDir(), "mail")
	// offlineimap matches the certificate against its common name and DNS
	// names only (imapserver.py __verifycert ignores IP addresses), so it
	// connects to "localhost", which the certificate names; sslcacertfile
	// makes it verify the chain against exactly that certificate.
	// maxconnections 1: one connection keeps the server log readable and
	// the order of operations fixed. Everything else is the default:
	// offlineimap learns the "/" delimiter from LIST, creates folders on
	// both sides (createfolders) and needs no nametrans for this server.
	rc := writeConfig(t, "offlineimaprc", fmt.Sprintf(`[general]
accounts = demo
metadata = %s

[Account demo]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = %s

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = %s
ssl = yes
sslcacertfile = %s
remoteuser = %s
remotepass = %s
maxconnections = 1
`, filepath.Join(c.home, "offlineimap"), mail, c.port(t, ServiceIMAPS), c.cert, config.DemoUser,
		strings.ReplaceAll(c.password, "%", "%%"))) // configparser interpolates %
	// sync runs one one-shot sync (-o) with the plain line-by-line UI.
	// offlineimap exits 1 when a run fails; "ERROR" also catches a
	// message it could not copy while the run went on. The output is
	// logged, so that it is there when a later check fails.
	sync := func() {
		t.Helper()
		out, err := c.run(t, "", "offlineimap", "-c", rc, "-o", "-u", "basic")
		if err != nil || strings.Contains(out, "ERROR") {
			t.Fatalf("offlineimap: %v\n%s\nserver log:\n%s", err, out, c.serverLog())
		}
		t.Logf("offlineimap:\n%s", out)
	}
	// local lists the Maildir files of a folder, new/ and cur/.
	local := func(folder string) []string {
		t.Helper()
		var files []string
		for _, sub := range []string{"new", "cur"} {
			ents, err := os.ReadDir(filepath.Join(mail, folder, sub))
			if err != nil {
				t.Fatalf("Maildir %s: %v", folder, err)
			}
			for _, e := range ents {
				files = append(files, filepath.Join(mail, folder, sub, e.Name()))
			}
		}
		return files
	}
	// find returns the local file holding subject.
	find := func(folder, subject string) string {
		t.Helper()
		re := regexp.MustCompile(`(?m)^Subject: ` + regexp.QuoteMeta(subject) + `\r?$`)
		for _, f := range local(folder) {
			if b, err := os.ReadFile(f); err == nil && re.Match(b) {
				return f
			}
		}
		t.Fatalf("no %q in local %s (%q)", subject, folder, local(folder))
		return ""
	}
	// same checks that a folder (by its local name) holds n messages on
	// both sides.
	same := func(folder string, n int) {
		t.Helper()
		if got := len(local(folder)); got != n {
			t.Errorf("local %s has %d messages; want %d", folder, got, n)
		}
		waitCount(t, c, ic, strings.ReplaceAll(folder, ".", "/"), n)
	}

	// 1. First sync.
	sync()
	for folder, n := range map[string]int{"INBOX": 4, "Lists": 1, "Lists.go": 1, "Archive": 1,
		"Sent": 0, "Drafts": 0, "Junk": 0, "Trash": 0} {
		same(folder, n)
	}
	find("Lists", "oi list")
	find("Lists.go", "oi nested")
	find("Archive", "oi old")

	// 2. Local changes. A Maildir file's flags are the letters after
	// ":2,"; a file in new/ moves to cur/ when it gets flags.
	mark := func(subject, flags string) {
		t.Helper()
		f := find("INBOX", subject)
		base, _, _ := strings.Cut(filepath.Base(f), ":2,")
		if err := os.Rename(f, filepath.Join(mail, "INBOX", "cur", base+":2,"+flags)); err != nil {
			t.Fatal(err)
		}
	}
	mark("oi one", "S")
	mark("oi two", "F")
	// T is only \Deleted on the server: offlineimap expunges what it
	// deletes itself (the removed file), not what carries the flag.
	mark("oi four", "T")
	if err := os.Remove(find("INBOX", "oi three")); err != nil {
		t.Fatal(err)
	}
	// New local messages have no ",U=" in their names: offlineimap
	// uploads them and renames them with the server's UID.
	write := func(folder, name, subject, body string) {
		t.Helper()
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(mail, folder, sub), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		msg := "From: " + config.DemoUser + "\nTo: someone@elsewhere.test\nSubject: " + subject + "\n\n" + body
		if err := os.WriteFile(filepath.Join(mail, folder, "new", name), []byte(msg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("INBOX", "1700000000.local1.client", "oi local", "written locally\n")
	write("Projects", "1700000000.local2.client", "oi project", "plans\n")
	write("Projects.2027", "1700000000.local3.client", "oi plan", "later\n") // Projects/2027 on the server
	sync()

	byFlags := map[string]struct{ want, not []imap.Flag }{
		"oi one":   {want: []imap.Flag{imap.FlagSeen}, not: []imap.Flag{imap.FlagFlagged, imap.FlagDeleted}},
		"oi two":   {want: []imap.Flag{imap.FlagFlagged}, not: []imap.Flag{imap.FlagSeen, imap.FlagDeleted}},
		"oi four":  {want: []imap.Flag{imap.FlagDeleted}, not: []imap.Flag{imap.FlagSeen}},
		"oi local": {not: []imap.Flag{imap.FlagSeen, imap.FlagDeleted}},
	}
	msgs := waitCount(t, c, ic, "INBOX", 4)
	if s := subjects(msgs); !slices.Equal(s, []string{"oi one", "oi two", "oi four", "oi local"}) {
		t.Fatalf("server INBOX after the local changes: %q; want oi three expunged, oi local appended", s)
	}
	for _, m := range msgs {
		for _, f := range byFlags[m.subject].want {
			if !slices.Contains(m.flags, f) {
				t.Errorf("server %q has flags %v; want %s", m.subject, m.flags, f)
			}
		}
		for _, f := range byFlags[m.subject].not {
			if slices.Contains(m.flags, f) {
				t.Errorf("server %q has flags %v; want no %s", m.subject, m.flags, f)
			}
		}
	}
	// The appended message is the local file with CRLF line ends.
	if !bytes.HasSuffix(msgs[3].whole, []byte("\r\n\r\nwritten locally\r\n")) {
		t.Errorf("oi local on the server: %q", msgs[3].whole)
	}
	if p := waitCount(t, c, ic, "Projects", 1); p[0].subject != "oi project" {
		t.Errorf("Projects on the server: %q", subjects(p))
	}
	if p := waitCount(t, c, ic, "Projects/2027", 1); p[0].subject != "oi plan" {
		t.Errorf("Projects/2027 on the server: %q", subjects(p))
	}
	// offlineimap renamed the uploaded file with the UID the server gave.
	if f := find("INBOX", "oi local"); !strings.Contains(filepath.Base(f), ",U=") {
		t.Errorf("uploaded file %s has no UID in its name", filepath.Base(f))
	}

	// 3. Server changes: a new message, and \Flagged on one read locally.
	appendMessage(t, ic, "INBOX", "oi five", "from the server\r\n")
	addFlag(t, ic, "INBOX", 1, imap.FlagFlagged)
	sync()
	if f := find("INBOX", "oi one"); !strings.HasSuffix(f, ":2,FS") {
		t.Errorf("oi one locally is %s; want the flags FS", filepath.Base(f))
	}
	if b, err := os.ReadFile(find("INBOX", "oi five")); err != nil || !regexp.MustCompile(`\r?\n\r?\nfrom the server\r?\n$`).Match(b) {
		t.Errorf("oi five locally: %q, %v", b, err)
	}

	// 4. Nothing changed: a sync keeps every folder as it is on both
	// sides, file names (UIDs and flags) included.
	want := map[string]int{"INBOX": 5, "Lists": 1, "Lists.go": 1, "Archive": 1, "Projects": 1, "Projects.2027": 1,
		"Sent": 0, "Drafts": 0, "Junk": 0, "Trash": 0}
	var before []string
	for folder := range want {
		before = append(before, local(folder)...)
	}
	serverBefore := messages(t, ic, "INBOX")
	sync()
	var after []string
	for folder, n := range want {
		same(folder, n)
		after = append(after, local(folder)...)
	}
	slices.Sort(before)
	slices.Sort(after)
	if !slices.Equal(before, after) {
		t.Errorf("an idle sync changed the Maildir:\nbefore %q\nafter  %q", before, after)
	}
	serverAfter := messages(t, ic, "INBOX")
	if len(serverAfter) != len(serverBefore) {
		t.Fatalf("an idle sync changed the server INBOX from %q to %q", subjects(serverBefore), subjects(serverAfter))
	}
	for i := range serverAfter {
		if serverAfter[i].subject != serverBefore[i].subject || !slices.Equal(serverAfter[i].flags, serverBefore[i].flags) {
			t.Errorf("an idle sync changed server message %d: %q %v, was %q %v", i+1,
				serverAfter[i].subject, serverAfter[i].flags, serverBefore[i].subject, serverBefore[i].flags)
		}
	}
}
