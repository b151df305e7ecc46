package appliance

// Real Debian mail clients against the whole appliance (issues: "expect the
// server to be checked with real mail sync clients, real POP3 clients that
// leave mail on the server and later delete it, real SMTP clients"):
//
//	TestClientMsmtp      msmtp submits on 587 (STARTTLS) and 465 (TLS) with AUTH
//	TestClientFetchmail  fetchmail keeps mail on the server (UIDL), then deletes it
//	TestClientMbsync     mbsync (isync) syncs every folder both ways over IMAPS
//	TestClientSnail      s-nail lists and deletes over IMAPS and sends on 587
//
// Each client runs with HOME in a temp folder, its configuration in a temp
// file and a timeout; outcomes are checked through IMAP (go-imap's
// imapclient), never only through the client's exit status. The clients
// trust DATA/tls/cert.pem, the appliance's self-signed certificate, which
// names 127.0.0.1. A missing binary skips the test: `make deps` installs
// them (Debian packages msmtp, fetchmail, isync, s-nail).

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"postroom/appliance/config"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// clientRig is one running appliance with every mail service on loopback
// and a sandbox for an external client.
type clientRig struct {
	r        *running
	password string
	cert     string // DATA/tls/cert.pem
	home     string // HOME of the clients
	user     string // USER and LOGNAME of the clients: s-nail warns unless they are the real ones
}

// newClientRig skips unless every named binary is installed, then starts
// the demo appliance with all mail services on 127.0.0.1:0.
func newClientRig(t *testing.T, binaries ...string) *clientRig {
	t.Helper()
	return newClientRigWith(t, nil, binaries...)
}

// newClientRigWith is newClientRig with mod applied to the config first.
func newClientRigWith(t *testing.T, mod func(*config.Config), binaries ...string) *clientRig {
	t.Helper()
	for _, b := range binaries {
		if _, err := exec.LookPath(b); err != nil {
			pkg := map[string]string{"mbsync": "isync", "offlineimap": "offlineimap3", "getmail": "getmail6"}[b]
			if pkg == "" {
				pkg = b
			}
			t.Skipf("%s is not installed: `make deps`, or on Debian `apt-get install -y %s`", b, pkg)
		}
	}
	cfg := testConfig(t)
	lo := "127.0.0.1:0"
	cfg.Listen = config.Listeners{SMTP: lo, Submission: lo, Submissions: lo, IMAP: lo, IMAPS: lo, POP3: lo, POP3S: lo}
	if mod != nil {
		mod(&cfg)
	}
	r, pw := startDemo(t, cfg)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return &clientRig{r: r, password: pw, cert: filepath.Join(cfg.DataDir, "tls", "cert.pem"), home: t.TempDir(), user: me.Username}
}

