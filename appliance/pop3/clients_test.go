package pop3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"postroom/appliance/imapd"
	"postroom/appliance/smtpd"
	"postroom/storage"
)

// pythonPOP is run by python3: poplib, an independent POP3 client, logs in
// over STLS (port 110 style) and reads everything, leaving it on the server
// as "leave a copy" clients do; then over implicit TLS (port 995 style) it
// deletes message 1 and quits.
const pythonPOP = `
import hashlib, json, poplib, ssl, sys
host, port, tlsport, user, pw = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
out = {}
p = poplib.POP3(host, port, timeout=30)
out["capa_before"] = sorted(p.capa().keys())
p.stls(context=ctx)
out["capa_tls"] = sorted(p.capa().keys())
p.user(user)
p.pass_(pw)
out["stat"] = list(p.stat())
out["uidl"] = [x.decode() for x in p.uidl()[1]]
out["sha"] = []
for i in range(1, out["stat"][0] + 1):
    resp, lines, octets = p.retr(i)
    out["sha"].append(hashlib.sha256(b"\r\n".join(lines) + b"\r\n").hexdigest())
out["top"] = [x.decode("utf-8", "replace") for x in p.top(1, 0)[1]]
p.quit()
p = poplib.POP3_SSL(host, tlsport, context=ctx, timeout=30)
p.user(user)
p.pass_(pw)
out["uidl_again"] = [x.decode() for x in p.uidl()[1]]
p.dele(1)
p.quit()
print(json.dumps(out))
`

// trickyMessages exercise dot-stuffing (a line that is only ".", lines
// starting with dots), 8-bit text and an empty body line.
var trickyMessages = []string{
	"From: a@example.org\r\nSubject: dots\r\n\r\n.\r\n..\r\n.x\r\n\r\nend\r\n",
	"From: b@example.org\r\nSubject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGrüße aus Köln\r\n" +
		strings.Repeat("0123456789", 50) + "\r\n",
	msgText("plain", 200),
}

func sha(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// TestPythonPoplib: Python's poplib over STLS and implicit TLS; RETR is
// byte-exact against what was delivered; UIDL is the same in both
// sessions; DELE+QUIT deletes in the store.
func TestPythonPoplib(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	e := newEnv(t, func(o *Options) { o.AllowPlaintextLAN = false })
	var uids []uint32
	for _, m := range trickyMessages {
		uids = append(uids, e.deliver(e.alice, m))
	}
	_, port, _ := net.SplitHostPort(e.addr)
	_, tlsPort, _ := net.SplitHostPort(e.tlsAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "python3", "-c", pythonPOP, "127.0.0.1", port, tlsPort, alice, password(alice)).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	var got struct {
		CapaBefore, CapaTLS []string `json:"-"`
		Before              []string `json:"capa_before"`
		TLS                 []string `json:"capa_tls"`
		Stat                []int
		UIDL                []string
		UIDLAgain           []string `json:"uidl_again"`
		SHA                 []string
		Top                 []string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	if strings.Contains(strings.Join(got.Before, " "), "USER") || !strings.Contains(strings.Join(got.Before, " "), "STLS") {
		t.Errorf("CAPA before TLS: %v", got.Before)
	}
	if !strings.Contains(strings.Join(got.TLS, " "), "USER") {
		t.Errorf("CAPA after STLS: %v", got.TLS)
	}
	total := 0
	for i, m := range trickyMessages {
		total += len(m)
		if got.SHA[i] != sha(m) {
			t.Errorf("message %d differs after RETR", i+1)
		}
	}
	if got.Stat[0] != 3 || got.Stat[1] != total {
		t.Errorf("STAT %v, want 3 %d", got.Stat, total)
	}
	if fmt.Sprint(got.UIDL) != fmt.Sprint(got.UIDLAgain) || len(got.UIDL) != 3 {
		t.Errorf("UIDL changed: %v / %v", got.UIDL, got.UIDLAgain)
	}
	if got.Top[len(got.Top)-1] != "" || got.Top[0] != "From: a@example.org" {
		t.Errorf("TOP 1 0: %q", got.Top)
	}
	e.waitEnded(2)
	_, msgs := e.inbox(e.alice)
	if len(msgs) != 2 || msgs[0].UID != uids[1] {
		t.Fatalf("after DELE 1 + QUIT: %v", msgs)
	}
	for _, m := range msgs {
		if m.Flags&storage.FlagSeen == 0 || m.POPDownloaded.IsZero() {
			t.Errorf("retrieved message %d not marked: %+v", m.UID, m)
		}
	}
}

// TestCurl: curl as a second real client: RETR over STLS (--ssl-reqd),
// UIDL and DELE over implicit TLS.
func TestCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	e := newEnv(t, func(o *Options) { o.AllowPlaintextLAN = false })
	for _, m := range trickyMessages {
		e.deliver(e.alice, m)
	}
	curl := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		args = append([]string{"-s", "-S", "-k", "-u", alice + ":" + password(alice)}, args...)
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "curl", args...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, stderr.String())
		}
		e.waitEnded(1)
		return string(out)
	}
	for i, m := range trickyMessages {
		got := curl("--ssl-reqd", fmt.Sprintf("pop3://%s/%d", e.addr, i+1))
		if got != m {
			t.Errorf("curl RETR %d:\n%q\nwant\n%q", i+1, got, m)
		}
	}
	uidl := curl("-X", "UIDL", "pop3s://"+e.tlsAddr+"/")
	if n := strings.Count(uidl, "\n"); n != 3 {
		t.Errorf("curl UIDL: %q", uidl)
	}
	curl("-X", "DELE", "-I", "pop3s://"+e.tlsAddr+"/2")
	if _, msgs := e.inbox(e.alice); len(msgs) != 2 {
		t.Fatalf("after curl DELE: %d messages", len(msgs))
	}
}

