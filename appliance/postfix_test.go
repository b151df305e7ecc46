package appliance

// Postfix as the "real second MTA" (issue #5: "expect these paths to be
// checked with real SMTP clients and a real second MTA"). A private Postfix
// instance (Debian's postfix package, its own config, queue and log in a
// temp folder, listening only on 127.0.0.1) stands for the rest of the
// internet in both directions:
//
//	demo --587--> Postroom queue --MX--> Postfix ----> sink (remote.test)
//	sender --25--> Postfix ----> Postroom MX (example.test)
//
// Postfix is strict and talks ESMTP the way much of the internet does
// (PIPELINING, STARTTLS when offered, its own bounces), so this checks what
// a second Postroom cannot: that our replies mean to another MTA what we
// think they mean. Starting Postfix needs root (its master drops to the
// postfix user); without root or without the package the test skips, and
// `make deps` installs it (CI runs as root).

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"postroom/appliance/config"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postroom/internal/dnstest"
	"postroom/internal/testutil"
	"postroom/storage"
)

// postfixMTA is one private Postfix instance.
type postfixMTA struct {
	bin  string // the postfix command
	dir  string // config in dir/etc, queue in dir/spool, log in dir/maillog
	port int    // its SMTP port on 127.0.0.1
}

// startPostfix starts Postfix (the command bin, run as root) on 127.0.0.1:port as the MX of the domains
// in routes, relaying each domain's mail to the 127.0.0.1 port given, and
// accepting only the recipients listed (others: 550 5.1.1 at RCPT).
func startPostfix(t *testing.T, bin string, port int, routes map[string]int, recipients []string) *postfixMTA {
	t.Helper()
	// Postfix's processes run as the postfix user and must reach the
	// folder; t.TempDir() is private to root.
	dir, err := os.MkdirTemp("", "postroom-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"etc", "spool", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "postfix", filepath.Join(dir, "data")).CombinedOutput(); err != nil {
		t.Fatalf("chown postfix: %v: %s", err, out)
	}
	cert, key := testutil.PEMFiles(t, "mta.remote.test", filepath.Join(dir, "etc"))

	var domains, transports, rcpts []string
	for d, p := range routes {
		domains = append(domains, d)
		transports = append(transports, fmt.Sprintf("%s=smtp:[127.0.0.1]:%d", d, p))
	}
	for _, r := range recipients {
		rcpts = append(rcpts, r+"=ok")
	}
	mainCF := strings.Join([]string{
		"compatibility_level = 3.6",
		"queue_directory = " + filepath.Join(dir, "spool"),
		"data_directory = " + filepath.Join(dir, "data"),
		"maillog_file = " + filepath.Join(dir, "maillog"),
		"maillog_file_prefixes = " + dir,
		"inet_interfaces = 127.0.0.1",
		"inet_protocols = ipv4",
		"myhostname = mta.remote.test",
		"mydomain = remote.test",
		"myorigin = remote.test",
		"mydestination =",
		"mynetworks = 127.0.0.0/8",
		"relay_domains = " + strings.Join(domains, ", "),
		"relay_recipient_maps = inline:{ " + strings.Join(rcpts, ", ") + " }",
		"transport_maps = inline:{ " + strings.Join(transports, ", ") + " }",
		// Nothing leaves 127.0.0.1: every route is an address literal.
		"smtp_dns_support_level = disabled",
		"smtpd_peername_lookup = no",
		"smtp_tls_security_level = may",
		"smtpd_tls_security_level = may",
		"smtpd_tls_cert_file = " + cert,
		"smtpd_tls_key_file = " + key,
		"smtp_connect_timeout = 5s",
		"alias_maps =",
		"alias_database =",
		"biff = no",
		"",
	}, "\n")
	// master.cf: only the services a relay needs, none chrooted.
	masterCF := fmt.Sprintf("127.0.0.1:%d inet n - n - - smtpd\n", port) + `cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
`
	if err := os.WriteFile(filepath.Join(dir, "etc", "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "master.cf"), []byte(masterCF), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &postfixMTA{bin: bin, dir: dir, port: port}
	if out, err := p.command("start"); err != nil {
		t.Fatalf("postfix start: %v\n%s\nlog:\n%s", err, out, p.log())
	}
	t.Cleanup(p.stop)
	// The master opens the listener itself, a moment after start returns.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("postfix does not listen on %d: %v\nlog:\n%s", port, err, p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

func (p *postfixMTA) command(verb string) ([]byte, error) {
	return exec.Command(p.bin, "-c", filepath.Join(p.dir, "etc"), verb).CombinedOutput()
}

func (p *postfixMTA) log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "maillog"))
	return string(b)
}