// port is the bound port of a service, for client configs that want it apart.
func (c *clientRig) port(t *testing.T, service string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(c.r.addr(t, service))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// writeConfig writes a client's configuration 0600 (msmtp and fetchmail
// refuse a password file others can read) and returns its path.
func writeConfig(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs one client with stdin, a 20 s limit and HOME in the sandbox, and
// returns its combined output and exit error.
func (c *clientRig) run(t *testing.T, stdin string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = []string{"HOME=" + c.home, "PATH=" + os.Getenv("PATH"), "LC_ALL=C", "TMPDIR=" + c.home,
		"FETCHMAILHOME=" + c.home, "MAILRC=/dev/null", "NAILRC=/dev/null", "USER=" + c.user, "LOGNAME=" + c.user}
	cmd.Dir = c.home
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s timed out; output:\n%s\nserver log:\n%s", name, c.redact(args), out.String(), c.serverLog())
	}
	return out.String(), err
}

// redact joins a command line without the demo password (s-nail takes it
// in a URL).
func (c *clientRig) redact(args []string) string {
	return strings.ReplaceAll(strings.Join(args, " "), c.password, "PASSWORD")
}

// mustRun is run that fails the test unless the client exits 0.
func (c *clientRig) mustRun(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	out, err := c.run(t, stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v; output:\n%s", name, c.redact(args), err, out)
	}
	return out
}

// imap logs the demo user in over IMAPS, verifying the appliance's
// certificate, and selects INBOX.
func (c *clientRig) imap(t *testing.T) *imapclient.Client {
	t.Helper()
	pemBytes, err := os.ReadFile(c.cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	ic, err := imapclient.DialTLS(c.r.addr(t, ServiceIMAPS), &imapclient.Options{TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ic.Close() })
	if err := ic.Login(config.DemoUser, c.password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	return ic
}

// appendMessage files a message with the given subject and body in mailbox
// through IMAP APPEND.
func appendMessage(t *testing.T, ic *imapclient.Client, mailbox, subject, body string) {
	t.Helper()
	appendFrom(t, ic, mailbox, "Someone <someone@elsewhere.test>", subject, body)
}

// appendFrom is appendMessage with the From field given.
func appendFrom(t *testing.T, ic *imapclient.Client, mailbox, from, subject, body string) {
	t.Helper()
	msg := "From: " + from + "\r\nTo: " + config.DemoUser + "\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@elsewhere.test>\r\n\r\n" + body
	cmd := ic.Append(mailbox, int64(len(msg)), nil)
	if _, err := cmd.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("APPEND %q to %s: %v", subject, mailbox, err)
	}
}

// addFlag selects mailbox and adds flag to message seq, as another
// client (a phone, webmail) would.
func addFlag(t *testing.T, ic *imapclient.Client, mailbox string, seq uint32, flag imap.Flag) {
	t.Helper()
	if _, err := ic.Select(mailbox, nil).Wait(); err != nil {
		t.Fatalf("SELECT %s: %v", mailbox, err)
	}
	op := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{flag}, Silent: true}
	if err := ic.Store(imap.SeqSetNum(seq), op, nil).Close(); err != nil {
		t.Fatalf("STORE %d +FLAGS %s in %s: %v", seq, flag, mailbox, err)
	}
}

// listed is one message as IMAP shows it.
type listed struct {
	subject string
	flags   []imap.Flag
	whole   []byte
}

// messages returns every message in mailbox (which it leaves selected),
// in order, with flags and full text (peeked: \Seen stays as it was).
func messages(t *testing.T, ic *imapclient.Client, mailbox string) []listed {
	t.Helper()
	sel, err := ic.Select(mailbox, nil).Wait()
	if err != nil {
		t.Fatalf("SELECT %s: %v", mailbox, err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	var all imap.SeqSet
	all.AddRange(1, sel.NumMessages)
	msgs, err := ic.Fetch(all, &imap.FetchOptions{
		Flags: true, Envelope: true, BodySection: []*imap.FetchItemBodySection{section},
	}).Collect()
	if err != nil {
		t.Fatalf("FETCH in %s: %v", mailbox, err)
	}
	var out []listed
	for _, m := range msgs {
		out = append(out, listed{subject: m.Envelope.Subject, flags: m.Flags, whole: m.FindBodySection(section)})
	}
	return out
}

// waitCount polls STATUS (bounded: 10 s) until mailbox holds n messages and
// returns them.
func waitCount(t *testing.T, c *clientRig, ic *imapclient.Client, mailbox string, n int) []listed {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := ic.Status(mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			t.Fatalf("STATUS %s: %v", mailbox, err)
		}
		if int(*st.NumMessages) == n {
			return messages(t, ic, mailbox)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d messages; want %d\nserver log:\n%s", mailbox, *st.NumMessages, n, c.serverLog())
		}
		<-time.After(50 * time.Millisecond)
	}
}

// serverLog is the appliance's log without the store's debug chatter.
func (c *clientRig) serverLog() string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(c.r.log.String(), "\n") {
		if !strings.Contains(l, "component=storage") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// subjects lists the subjects of msgs, in order.
func subjects(msgs []listed) []string {
	var s []string
	for _, m := range msgs {
		s = append(s, m.subject)
	}
	return s
}

// TestClientMsmtp: msmtp, a real SMTP submission client, sends with AUTH
// over 587 STARTTLS (to the demo user and its plus-address) and over 465
// TLS, verifying the appliance's certificate; each message lands in INBOX
// with its body byte for byte (CRLF, dot-stuffing undone, trailing blanks
// and tabs kept). A wrong password is refused with 535 and delivers nothing.
func TestClientMsmtp(t *testing.T) {
	c := newClientRig(t, "msmtp")
	ic := c.imap(t)
	account := func(name, port, starttls, password string) string {
		return fmt.Sprintf("account %s\nhost 127.0.0.1\nport %s\ntls on\ntls_starttls %s\ntls_trust_file %s\n"+
			"auth on\nuser %s\npassword %s\nfrom %s\n\n", name, port, starttls, c.cert, config.DemoUser, password, config.DemoUser)
	}
	rc := writeConfig(t, "msmtprc", "defaults\nlogfile -\n\n"+
		account("sub", c.port(t, ServiceSubmission), "on", c.password)+
		account("subs", c.port(t, ServiceSubmissions), "off", c.password)+
		account("bad", c.port(t, ServiceSubmission), "on", "not-the-password"))

	// msmtp turns LF into CRLF and dot-stuffs; the server must undo the
	// stuffing and keep everything else.
	body := "Line one\n.a leading dot\n..two dots\n.\ntrailing blanks   \n\ttab first\n\nlast\n"
	wantBody := strings.ReplaceAll(body, "\n", "\r\n")
	send := func(acct, subject string, rcpts ...string) (string, error) {
		msg := "From: Demo <" + config.DemoUser + ">\nTo: " + strings.Join(rcpts, ", ") + "\nSubject: " + subject + "\n\n" + body
		return c.run(t, msg, "msmtp", append([]string{"-C", rc, "-a", acct}, rcpts...)...)
	}
	if out, err := send("sub", "via 587", config.DemoUser, "demo+x@example.test"); err != nil {
		t.Fatalf("msmtp on 587: %v\n%s\nserver log:\n%s", err, out, c.serverLog())
	}
	if out, err := send("subs", "via 465", config.DemoUser); err != nil {
		t.Fatalf("msmtp on 465: %v\n%s\nserver log:\n%s", err, out, c.serverLog())
	}
	// Both RCPTs were accepted (msmtp exits 0); the two addresses are one
	// mailbox, which gets one copy.
	got := waitCount(t, c, ic, "INBOX", 2)
	t.Logf("INBOX: %q", subjects(got))
	for _, m := range got {
		_, b, ok := bytes.Cut(m.whole, []byte("\r\n\r\n"))
		if !ok || string(b) != wantBody {
			t.Errorf("%q: body %q; want %q", m.subject, b, wantBody)
		}
	}
	if s := subjects(got); !slices.Equal(s, []string{"via 587", "via 465"}) {
		t.Errorf("INBOX subjects %q; want one copy from 587, then 465", s)
	}

	out, err := send("bad", "never", config.DemoUser)
	if err == nil || !strings.Contains(out, "535") {
		t.Errorf("msmtp with a wrong password: %v; want a failure naming 535:\n%s", err, out)
	}
	if st, err := ic.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil || *st.NumMessages != 2 {
		t.Errorf("INBOX after the refused login: %v, %v; want still 2", st, err)
	}
	if strings.Contains(c.r.log.String(), c.password) {
		t.Error("the password appears in the server log")
	}
}

// TestClientFetchmail: fetchmail, a real POP3 client, leaves mail on the
// server and later deletes it. With keep and UIDL it fetches the two
// messages over POP3S, then nothing on a second run (the UIDs are
// remembered), then only a newly arrived third one over POP3 with STLS;
// a final flush run deletes all three, and IMAP sees INBOX empty.
func TestClientFetchmail(t *testing.T) {
	c := newClientRig(t, "fetchmail")
	ic := c.imap(t)
	appendMessage(t, ic, "INBOX", "pop one", "first\r\n")
	appendMessage(t, ic, "INBOX", "pop two", "second\r\n")

	got := filepath.Join(t.TempDir(), "got")
	if err := os.Mkdir(got, 0o700); err != nil {
		t.Fatal(err)
	}
	// The MDA stores each message in a file of its own, so that the test
	// counts what each run fetched.
	mda := writeConfig(t, "mda.sh", "#!/bin/sh\nexec cat > \"$(mktemp "+got+"/msg.XXXXXX)\"\n")
	idfile := filepath.Join(c.home, "fetchids")
	// fetchmail matches the certificate's names, not its IP addresses:
	// sslcommonname tells it the name to expect for 127.0.0.1.
	poll := func(service, tlsMode string) string {
		return fmt.Sprintf("set no syslog\npoll 127.0.0.1 service %s protocol pop3 uidl auth password\n"+
			"  user %q there with password %q is %s here\n"+
			"  %s sslcertfile %q sslcertck sslcommonname localhost\n  mda \"sh %s\"\n",
			c.port(t, service), config.DemoUser, c.password, c.user, tlsMode, c.cert, mda)
	}
	pop3s := writeConfig(t, "fetchmailrc-pop3s", poll(ServicePOP3S, "ssl"))
	stls := writeConfig(t, "fetchmailrc-stls", poll(ServicePOP3, "sslproto tls1.2+"))
	// fetch runs fetchmail once, checks that it delivered want messages
	// and returns its verbose output (the POP3 dialogue).
	fetch := func(rc string, want int, extra ...string) string {
		t.Helper()
		before, _ := os.ReadDir(got)
		args := append([]string{"-f", rc, "-i", idfile, "-v", "--nodetach"}, extra...)
		out, err := c.run(t, "", "fetchmail", args...)
		// Exit 1 is fetchmail's "no new mail", not a failure.
		if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1 && want == 0) {
			t.Fatalf("fetchmail %q: %v\n%s\nserver log:\n%s", extra, err, out, c.serverLog())
		}
		after, _ := os.ReadDir(got)
		if n := len(after) - len(before); n != want {
			t.Fatalf("fetchmail %q delivered %d messages; want %d\n%s", extra, n, want, out)
		}
		return out
	}

	fetch(pop3s, 2, "--keep")
	if msgs := waitCount(t, c, ic, "INBOX", 2); len(msgs) != 2 {
		t.Fatal("keep lost mail")
	}
	fetch(pop3s, 0, "--keep") // UIDL: both are known
	appendMessage(t, ic, "INBOX", "pop three", "third\r\n")
	out := fetch(stls, 1, "--keep")
	if !strings.Contains(out, "POP3> STLS") {
		t.Errorf("the run on the POP3 port did not use STLS:\n%s", out)
	}
	files, _ := os.ReadDir(got)
	var all []string
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(got, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, string(b))
	}
	for _, want := range []string{"Subject: pop one", "Subject: pop two", "Subject: pop three"} {
		if n := strings.Count(strings.Join(all, "\n"), want); n != 1 {
			t.Errorf("%q fetched %d times; want once", want, n)
		}
	}
	waitCount(t, c, ic, "INBOX", 3)

	// Later delete: nokeep + flush removes the messages fetched before.
	fetch(pop3s, 0, "--nokeep", "--flush")
	if msgs := waitCount(t, c, ic, "INBOX", 0); len(msgs) != 0 {
		t.Fatalf("INBOX after the flush: %q", subjects(msgs))
	}
}

// TestClientMbsync: mbsync (isync), a real sync client, mirrors the demo
// account over IMAPS into Maildirs, compressed (COMPRESS=DEFLATE): every default folder appears locally;
// flags set locally (S, T) reach the server as \Seen and \Deleted, and an
// expunging sync removes the trashed one there; a folder made locally is
// created on the server with its message (CREATE, APPEND); a message
// appended on the server arrives locally on the next sync.
func TestClientMbsync(t *testing.T) {
	c := newClientRig(t, "mbsync")
	ic := c.imap(t)
	appendMessage(t, ic, "INBOX", "sync one", "first\r\n")
	appendMessage(t, ic, "INBOX", "sync two", "second\r\n")
	appendMessage(t, ic, "Archive", "sync old", "archived\r\n")

	mail := filepath.Join(t.TempDir(), "mail")
	inbox := filepath.Join(mail, "INBOX")
	if err := os.Mkdir(mail, 0o700); err != nil { // isync creates folders, not the store
		t.Fatal(err)
	}
	// isync accepts the server's certificate because it is the one named
	// by CertificateFile; no system CAs.
	rcText := fmt.Sprintf(`IMAPAccount demo
Host 127.0.0.1
Port %s
User %s
Pass %s
SSLType IMAPS
CertificateFile %s
SystemCertificates no

IMAPStore remote
Account demo

MaildirStore local
Path %s/
Inbox %s
SubFolders Verbatim

Channel demo
Far :remote:
Near :local:
Patterns *
Create Both
Expunge None
SyncState *
`, c.port(t, ServiceIMAPS), config.DemoUser, c.password, c.cert, mail, inbox)
	rc := writeConfig(t, "mbsyncrc", rcText)
	// The same account over the IMAP port with STARTTLS, for a listing.
	starttls := writeConfig(t, "mbsyncrc-starttls", strings.NewReplacer(
		"Port "+c.port(t, ServiceIMAPS), "Port "+c.port(t, ServiceIMAP), "SSLType IMAPS", "SSLType STARTTLS").Replace(rcText))
	sync := func(extra ...string) {
		t.Helper()
		out := c.mustRun(t, "", "mbsync", append([]string{"-c", rc}, append(extra, "-a")...)...)
		t.Logf("mbsync %q:\n%s", extra, out)
	}
	// local lists the Maildir files of a folder, new/ and cur/.
	local := func(dir string) []string {
		t.Helper()
		var files []string
		for _, sub := range []string{"new", "cur"} {
			ents, err := os.ReadDir(filepath.Join(dir, sub))
			if err != nil {
				t.Fatalf("Maildir %s: %v", dir, err)
			}
			for _, e := range ents {
				files = append(files, filepath.Join(dir, sub, e.Name()))
			}
		}
		return files
	}
	// find returns the local file holding subject.
	find := func(dir, subject string) string {
		t.Helper()
		for _, f := range local(dir) {
			// Maildir files have the local line ends: isync stores LF.
			if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte("\nSubject: "+subject+"\n")) {
				return f
			}
		}
		t.Fatalf("no %q in %s (%q)", subject, dir, local(dir))
		return ""
	}

	sync()
	// isync 1.4 turns COMPRESS=DEFLATE on by itself when the server offers
	// it, and flushes with zlib's Z_PARTIAL_FLUSH: this sync ran compressed.
	if !strings.Contains(c.serverLog(), "imap COMPRESS on") {
		t.Errorf("mbsync did not use COMPRESS=DEFLATE; server log:\n%s", c.serverLog())
	}
	for _, folder := range []string{"Sent", "Drafts", "Trash", "Junk", "Archive"} {
		local(filepath.Join(mail, folder))
	}
	if n := len(local(inbox)); n != 2 {
		t.Fatalf("local INBOX has %d messages; want 2", n)
	}
	find(filepath.Join(mail, "Archive"), "sync old")

	// Local changes: read one, trash the other (Maildir info ":2,S" and
	// ":2,T"; a file in new/ moves to cur/ when it gets flags).
	flag := func(subject, flags string) {
		t.Helper()
		f := find(inbox, subject)
		base, _, _ := strings.Cut(filepath.Base(f), ":2,")
		if err := os.Rename(f, filepath.Join(inbox, "cur", base+":2,"+flags)); err != nil {
			t.Fatal(err)
		}
	}
	flag("sync one", "S")
	flag("sync two", "T")
	// A new local folder with one message.
	projects := filepath.Join(mail, "Projects")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(projects, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	draft := "From: " + config.DemoUser + "\nTo: someone@elsewhere.test\nSubject: made locally\n\nplans\n"
	if err := os.WriteFile(filepath.Join(projects, "new", "1.local"), []byte(draft), 0o600); err != nil {
		t.Fatal(err)
	}
	sync()
	msgs := messages(t, ic, "INBOX")
	if s := subjects(msgs); !slices.Equal(s, []string{"sync one", "sync two"}) {
		t.Fatalf("server INBOX %q", s)
	}
	if !slices.Contains(msgs[0].flags, imap.FlagSeen) || slices.Contains(msgs[0].flags, imap.FlagDeleted) {
		t.Errorf("read locally: server flags %v; want \\Seen", msgs[0].flags)
	}
	if !slices.Contains(msgs[1].flags, imap.FlagDeleted) || slices.Contains(msgs[1].flags, imap.FlagSeen) {
		t.Errorf("trashed locally: server flags %v; want \\Deleted", msgs[1].flags)
	}
	if p := waitCount(t, c, ic, "Projects", 1); p[0].subject != "made locally" || !bytes.HasSuffix(p[0].whole, []byte("\r\n\r\nplans\r\n")) {
		t.Errorf("Projects on the server: %q %q", p[0].subject, p[0].whole)
	}

	// An expunging sync removes the trashed message on both sides; a
	// message filed on the server meanwhile comes down, and so does a flag
	// set there (\Flagged is F in the Maildir name).
	appendMessage(t, ic, "INBOX", "sync three", "third\r\n")
	addFlag(t, ic, "INBOX", 1, imap.FlagFlagged)
	sync("-X")
	if f := find(inbox, "sync one"); !strings.HasSuffix(f, ":2,FS") {
		t.Errorf("sync one locally is %s; want the flags FS", filepath.Base(f))
	}
	out := c.mustRun(t, "", "mbsync", "-c", starttls, "-l", "demo")
	for _, box := range []string{"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive", "Projects"} {
		if !slices.Contains(strings.Fields(out), box) {
			t.Errorf("mbsync's listing over STARTTLS lacks %s:\n%s", box, out)
		}
	}
	if s := subjects(messages(t, ic, "INBOX")); !slices.Equal(s, []string{"sync one", "sync three"}) {
		t.Errorf("server INBOX after the expunging sync: %q", s)
	}
	if n := len(local(inbox)); n != 2 {
		t.Errorf("local INBOX has %d messages after the expunging sync; want 2", n)
	}
	if b, err := os.ReadFile(find(inbox, "sync three")); err != nil || !bytes.HasSuffix(b, []byte("\n\nthird\n")) {
		t.Errorf("sync three locally: %q, %v", b, err)
	}
}

// TestClientSnail: s-nail (mailx), a real command-line mail program, lists
// INBOX over IMAPS non-interactively, reads a message (which becomes \Seen
// on the server) and deletes another (STORE \Deleted and EXPUNGE on quit), and sends through submission on 587 with
// STARTTLS and AUTH; IMAP sees each outcome.
func TestClientSnail(t *testing.T) {
	c := newClientRig(t, "s-nail")
	ic := c.imap(t)
	appendMessage(t, ic, "INBOX", "mailx one", "first\r\n")
	appendMessage(t, ic, "INBOX", "mailx two", "second\r\n")

	user := strings.ReplaceAll(config.DemoUser, "@", "%40") // URL user part
	// s-nail matches the certificate's names, not its IP addresses, so it
	// connects to "localhost" (the appliance listens on 127.0.0.1 only; an
	// ::1 attempt is refused and s-nail goes on to 127.0.0.1).
	common := []string{"-n", "-#", "-Sv15-compat", "-Sexpandaddr", "-Stls-ca-file=" + c.cert, "-Stls-ca-no-defaults"}
	folder := fmt.Sprintf("imaps://%s:%s@localhost:%s/INBOX", user, c.password, c.port(t, ServiceIMAPS))
	// hold: read mail stays in the folder instead of moving to ~/mbox.
	out := c.mustRun(t, "headers\nprint 2\ndelete 1\nquit\n", "s-nail", append(common, "-Shold", "-f", folder)...)
	t.Logf("s-nail:\n%s", out)
	for _, want := range []string{"mailx one", "mailx two", "someone@elsewhere", "\nsecond\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("s-nail's header listing lacks %q:\n%s", want, out)
		}
	}
	if msgs := messages(t, ic, "INBOX"); !slices.Equal(subjects(msgs), []string{"mailx two"}) {
		t.Errorf("server INBOX after s-nail's delete: %q", subjects(msgs))
	} else if !slices.Contains(msgs[0].flags, imap.FlagSeen) {
		t.Errorf("the message s-nail printed has flags %v; want \\Seen", msgs[0].flags)
	}

	mta := fmt.Sprintf("-Smta=smtp://%s:%s@localhost:%s", user, c.password, c.port(t, ServiceSubmission))
	c.mustRun(t, "sent by s-nail\n", "s-nail", append(common, mta, "-Ssmtp-use-starttls", "-Ssmtp-auth=plain",
		"-Sfrom=Demo <"+config.DemoUser+">", "-Shostname=client.test", "-s", "mailx sends", config.DemoUser)...)
	got := waitCount(t, c, ic, "INBOX", 2)
	if got[1].subject != "mailx sends" || !bytes.HasSuffix(got[1].whole, []byte("\r\n\r\nsent by s-nail\r\n")) {
		t.Errorf("the message s-nail sent: %q\n%s", got[1].subject, got[1].whole)
	}
}