// TestSMTPToPOP3: a message arrives over SMTP (smtpd in-process, go-smtp's
// client), POP3 retrieves and deletes it, and storage's change events show
// \Seen (flags) and the expunge that IMAP sessions turn into EXPUNGE.
func TestSMTPToPOP3(t *testing.T) {
	e := newEnv(t, nil)
	mx, err := smtpd.New(smtpd.Options{Hostname: "mx.example.test", Store: e.st, Logger: e.srv.opts.Logger})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go mx.Serve(l)
	defer mx.Close()

	body := "From: Sender <sender@remote.test>\r\nTo: <alice@example.test>\r\nSubject: via SMTP\r\n" +
		"Message-ID: <smtp-1@remote.test>\r\n\r\nHello.\r\n.dot line\r\n"
	sc, err := smtp.Dial(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.SendMail("sender@remote.test", []string{alice}, strings.NewReader(body)); err != nil {
		t.Fatalf("SMTP: %v", err)
	}
	sc.Quit()
	w := e.st.Watch(e.alice.ID)
	defer w.Close()

	c := e.dial()
	c.login(alice)
	c.run([]step{{send: "STAT", expect: "+OK 1 "}, {send: "RETR 1", expect: "+OK"}})
	got := strings.Join(c.multi(), "\r\n") + "\r\n"
	if !strings.HasSuffix(got, body) || !strings.HasPrefix(got, "Return-Path: <sender@remote.test>\r\nReceived: ") {
		t.Fatalf("RETR:\n%s", got)
	}
	c.run([]step{{send: "DELE 1", expect: "+OK"}, {send: "QUIT", expect: "+OK pop.example.test signing off (1 messages deleted)"}})
	e.waitEnded(1)

	var kinds []storage.EventKind
	for len(kinds) < 2 {
		select {
		case <-w.C():
		case <-time.After(20 * time.Second):
			t.Fatalf("events so far: %v", kinds)
		}
		evs, _ := w.Next()
		for _, ev := range evs {
			kinds = append(kinds, ev.Kind)
		}
	}
	if fmt.Sprint(kinds) != "[flags expunged]" {
		t.Fatalf("events %v, want [flags expunged]", kinds)
	}
	if _, msgs := e.inbox(e.alice); len(msgs) != 0 {
		t.Fatalf("%d left", len(msgs))
	}
}

// TestStalledReader: a client that stops reading in the middle of a RETR
// is dropped after WriteTimeout (the server's buffers stay bounded: it
// blocks in one write), the message is not completed, nothing is deleted,
// and the maildrop lock is released.
func TestStalledReader(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.WriteTimeout = 300 * time.Millisecond })
	// Small socket buffers, so that the kernel cannot swallow the message.
	small := e.serve(e.srv.Serve, func(l net.Listener) net.Listener { return smallBufListener{l} })
	big := msgText("big", 200000) // about 2 MB
	e.deliver(e.alice, big)
	// The receive buffer is set before connecting: it decides the window.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", small)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	c := &client{t: t, conn: conn, br: newReader(conn)}
	c.line()
	c.login(alice)
	c.send("RETR 1\r\n")
	// Read nothing more until the server gave up.
	e.waitEnded(1)
	rest, _ := io.ReadAll(c.br)
	if len(rest) >= len(big) || bytes.HasSuffix(rest, []byte("\r\n.\r\n")) {
		t.Fatalf("the server sent %d bytes of %d and completed the reply", len(rest), len(big))
	}
	if !strings.Contains(e.logs.String(), "i/o timeout") {
		t.Fatalf("no write timeout logged")
	}
	if _, msgs := e.inbox(e.alice); len(msgs) != 1 {
		t.Fatal("deleted without QUIT")
	}
	e.dial().login(alice)
}