// stop stops the master and waits for it to exit, so that the folder can
// go and no process outlives the test.
func (p *postfixMTA) stop() {
	pidFile := filepath.Join(p.dir, "spool", "pid", "master.pid")
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	p.command("stop")
	for range 100 {
		if pid <= 0 || syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
}

// freePort returns a port on 127.0.0.1 that was free a moment ago, for a
// server that must be told its port before it starts.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// mailbag collects what a sink received.
type mailbag struct {
	mu   sync.Mutex
	msgs [][]byte
	got  chan struct{}
}

func newMailbag() *mailbag { return &mailbag{got: make(chan struct{}, 100)} }

func (b *mailbag) add(m []byte) error {
	b.mu.Lock()
	b.msgs = append(b.msgs, append([]byte(nil), m...))
	b.mu.Unlock()
	b.got <- struct{}{}
	return nil
}

// wait returns the first message containing want, waiting up to a minute.
func (b *mailbag) wait(t *testing.T, want string, logs func() string) []byte {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		b.mu.Lock()
		for _, m := range b.msgs {
			if bytes.Contains(m, []byte(want)) {
				b.mu.Unlock()
				return m
			}
		}
		b.mu.Unlock()
		select {
		case <-b.got:
		case <-timeout:
			t.Fatalf("no message with %q arrived\n%s", want, logs())
		}
	}
}

// waitMessage polls mailbox (bounded: a minute) until a message containing
// want is there, and returns it.
func waitMessage(t *testing.T, ic *imapclient.Client, mailbox, want string, logs func() string) []byte {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		for _, m := range messages(t, ic, mailbox) {
			if bytes.Contains(m.whole, []byte(want)) {
				return m.whole
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message with %q in %s\n%s", want, mailbox, logs())
		}
		<-time.After(100 * time.Millisecond)
	}
}

