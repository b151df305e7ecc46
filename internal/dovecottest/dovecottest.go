// Package dovecottest runs a private instance of Debian's Dovecot on
// 127.0.0.1 for tests: a real IMAP and POP3 server to compare with and to
// pull mail from, as appliance/postfix_test.go runs a private Postfix.
//
// The instance has its own configuration, base directory, users (a
// passwd-file) and Maildirs under one temporary folder, listens only on
// 127.0.0.1 ports picked for it, and is stopped when the test ends. The
// system's Dovecot, if any, is not touched.
package dovecottest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"postroom/internal/testutil"
)

// Binary is where Debian installs Dovecot (make deps installs
// dovecot-imapd and dovecot-pop3d).
const Binary = "/usr/sbin/dovecot"

// User is one mail account of the instance.
type User struct{ Name, Password string }

// Server is a running instance. Its addresses are host:port on 127.0.0.1.
type Server struct {
	IMAP, IMAPS, POP3, POP3S string
	// Client trusts the instance's certificate (made for "localhost").
	Client *tls.Config
	// CertFile is the instance's certificate (PEM), for clients that
	// read one from a file.
	CertFile string
	dir      string
	users    map[string]string // name -> home
	uid, gid int               // the mail processes' user
}

// Options change the instance's configuration; the zero value is Start's.
type Options struct {
	// MailLocation is Dovecot's mail_location; "" means Maildir,
	// "maildir:~/Maildir". The stress comparison uses "mdbox:~/mdbox",
	// which keeps an expunged message's body while a session still sees
	// it, where Maildir answers its FETCH with an empty body.
	MailLocation string
	// IMAPCapability, when set, replaces the capabilities Dovecot
	// announces after login (its imap_capability), to play an older
	// server: "IMAP4rev1 IDLE" has no CONDSTORE.
	IMAPCapability string
	// CertName names the instance's self-signed certificate; "" is
	// "localhost". Each name is another certificate (valid for
	// "localhost" too), to play a server whose certificate changed.
	CertName string
}

// Start runs Dovecot with users, or skips the test when Dovecot is not
// installed (run make deps).
func Start(tb testing.TB, users ...User) *Server {
	tb.Helper()
	return StartWith(tb, Options{}, users...)
}

// StartWith is Start with Options.
func StartWith(tb testing.TB, o Options, users ...User) *Server {
	tb.Helper()
	if o.MailLocation == "" {
		o.MailLocation = "maildir:~/Maildir"
	}
	if _, err := os.Stat(Binary); err != nil {
		tb.Skip("Dovecot is not installed (make deps installs dovecot-imapd and dovecot-pop3d)")
	}
	// The mail processes may not run as root, and the login processes
	// run as an unprivileged user too: as root the instance uses nobody
	// for mail and Debian's dovenull/dovecot for the rest; as anyone else
	// every process is that user. Either way the folder must be reachable
	// by them, so it is made outside t.TempDir (whose parent is 0700).
	dir, err := os.MkdirTemp("", "dovecottest-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	mailUID, mailGID := os.Getuid(), os.Getgid()
	loginUser, internalUser, internalGroup := "", "", ""
	if mailUID == 0 {
		nobody, err := user.Lookup("nobody")
		if err != nil {
			tb.Fatal(err)
		}
		fmt.Sscan(nobody.Uid, &mailUID)
		fmt.Sscan(nobody.Gid, &mailGID)
		loginUser, internalUser, internalGroup = "dovenull", "dovecot", "dovecot"
	} else {
		me, err := user.Current()
		if err != nil {
			tb.Fatal(err)
		}
		g, err := user.LookupGroupId(me.Gid)
		if err != nil {
			tb.Fatal(err)
		}
		loginUser, internalUser, internalGroup = me.Username, me.Username, g.Name
	}

	if o.CertName == "" {
		o.CertName = "localhost"
	}
	_, clientTLS := testutil.TLS(tb, o.CertName)
	testutil.PEMFiles(tb, o.CertName, dir)
	write := func(name string, data []byte, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), data, mode); err != nil {
			tb.Fatal(err)
		}
	}

	s := &Server{Client: clientTLS, CertFile: filepath.Join(dir, "cert.pem"), dir: dir, users: map[string]string{}, uid: mailUID, gid: mailGID}
	var passwd strings.Builder
	if err := os.Mkdir(filepath.Join(dir, "mail"), 0o755); err != nil {
		tb.Fatal(err)
	}
	for _, u := range users {
		home := filepath.Join(dir, "mail", u.Name)
		if err := os.Mkdir(home, 0o700); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chown(home, mailUID, mailGID); err != nil {
			tb.Fatal(err)
		}
		s.users[u.Name] = home
		fmt.Fprintf(&passwd, "%s:{PLAIN}%s:%d:%d::%s::\n", u.Name, u.Password, mailUID, mailGID, home)
	}
	write("passwd", []byte(passwd.String()), 0o644)

	if err := os.Mkdir(filepath.Join(dir, "run"), 0o755); err != nil {
		tb.Fatal(err)
	}
	// The greeting names this instance, so that a program that took one
	// of its ports first is never taken for it.
	greeting := fmt.Sprintf("dovecottest %d ready", rand.Uint64())
	for attempt := 1; ; attempt++ {
		ports := freePorts(tb, 4)
		s.IMAP, s.IMAPS = addr(ports[0]), addr(ports[1])
		s.POP3, s.POP3S = addr(ports[2]), addr(ports[3])
		conf := fmt.Sprintf(configTemplate, dir, dir, dir, dir, dir, greeting, o.MailLocation, internalUser, internalGroup, loginUser, dir, dir,
			ports[0], ports[1], ports[2], ports[3])
		if o.IMAPCapability != "" {
			conf += "protocol imap {\n  imap_capability = " + o.IMAPCapability + "\n}\n"
		}
		write("dovecot.conf", []byte(conf), 0o644)
		err := s.run(tb, greeting)
		if err == nil {
			return s
		}
		// A port taken between freePorts and Dovecot's bind: other ports.
		if attempt == 3 || !strings.Contains(s.Log(), "Address already in use") {
			tb.Fatalf("Dovecot did not start: %v\n%s", err, s.Log())
		}
		tb.Logf("Dovecot could not bind its ports (attempt %d), trying others", attempt)
	}
}