type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

// TestPOP3DeleteReachesIMAPIdle: an IMAP client idling on INBOX (imapd
// in-process, go-imap's imapclient) sees EXPUNGE when a POP3 session
// deletes the message at QUIT, and not before.
func TestPOP3DeleteReachesIMAPIdle(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(e.alice, msgText("keep", 1))
	e.deliver(e.alice, msgText("delete me", 1))
	imapSrv, err := imapd.New(imapd.Options{Hostname: "imap.example.test", Store: e.st, Logger: e.srv.opts.Logger,
		AllowPlaintextLAN: true, Guard: e.srv.guard})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go imapSrv.Serve(l)
	defer imapSrv.Close()

	expunged := make(chan uint32, 10)
	ic, err := imapclient.DialInsecure(l.Addr().String(), &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{Expunge: func(seq uint32) { expunged <- seq }},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login(alice, password(alice)).Wait(); err != nil {
		t.Fatalf("IMAP LOGIN: %v", err)
	}
	if sel, err := ic.Select("INBOX", nil).Wait(); err != nil || sel.NumMessages != 2 {
		t.Fatalf("SELECT: %+v %v", sel, err)
	}
	idle, err := ic.Idle()
	if err != nil {
		t.Fatal(err)
	}

	c := e.dial()
	c.login(alice)
	c.run([]step{{send: "DELE 2", expect: "+OK"}, {send: "NOOP", expect: "+OK"}})
	select {
	case seq := <-expunged:
		t.Fatalf("EXPUNGE %d before QUIT", seq)
	default:
	}
	c.run([]step{{send: "QUIT", expect: "+OK pop.example.test signing off (1 messages deleted)"}})
	select {
	case seq := <-expunged:
		if seq != 2 {
			t.Fatalf("EXPUNGE %d, want 2", seq)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the IMAP client saw no EXPUNGE")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestShutdownLetsRETRFinish: Shutdown while a RETR is being sent (the
// client reads slowly, small socket buffers) lets the RETR complete, then
// ends the session with [SYS/TEMP]; Shutdown returns nil.
func TestShutdownLetsRETRFinish(t *testing.T) {
	e := newEnv(t, nil)
	small := e.serve(e.srv.Serve, func(l net.Listener) net.Listener { return smallBufListener{l} })
	big := msgText("big", 100000) // about 1.2 MB
	e.deliver(e.alice, big)
	c := e.dialAddr(small, false)
	c.login(alice)
	c.send("RETR 1\r\n")
	if r := c.line(); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("RETR: %q", r)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		shut <- e.srv.Shutdown(ctx)
	}()
	got := strings.Join(c.multi(), "\r\n") + "\r\n"
	if got != big {
		t.Fatalf("RETR cut short: %d of %d octets", len(got), len(big))
	}
	if r := c.line(); r != "-ERR [SYS/TEMP] server shutting down, try again later" {
		t.Fatalf("after RETR: %q", r)
	}
	c.expectClosed()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