func TestPostfix(t *testing.T) {
	bin, err := exec.LookPath("postfix")
	if err != nil {
		bin = "/usr/sbin/postfix" // root's PATH may lack sbin
		if _, err := os.Stat(bin); err != nil {
			t.Skip("postfix is not installed: `make deps`, or on Debian `apt-get install -y postfix`")
		}
	}
	if os.Getuid() != 0 {
		t.Skip("starting Postfix needs root (its master process drops privileges)")
	}
	internet := newMailbag()
	sinkPort := testutil.StartSMTPSink(t, "sink.remote.test", internet.add)
	pfPort := freePort(t)
	zone := dnstest.Start(t,
		"remote.test. 300 IN MX 10 mx.remote.test.",
		"mx.remote.test. 300 IN A 127.0.0.1",
	)
	cfg := testConfig(t)
	lo := "127.0.0.1:0"
	cfg.Listen = config.Listeners{SMTP: lo, Submission: lo, IMAPS: lo}
	cfg.Hostname = "mail.example.test"
	cfg.Resolver = zone.Addr()
	cfg.Queue.Port = pfPort
	// The demo account, and a second one that is nearly full, for Postfix
	// to meet 452.
	const password = "password-demo"
	st, err := storage.Open(storage.Options{Dir: filepath.Join(cfg.DataDir, "store")})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{config.DemoUser, "full@" + config.DemoDomain} {
		if _, err := st.CreateAccount(name, password); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetQuota("full@"+config.DemoDomain, 1000); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r, err := start(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rig := &clientRig{r: r, password: password, cert: filepath.Join(cfg.DataDir, "tls", "cert.pem")}
	mxp, _ := strconv.Atoi(rig.port(t, ServiceSMTP))
	pf := startPostfix(t, bin, pfPort,
		map[string]int{"remote.test": sinkPort, config.DemoDomain: mxp},
		[]string{"bob@remote.test", "carol@remote.test", config.DemoUser, "nobody@" + config.DemoDomain, "full@" + config.DemoDomain})
	logs := func() string {
		return "postfix log:\n" + pf.log() + "\npostroom log:\n" + rig.serverLog()
	}
	ic := rig.imap(t)

	t.Run("outbound through Postfix", func(t *testing.T) {
		// The demo user writes to Bob, whom Postfix knows, and to Ghost,
		// whom it refuses at RCPT: Bob's copy goes on, signed and over
		// TLS; Ghost's refusal comes back to the demo INBOX as a DSN.
		c, err := smtp.DialStartTLS(rig.r.addr(t, ServiceSubmission), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Auth(sasl.NewPlainClient("", config.DemoUser, rig.password)); err != nil {
			t.Fatal(err)
		}
		body := "From: Demo <" + config.DemoUser + ">\r\nTo: bob@remote.test, ghost@remote.test\r\nSubject: via postfix\r\n\r\nHello over the wire.\r\n"
		if err := c.SendMail(config.DemoUser, []string{"bob@remote.test", "ghost@remote.test"}, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		c.Quit()
		got := internet.wait(t, "Subject: via postfix", logs)
		head, _, _ := bytes.Cut(got, []byte("\r\n\r\n"))
		for _, want := range []string{
			"from mail.example.test", // Postfix's Received: our EHLO name
			"with ESMTPS",            // Postroom used STARTTLS to Postfix
			"DKIM-Signature: a=ed25519-sha256",
			"DKIM-Signature: a=rsa-sha256",
		} {
			if !bytes.Contains(head, []byte(want)) {
				t.Errorf("the header Postfix passed on lacks %q:\n%s", want, head)
			}
		}
		if !bytes.HasSuffix(got, []byte("\r\n\r\nHello over the wire.\r\n")) {
			t.Errorf("body changed on the way:\n%s", got)
		}
		dsn := waitMessage(t, ic, "INBOX", "ghost@remote.test", logs)
		for _, want := range []string{"report-type=delivery-status", "Status: 5.1.1", "Remote-MTA: dns; mx.remote.test", "Recipient address rejected"} {
			if !bytes.Contains(dsn, []byte(want)) {
				t.Errorf("the DSN for Postfix's refusal lacks %q:\n%s", want, dsn)
			}
		}
	})

	t.Run("inbound from Postfix", func(t *testing.T) {
		// Carol's server (Postfix) delivers to the demo user and to an
		// address Postroom does not have: the first lands in the INBOX,
		// the second comes back to Carol as Postfix's own bounce, which
		// quotes our 550 5.1.1.
		c, err := smtp.Dial(net.JoinHostPort("127.0.0.1", strconv.Itoa(pfPort)))
		if err != nil {
			t.Fatal(err)
		}
		body := "From: Carol <carol@remote.test>\r\nTo: " + config.DemoUser + "\r\nSubject: from postfix\r\nMessage-ID: <pf1@remote.test>\r\n\r\nHello from the other side.\r\n"
		if err := c.SendMail("carol@remote.test", []string{config.DemoUser, "nobody@" + config.DemoDomain}, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		c.Quit()
		got := waitMessage(t, ic, "INBOX", "Subject: from postfix", logs)
		for _, want := range []string{"Return-Path: <carol@remote.test>", "from mta.remote.test", "with ESMTPS", "Hello from the other side."} {
			if !bytes.Contains(got, []byte(want)) {
				t.Errorf("the message from Postfix lacks %q:\n%s", want, got)
			}
		}
		bounce := internet.wait(t, "nobody@"+config.DemoDomain, logs)
		for _, want := range []string{"report-type=delivery-status", "550 5.1.1", "Status: 5.1.1"} {
			if !bytes.Contains(bounce, []byte(want)) {
				t.Errorf("Postfix's bounce lacks %q:\n%s", want, bounce)
			}
		}
	})

	t.Run("a full mailbox is deferred, not bounced", func(t *testing.T) {
		// Our 452 4.2.2 must make Postfix keep the message and retry
		// later (RFC 5321 4.2.5), not bounce it and not lose it.
		c, err := smtp.Dial(net.JoinHostPort("127.0.0.1", strconv.Itoa(pfPort)))
		if err != nil {
			t.Fatal(err)
		}
		body := "From: Carol <carol@remote.test>\r\nTo: full@" + config.DemoDomain + "\r\nSubject: too big\r\n\r\n" + strings.Repeat("filling the mailbox\r\n", 200)
		if err := c.SendMail("carol@remote.test", []string{"full@" + config.DemoDomain}, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		c.Quit()
		deadline := time.Now().Add(time.Minute)
		for !strings.Contains(pf.log(), "to=<full@"+config.DemoDomain+">") {
			if time.Now().After(deadline) {
				t.Fatalf("Postfix did not try full@:\n%s", logs())
			}
			<-time.After(100 * time.Millisecond)
		}
		var line string
		for _, l := range strings.Split(pf.log(), "\n") {
			if strings.Contains(l, "to=<full@"+config.DemoDomain+">") {
				line = l
			}
		}
		if !strings.Contains(line, "status=deferred") || !strings.Contains(line, "452 4.2.2") {
			t.Errorf("Postfix's outcome for the full mailbox: %s", line)
		}
	})
}
