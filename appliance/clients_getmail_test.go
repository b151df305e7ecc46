package appliance

// TestClientGetmail drives getmail6 (Debian package getmail6, binary
// getmail), a real POP3 client that leaves mail on the server and deletes
// it later, against the whole appliance. getmail6 has no STLS: its POP3
// retrievers are plain (SimplePOP3Retriever) or implicit TLS
// (SimplePOP3SSLRetriever), so the TLS runs use port 995 (pop3s) and the
// plain port is only checked to refuse getmail's password in the clear.

import (
	"bytes"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"postroom/appliance/config"
	"postroom/internal/testutil"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// getmailBox is one getmail setup: its state directory (the oldmail file
// with the UIDLs it has seen lives there) and its Maildir destination.
type getmailBox struct {
	c       *clientRig
	dir     string // --getmaildir
	maildir string // destination, with cur/ new/ tmp/
	asUser  string // [destination] user, when getmail runs as root
}

func newGetmailBox(t *testing.T, c *clientRig) *getmailBox {
	t.Helper()
	g := &getmailBox{c: c, dir: t.TempDir(), maildir: filepath.Join(t.TempDir(), "Maildir")}
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		// getmail refuses to deliver as root ("refuse to deliver mail as
		// root"): its Maildir delivery child must switch to another user,
		// who needs a Maildir of its own outside the 0700 test folders.
		nobody, err := user.Lookup("nobody")
		if err != nil {
			t.Skipf("running as root and no user nobody for getmail to deliver as: %v", err)
		}
		uid, _ = strconv.Atoi(nobody.Uid)
		gid, _ = strconv.Atoi(nobody.Gid)
		root, err := os.MkdirTemp("", "getmail-maildir-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(root) })
		if err := os.Chmod(root, 0o711); err != nil {
			t.Fatal(err)
		}
		g.maildir, g.asUser = filepath.Join(root, "Maildir"), nobody.Username
	}
	// getmail delivers only into an existing Maildir.
	for _, sub := range []string{"", "cur", "new", "tmp"} {
		p := filepath.Join(g.maildir, sub)
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if uid >= 0 {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	return g
}

// rc writes a getmailrc. retriever is the [retriever] type; extra lines go
// to [retriever] (TLS options) and options to [options].
func (g *getmailBox) rc(t *testing.T, name, retriever, port, password, extra, options string) string {
	t.Helper()
	return writeConfig(t, name, fmt.Sprintf(`[retriever]
type = %s
server = 127.0.0.1
port = %s
username = %s
password = %s
timeout = 15
%s
[destination]
type = Maildir
path = %s/
%s

[options]
verbose = 2
message_log_verbose = true
%s
`, retriever, port, config.DemoUser, password, extra, g.maildir, getmailUserLine(g.asUser), options))
}

// getmailUserLine is the [destination] line that names the delivering
// user, or nothing.
func getmailUserLine(name string) string {
	if name == "" {
		return ""
	}
	return "user = " + name
}

// run runs getmail once with rc and returns its output and exit error.
// testdata/getmail/sitecustomize.py takes out a race in getmail's own
// wait for its delivery child (see there).
func (g *getmailBox) run(t *testing.T, rc string) (string, error) {
	t.Helper()
	fix, err := filepath.Abs(filepath.Join("testdata", "getmail"))
	if err != nil {
		t.Fatal(err)
	}
	return g.c.run(t, "", "env", "PYTHONPATH="+fix, "PYTHONDONTWRITEBYTECODE=1", "getmail", "--getmaildir", g.dir, "--rcfile", rc)
}

// fetch runs getmail with rc, which must succeed, and checks that it
// delivered exactly the messages with the subjects want (in any order).
// It returns getmail's output.
func (g *getmailBox) fetch(t *testing.T, rc string, want ...string) string {
	t.Helper()
	before := g.files(t)
	out, err := g.run(t, rc)
	if err != nil {
		t.Fatalf("getmail --rcfile %s: %v; output:\n%s\nserver log:\n%s", filepath.Base(rc), err, out, g.c.serverLog())
	}
	var got []string
	for name, text := range g.files(t) {
		if _, ok := before[name]; !ok {
			got = append(got, getmailSubject(text))
		}
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("getmail --rcfile %s delivered %q; want %q; output:\n%s", filepath.Base(rc), got, want, out)
	}
	return out
}

// files maps each message file in the Maildir (new/ and cur/) to its text.
func (g *getmailBox) files(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(g.maildir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(g.maildir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[sub+"/"+e.Name()] = string(b)
		}
	}
	return out
}

// oldmail is the path of getmail's only oldmail file (the UIDLs it has
// seen, each with the time it first saw it), or "" when there is none.
func (g *getmailBox) oldmail(t *testing.T) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(g.dir, "oldmail-*"))
	if err != nil || len(m) > 1 {
		t.Fatalf("oldmail files %q: %v", m, err)
	}
	if len(m) == 0 {
		return ""
	}
	return m[0]
}

// getmailReadOldmail parses an oldmail file: one "UIDL NUL unix-time"
// line per message getmail has seen.
func getmailReadOldmail(t *testing.T, path string) map[string]int64 {
	t.Helper()
	if path == "" {
		t.Fatal("getmail wrote no oldmail file")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		id, when, ok := strings.Cut(l, "\x00")
		n, err := strconv.ParseInt(when, 10, 64)
		if !ok || err != nil {
			t.Fatalf("oldmail line %q is not UIDL NUL time", l)
		}
		out[id] = n
	}
	return out
}

// getmailWriteOldmail writes uidls as an oldmail file.
func getmailWriteOldmail(t *testing.T, path string, uidls map[string]int64) {
	t.Helper()
	var b strings.Builder
	for id, when := range uidls {
		fmt.Fprintf(&b, "%s\x00%d\n", id, when)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// getmailSubject is the Subject of a delivered message, "" if none.
func getmailSubject(text string) string {
	head, _, _ := strings.Cut(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n")
	for _, l := range strings.Split(head, "\n") {
		if s, ok := strings.CutPrefix(l, "Subject: "); ok {
			return s
		}
	}
	return ""
}

// getmailWaitSeen polls INBOX (bounded: 10 s) until exactly the messages
// with the subjects in seen carry \Seen: the appliance writes POP3
// download marks a moment (up to 250 ms) after the RETR reply.
func getmailWaitSeen(t *testing.T, c *clientRig, ic *imapclient.Client, seen ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var have []string
		msgs := messages(t, ic, "INBOX")
		for _, m := range msgs {
			if slices.Contains(m.flags, imap.FlagSeen) {
				have = append(have, m.subject)
			}
		}
		slices.Sort(have)
		want := slices.Sorted(slices.Values(seen))
		if slices.Equal(have, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("\\Seen in INBOX on %q; want exactly %q\nserver log:\n%s", have, want, c.serverLog())
		}
		<-time.After(50 * time.Millisecond)
	}
}

// TestClientGetmail: getmail6 over POP3S, verifying the appliance's
// certificate (ca_certs = DATA/tls/cert.pem; a foreign CA is refused):
//  1. delete = false, read_all = false: three messages arrive in the
//     Maildir and stay on the server; a second run fetches nothing (the
//     UIDLs in its oldmail file still match: UIDL is stable across
//     sessions); a fourth message is the only one the next run fetches.
//  2. Every message getmail retrieved is \Seen for IMAP, and only those.
//  3. A wrong password fails with the server's -ERR [AUTH] in getmail's
//     output; nothing is fetched, nothing changes on the server (a newly
//     arrived message stays un-\Seen) or in the oldmail file.
//  4. Later delete: delete_after = 1 (days) deletes the messages getmail
//     first saw over a day ago and keeps the newer ones. getmail decides
//     this from the times in its own oldmail file, so setting those back
//     two days replaces waiting; the deletion itself is POP3 DELE + QUIT.
//     delete = true then empties INBOX, which IMAP sees.
//
// TestClientGetmailNoSTLS covers the plain POP3 port.
func TestClientGetmail(t *testing.T) {
	c := newClientRig(t, "getmail")
	ic := c.imap(t)
	g := newGetmailBox(t, c)
	pop3s := c.port(t, ServicePOP3S)
	verify := "ca_certs = " + c.cert + "\n"
	keep := g.rc(t, "keep.rc", "SimplePOP3SSLRetriever", pop3s, c.password, verify, "delete = false\nread_all = false\n")

	// The certificate check is real: with another CA getmail stops before
	// logging in, and nothing is fetched or marked.
	appendMessage(t, ic, "INBOX", "getmail one", "first\r\n")
	appendMessage(t, ic, "INBOX", "getmail two", "second\r\n")
	appendMessage(t, ic, "INBOX", "getmail three", "third\r\n")
	// A certificate that did not sign the appliance's: trusting only it
	// must make getmail refuse.
	otherCA, _ := testutil.PEMFiles(t, "not-the-appliance.test", t.TempDir())
	foreign := g.rc(t, "foreign.rc", "SimplePOP3SSLRetriever", pop3s, c.password,
		"ca_certs = "+otherCA+"\n", "delete = false\nread_all = false\n")
	if out, err := g.run(t, foreign); err == nil || !strings.Contains(out, "CERTIFICATE_VERIFY_FAILED") || len(g.files(t)) != 0 {
		t.Fatalf("getmail trusting a foreign CA: err %v, %d files; want a certificate failure; output:\n%s", err, len(g.files(t)), out)
	}

	// 1. Leave on server, fetch only new mail.
	out := g.fetch(t, keep, "getmail one", "getmail two", "getmail three")
	if !strings.Contains(out, "3 messages") {
		t.Errorf("first run does not report 3 messages:\n%s", out)
	}
	waitCount(t, c, ic, "INBOX", 3)
	oldmail := g.oldmail(t)
	firstUIDLs := getmailReadOldmail(t, oldmail)
	if len(firstUIDLs) != 3 {
		t.Fatalf("oldmail after the first run holds %d UIDLs; want 3; output:\n%s", len(firstUIDLs), out)
	}
	out = g.fetch(t, keep) // nothing new: every UIDL is in oldmail
	if !strings.Contains(out, "0 messages") || !strings.Contains(out, "3 skipped") {
		t.Errorf("second run does not report 0 messages and 3 skipped:\n%s", out)
	}
	waitCount(t, c, ic, "INBOX", 3)
	appendMessage(t, ic, "INBOX", "getmail four", "fourth\r\n")
	g.fetch(t, keep, "getmail four")
	waitCount(t, c, ic, "INBOX", 4)
	uidls := getmailReadOldmail(t, oldmail)
	for id, when := range firstUIDLs {
		if uidls[id] != when {
			t.Errorf("UIDL %s of the first run is gone from oldmail after the third: %v", id, uidls)
		}
	}
	if len(uidls) != 4 {
		t.Errorf("oldmail holds %d UIDLs after the third run; want 4: %v", len(uidls), uidls)
	}
	// The bodies arrive intact (getmail stores them with LF line ends).
	bodies := map[string]string{"getmail one": "first", "getmail two": "second", "getmail three": "third", "getmail four": "fourth"}
	for name, text := range g.files(t) {
		if body := bodies[getmailSubject(text)]; !strings.HasSuffix(text, "\n\n"+body+"\n") {
			t.Errorf("%s does not end with its body %q:\n%s", name, body, text)
		}
	}

	// 2. RETR marks \Seen for IMAP.
	getmailWaitSeen(t, c, ic, "getmail one", "getmail two", "getmail three", "getmail four")

	// 3. A wrong password: a clear error, no change anywhere, although
	// this rc would fetch everything and delete it.
	appendMessage(t, ic, "INBOX", "getmail five", "fifth\r\n")
	bad := g.rc(t, "bad.rc", "SimplePOP3SSLRetriever", pop3s, "not-the-password", verify, "delete = true\nread_all = true\n")
	before, err := os.ReadFile(oldmail)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err = g.run(t, bad)
	t.Logf("getmail with a wrong password failed after %v:\n%s", time.Since(start).Round(10*time.Millisecond), out)
	if err == nil || !strings.Contains(out, "-ERR [AUTH]") {
		t.Errorf("getmail with a wrong password: err %v; want a failure naming -ERR [AUTH]; output:\n%s", err, out)
	}
	if n := len(g.files(t)); n != 4 {
		t.Errorf("after the wrong password the Maildir holds %d messages; want 4", n)
	}
	if after, _ := os.ReadFile(oldmail); !bytes.Equal(after, before) {
		t.Errorf("the wrong password changed the oldmail file:\n%q\nwas\n%q", after, before)
	}
	waitCount(t, c, ic, "INBOX", 5)
	getmailWaitSeen(t, c, ic, "getmail one", "getmail two", "getmail three", "getmail four")

	// 4. Later delete. getmail deletes a message once the time it first
	// saw its UIDL (in oldmail) is delete_after days past: set the first
	// three back two days, the client's clock being the one that counts.
	for id := range firstUIDLs {
		uidls[id] = time.Now().Add(-48 * time.Hour).Unix()
	}
	getmailWriteOldmail(t, oldmail, uidls)
	later := g.rc(t, "later.rc", "SimplePOP3SSLRetriever", pop3s, c.password, verify, "delete = false\nread_all = false\ndelete_after = 1\n")
	out = g.fetch(t, later, "getmail five")
	if msgs := waitCount(t, c, ic, "INBOX", 2); !slices.Equal(subjects(msgs), []string{"getmail four", "getmail five"}) {
		t.Fatalf("INBOX after delete_after = 1: %q; want the two first fetched today; output:\n%s", subjects(msgs), out)
	}
	getmailWaitSeen(t, c, ic, "getmail four", "getmail five")

	flush := g.rc(t, "flush.rc", "SimplePOP3SSLRetriever", pop3s, c.password, verify, "delete = true\nread_all = false\n")
	out = g.fetch(t, flush)
	if msgs := waitCount(t, c, ic, "INBOX", 0); len(msgs) != 0 {
		t.Fatalf("INBOX after delete = true: %q; output:\n%s", subjects(msgs), out)
	}
	var all []string
	for _, text := range g.files(t) {
		all = append(all, getmailSubject(text))
	}
	slices.Sort(all)
	if want := []string{"getmail five", "getmail four", "getmail one", "getmail three", "getmail two"}; !slices.Equal(all, want) {
		t.Errorf("the Maildir holds %q; want each message once: %q", all, want)
	}
}

// TestClientGetmailNoSTLS: getmail6 cannot do STLS. With plaintext logins
// off (the production setting), its plain POP3 retriever on port 110 is
// refused before PASS with the server's advice to use TLS, and nothing on
// the server changes.
func TestClientGetmailNoSTLS(t *testing.T) {
	c := newClientRigWith(t, func(cfg *config.Config) { cfg.AllowPlaintextAuthLAN = false }, "getmail")
	ic := c.imap(t)
	appendMessage(t, ic, "INBOX", "getmail plain", "plain\r\n")
	g := newGetmailBox(t, c)
	rc := g.rc(t, "plain.rc", "SimplePOP3Retriever", c.port(t, ServicePOP3), c.password, "", "delete = true\nread_all = true\n")
	out, err := g.run(t, rc)
	t.Logf("getmail in the clear:\n%s", out)
	if err == nil || !strings.Contains(out, "log in over TLS") {
		t.Errorf("getmail in the clear: err %v; want a refusal naming TLS; output:\n%s", err, out)
	}
	if n := len(g.files(t)); n != 0 {
		t.Errorf("getmail in the clear fetched %d messages", n)
	}
	waitCount(t, c, ic, "INBOX", 1)
	getmailWaitSeen(t, c, ic)
}