// run starts the instance and waits until it answers with its greeting
// on every port; the test's end stops it. It stops it at once and returns
// the error when it does not come up.
func (s *Server) run(tb testing.TB, greeting string) error {
	cmd := exec.Command(Binary, "-F", "-c", filepath.Join(s.dir, "dovecot.conf"))
	out, err := os.Create(filepath.Join(s.dir, "stdout"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting Dovecot: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		out.Close()
	}
	for _, a := range []struct {
		addr string
		tls  bool
	}{{s.IMAP, false}, {s.IMAPS, true}, {s.POP3, false}, {s.POP3S, true}} {
		if err := waitGreeting(a.addr, a.tls, greeting, exited, 30*time.Second); err != nil {
			stop()
			return err
		}
	}
	tb.Cleanup(stop)
	return nil
}

// Give hands path (a file or a folder, with all below it) to the
// instance's mail user, so Dovecot can read and change what a test put
// there, such as a Maildir written by an export.
func (s *Server) Give(tb testing.TB, path string) {
	tb.Helper()
	err := filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, s.uid, s.gid)
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// Maildir is the Maildir of a user, as Dovecot keeps it.
func (s *Server) Maildir(name string) string { return filepath.Join(s.users[name], "Maildir") }

// Log is what the instance logged so far, for failing tests.
func (s *Server) Log() string {
	a, _ := os.ReadFile(filepath.Join(s.dir, "stdout"))
	b, _ := os.ReadFile(filepath.Join(s.dir, "log"))
	return string(a) + string(b)
}

func addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// freePorts finds n ports free now, for Dovecot to bind after they are
// released. They are picked below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range, 32768-60999 by default): a port the
// kernel hands out for ":0" is also what it gives the next outgoing
// connection on the machine, and with other tests dialling in parallel
// one took a released port before Dovecot could bind it. Below the range
// only a program binding that very number collides, and Start then
// tries other ports.
func freePorts(tb testing.TB, n int) []int {
	lo, hi := 20000, ephemeralLow()
	var ls []net.Listener
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		addr := "127.0.0.1:0" // a range too small to pick from
		if hi-lo >= 1000 && tries < 1000 {
			addr = fmt.Sprintf("127.0.0.1:%d", lo+rand.IntN(hi-lo))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if addr == "127.0.0.1:0" {
				tb.Fatal(err)
			}
			continue // in use
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(string(b), &low)
	}
	return low
}

// waitGreeting waits until the server at a (over TLS if tlsOn) greets
// with a line holding greeting, or Dovecot exits, or limit passes.
func waitGreeting(a string, tlsOn bool, greeting string, exited <-chan struct{}, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		line, err := firstLine(a, tlsOn)
		if err == nil && !strings.Contains(line, greeting) {
			// Someone else's server: Dovecot will fail to bind.
			err = fmt.Errorf("%s greets with %q, not Dovecot's %q", a, line, greeting)
		}
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("Dovecot exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// firstLine connects and reads the server's first line.
func firstLine(a string, tlsOn bool) (string, error) {
	c, err := net.DialTimeout("tcp", a, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if tlsOn {
		// Only the greeting is checked here; clients check the certificate.
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
		defer tc.Close()
		c = tc
	}
	return bufio.NewReader(c).ReadString('\n')
}

// configTemplate is a whole Dovecot 2.3 configuration: nothing is read
// from /etc/dovecot. Plain-text logins are allowed on the plain ports
// because the tests log in over them too; keywords are kept in Maildir
// file names as Dovecot always does.
const configTemplate = `base_dir = %s/run
state_dir = %s/run
log_path = %s/log
ssl = yes
ssl_cert = <%s/cert.pem
ssl_key = <%s/key.pem
protocols = imap pop3
listen = 127.0.0.1
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
login_greeting = %s
first_valid_uid = 1
mail_location = %s
default_internal_user = %s
default_internal_group = %s
default_login_user = %s
pop3_uidl_format = %%08Xu%%08Xv
passdb {
  driver = passwd-file
  args = %s/passwd
}
userdb {
  driver = passwd-file
  args = %s/passwd
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    auto = subscribe
    special_use = \Sent
  }
  mailbox Drafts {
    auto = subscribe
    special_use = \Drafts
  }
  mailbox Trash {
    auto = subscribe
    special_use = \Trash
  }
  mailbox Junk {
    auto = subscribe
    special_use = \Junk
  }
}
service imap-login {
  chroot =
  inet_listener imap {
    port = %d
  }
  inet_listener imaps {
    port = %d
    ssl = yes
  }
}
service pop3-login {
  chroot =
  inet_listener pop3 {
    port = %d
  }
  inet_listener pop3s {
    port = %d
    ssl = yes
  }
}
service anvil {
  chroot =
}
`
