package queue

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message"
	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"postroom/appliance/dkim"
	"postroom/internal/dnstest"
	"postroom/internal/testutil"
	"postroom/storage"
)

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

// router maps the fake addresses of the zone (10.0.0.x:port) to peers on
// 127.0.0.1 and records the order of connection attempts. Unmapped
// addresses refuse, like a dead host.
type router struct {
	mu     sync.Mutex
	routes map[string]string
	dialed []string
}

func (r *router) set(from, to string) {
	r.mu.Lock()
	r.routes[from] = to
	r.mu.Unlock()
}

func (r *router) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	r.mu.Lock()
	r.dialed = append(r.dialed, addr)
	to, ok := r.routes[addr]
	r.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("dial %s: connection refused (test router)", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, to)
}

func (r *router) log() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.dialed
	r.dialed = nil
	return out
}

// routedEnv is an env whose dialing goes through a router (MX port 25).
func routedEnv(t *testing.T, mod func(*Options), zone ...string) (*env, *router) {
	rt := &router{routes: map[string]string{}}
	e := newEnv(t, 25, func(o *Options) {
		o.Dial = rt.dial
		if mod != nil {
			mod(o)
		}
	}, zone...)
	return e, rt
}

// TestMXPreferenceAndFallback: the most preferred MX is tried first; a dead
// one and one greeting with 421 make the queue go on to the next; a domain
// without MX is delivered to its A record (RFC 5321 5.1).
func TestMXPreferenceAndFallback(t *testing.T) {
	p1, p2, p3 := startPeer(t, peerOpts{}), startPeer(t, peerOpts{}), startPeer(t, peerOpts{})
	e, rt := routedEnv(t, nil,
		mx("remote.test", 20, "mx2.remote.test"), mx("remote.test", 10, "mx1.remote.test"),
		a("mx1.remote.test", "10.0.0.1"), a("mx2.remote.test", "10.0.0.2"),
		a("plain.test", "10.0.0.3"),
	)
	rt.set("10.0.0.1:25", p1.addr)
	rt.set("10.0.0.2:25", p2.addr)
	rt.set("10.0.0.3:25", p3.addr)

	e.enqueue(t, "ann@local.test", "bob@remote.test")
	e.run(t)
	if got := rt.log(); !slices.Equal(got, []string{"10.0.0.1:25"}) {
		t.Errorf("dialed %v, want the preferred MX only", got)
	}
	if n := len(p1.received()); n != 1 || len(p2.received()) != 0 {
		t.Fatalf("mx1 got %d, mx2 got %d", n, len(p2.received()))
	}

	// Preferred MX dead: the next one.
	rt.set("10.0.0.1:25", "127.0.0.1:1") // nothing listens on port 1
	e.enqueue(t, "ann@local.test", "bob@remote.test")
	e.run(t)
	if got := rt.log(); !slices.Equal(got, []string{"10.0.0.1:25", "10.0.0.2:25"}) {
		t.Errorf("dialed %v", got)
	}
	if len(p2.received()) != 1 {
		t.Fatalf("mx2 got %d", len(p2.received()))
	}

	// Preferred MX greets with 421: the next one.
	busy := rawPeer(t, func(c net.Conn) { io.WriteString(c, "421 4.3.2 busy\r\n") })
	rt.set("10.0.0.1:25", busy)
	e.enqueue(t, "ann@local.test", "bob@remote.test")
	e.run(t)
	if len(p2.received()) != 2 {
		t.Fatalf("after 421: mx2 got %d", len(p2.received()))
	}

	// No MX: the A record.
	e.enqueue(t, "ann@local.test", "carol@plain.test")
	e.run(t)
	if got := p3.received(); len(got) != 1 || !slices.Equal(got[0].to, []string{"carol@plain.test"}) {
		t.Fatalf("implicit MX: %+v", got)
	}
	if q := e.queued(t); len(q) != 0 {
		t.Errorf("%d messages left in the queue", len(q))
	}
}

// rawPeer listens on 127.0.0.1:0 and runs fn on every connection (then
// closes it). It returns the address.
func rawPeer(t *testing.T, fn func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); fn(c) }()
		}
	}()
	return ln.Addr().String()
}

// TestSTARTTLSAndDKIM: STARTTLS is used when offered (and not otherwise);
// the message arrives with two DKIM signatures that verify against the
// zone's TXT records, and the body is byte-exact after them.
func TestSTARTTLSAndDKIM(t *testing.T) {
	tp, pp := startPeer(t, peerOpts{tls: true}), startPeer(t, peerOpts{})
	e, rt := routedEnv(t, nil,
		mx("remote.test", 10, "mx.remote.test"), a("mx.remote.test", "10.0.0.1"),
		mx("plain.test", 10, "mx.plain.test"), a("mx.plain.test", "10.0.0.2"))
	rt.set("10.0.0.1:25", tp.addr)
	rt.set("10.0.0.2:25", pp.addr)
	dk, err := e.keys.Domain("local.test")
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := dk.Records()
	for _, r := range recs {
		e.dns.Add(r.Name + " 300 IN TXT " + dkim.ZoneText(r.Value))
	}

	e.enqueue(t, "ann@local.test", "bob@remote.test")
	e.enqueue(t, "ann@local.test", "bob@plain.test")
	e.run(t)
	got := tp.received()
	if len(got) != 1 || !got[0].tls {
		t.Fatalf("TLS peer: %+v", got)
	}
	if p := pp.received(); len(p) != 1 || p[0].tls {
		t.Fatalf("plain peer: %+v", p)
	}
	data := got[0].data
	if !bytes.HasSuffix(data, []byte(testMsg)) {
		t.Errorf("body changed:\n%s", data)
	}
	res := e.dns.Resolver()
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(data), &msgdkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) { return res.LookupTXT(bg, name) },
	})
	if err != nil || len(vs) != 2 {
		t.Fatalf("verify: %d, %v", len(vs), err)
	}
	for _, v := range vs {
		if v.Err != nil || v.Domain != "local.test" {
			t.Errorf("signature: %+v", v)
		}
	}

	// A From domain that is not ours is not signed.
	e.q.Enqueue(bg, "ann@local.test", []string{"bob@remote.test"}, strings.NewReader("From: x@elsewhere.test\r\n\r\nhi\r\n"))
	e.run(t)
	if got := tp.received(); len(got) != 2 || bytes.Contains(got[1].data, []byte("DKIM-Signature")) {
		t.Errorf("foreign From signed: %q", got[len(got)-1].data)
	}
}

// TestRetrySchedule: a 451 reply defers the recipient by the schedule
// (5 min, then 15 min); nothing is tried before it is due; then it is
// delivered and the queue is empty. The sent counter counts it once.
func TestRetrySchedule(t *testing.T) {
	p := startPeer(t, peerOpts{})
	fails := 2
	p.rcpt = func(string) error {
		if fails > 0 {
			fails--
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	}
	var sent int
	e := newEnv(t, p.port, func(o *Options) { o.OnSent = func(n int) { sent += n } },
		mx("remote.test", 10, "mx.remote.test"), a("mx.remote.test", "127.0.0.1"))
	id := e.enqueue(t, "ann@local.test", "bob@remote.test")
	start := e.clk.Now()

	rcpt := func() storage.QueueRecipient {
		qid, _ := ParseID(id)
		m, err := e.st.QueueMessage(qid)
		if err != nil {
			t.Fatal(err)
		}
		return m.Recipients[0]
	}
	e.run(t)
	r := rcpt()
	if r.Attempts != 1 || !r.NextAttempt.Equal(start.Add(5*time.Minute)) || !strings.Contains(r.LastError, "451") || r.Status != "4.3.0" {
		t.Fatalf("after 1st attempt: %+v", r)
	}
	e.clk.Advance(4 * time.Minute)
	e.run(t) // not due yet
	if r := rcpt(); r.Attempts != 1 {
		t.Fatalf("attempted before due: %+v", r)
	}
	e.clk.Advance(time.Minute)
	e.run(t)
	if r := rcpt(); r.Attempts != 2 || !r.NextAttempt.Equal(start.Add(20*time.Minute)) {
		t.Fatalf("after 2nd attempt: %+v", r)
	}
	if s := e.q.Stats(); s.Length != 1 || !s.Oldest.Equal(start) || !strings.Contains(s.LastError, "451") {
		t.Errorf("stats %+v", s)
	}
	e.clk.Advance(15 * time.Minute)
	e.run(t)
	if got := p.received(); len(got) != 1 {
		t.Fatalf("delivered %d", len(got))
	}
	if q := e.queued(t); len(q) != 0 || sent != 1 || e.q.Stats().Length != 0 {
		t.Errorf("queue %d, sent %d, stats %+v", len(q), sent, e.q.Stats())
	}
}

// dsn is a parsed delivery status notification.
type dsn struct {
	subject    string
	reportType string
	perMessage textproto.MIMEHeader
	recipients []textproto.MIMEHeader
	headers    string
}

// parseDSN checks the RFC 3464 / RFC 6522 structure and returns its fields.
func parseDSN(t *testing.T, b []byte) dsn {
	t.Helper()
	ent, err := message.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var d dsn
	d.subject = ent.Header.Get("Subject")
	mt, params, _ := ent.Header.ContentType()
	if mt != "multipart/report" {
		t.Fatalf("DSN content type %q", mt)
	}
	d.reportType = params["report-type"]
	mr := ent.MultipartReader()
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := p.Header.ContentType()
		types = append(types, pt)
		body, _ := io.ReadAll(p.Body)
		switch pt {
		case "message/delivery-status":
			tr := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(body, "\r\n\r\n"...))))
			for {
				h, err := tr.ReadMIMEHeader()
				if len(h) > 0 {
					if d.perMessage == nil {
						d.perMessage = h
					} else {
						d.recipients = append(d.recipients, h)
					}
				}
				if err != nil || len(h) == 0 {
					break
				}
			}
		case "text/rfc822-headers":
			d.headers = string(body)
		}
	}
	if !slices.Equal(types, []string{"text/plain", "message/delivery-status", "text/rfc822-headers"}) {
		t.Errorf("DSN parts %v", types)
	}
	return d
}

// TestBounce: a 550 for one of two recipients produces one DSN in the
// local sender's INBOX naming only that recipient, with the server's
// status and diagnostic; the other is delivered; the queue ends empty.
func TestBounce(t *testing.T) {
	p := startPeer(t, peerOpts{})
	p.rcpt = func(to string) error {
		if strings.HasPrefix(to, "nobody@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}
	e := newEnv(t, p.port, nil, mx("remote.test", 10, "mx.remote.test"), a("mx.remote.test", "127.0.0.1"))
	e.enqueue(t, "ann@local.test", "bob@remote.test", "nobody@remote.test")
	e.run(t)
	if got := p.received(); len(got) != 1 || !slices.Equal(got[0].to, []string{"bob@remote.test"}) {
		t.Fatalf("peer got %+v", got)
	}
	in := e.inbox(t)
	if len(in) != 1 {
		t.Fatalf("%d messages in the sender's INBOX", len(in))
	}
	d := parseDSN(t, in[0])
	if d.reportType != "delivery-status" || d.perMessage.Get("Reporting-MTA") != "dns; mail.local.test" {
		t.Errorf("per-message fields %v, report-type %q", d.perMessage, d.reportType)
	}
	if len(d.recipients) != 1 {
		t.Fatalf("recipients %v", d.recipients)
	}
	r := d.recipients[0]
	if r.Get("Final-Recipient") != "rfc822; nobody@remote.test" || r.Get("Action") != "failed" ||
		r.Get("Status") != "5.1.1" || r.Get("Remote-MTA") != "dns; mx.remote.test" ||
		!strings.Contains(r.Get("Diagnostic-Code"), "smtp; mx.remote.test said: 550 5.1.1 no such user") {
		t.Errorf("recipient fields %v", r)
	}
	if !strings.Contains(d.headers, "Subject: test") || strings.Contains(d.headers, "Hello Bob") {
		t.Errorf("original headers part %q", d.headers)
	}
	if q := e.queued(t); len(q) != 0 {
		t.Errorf("queue not empty: %+v", q)
	}
}

// TestExpiryAndDelayWarning: a recipient that always gets 451 produces one
// delay notice after 4 hours (not two), and after MaxAge one failure notice
// with status 4.4.7; then the queue is empty.
func TestExpiryAndDelayWarning(t *testing.T) {
	p := startPeer(t, peerOpts{})
	p.rcpt = func(string) error { return &smtp.SMTPError{Code: 451, Message: "later"} }
	e := newEnv(t, p.port, func(o *Options) {
		o.Retry = []time.Duration{time.Hour}
		o.MaxAge = 10 * time.Hour
	}, mx("remote.test", 10, "mx.remote.test"), a("mx.remote.test", "127.0.0.1"))
	e.enqueue(t, "ann@local.test", "bob@remote.test")
	for i := 0; i <= 12; i++ {
		e.run(t)
		e.run(t) // notices started by the previous run
		if i == 3 && len(e.inbox(t)) != 0 {
			t.Fatalf("notice before 4 hours")
		}
		e.clk.Advance(time.Hour)
	}
	in := e.inbox(t)
	if len(in) != 2 {
		t.Fatalf("%d notices, want a delay notice and a failure", len(in))
	}
	warn, fail := parseDSN(t, in[0]), parseDSN(t, in[1])
	if r := warn.recipients[0]; r.Get("Action") != "delayed" || r.Get("Will-Retry-Until") == "" || !strings.HasPrefix(warn.subject, "Delayed") {
		t.Errorf("delay notice %v %q", r, warn.subject)
	}
	if r := fail.recipients[0]; r.Get("Action") != "failed" || r.Get("Status") != "4.4.7" {
		t.Errorf("expiry notice %v", r)
	}
	if q := e.queued(t); len(q) != 0 {
		t.Errorf("queue not empty: %+v", q)
	}
}

// TestNullSenderNeverBounced: a failing message from <> is dropped without
// a notice; a failing message from a remote sender is bounced through the
// queue from <>, and when that bounce fails too, nothing more is sent.
func TestNullSenderNeverBounced(t *testing.T) {
	p := startPeer(t, peerOpts{})
	p.rcpt = func(string) error { return &smtp.SMTPError{Code: 550, Message: "no"} }
	e := newEnv(t, p.port, nil,
		mx("remote.test", 10, "mx.remote.test"), mx("far.test", 10, "mx.remote.test"), a("mx.remote.test", "127.0.0.1"))
	e.enqueue(t, "", "bob@remote.test")
	e.run(t)
	e.run(t)
	if len(e.inbox(t)) != 0 || len(e.queued(t)) != 0 {
		t.Fatalf("bounce of the null sender: inbox %d, queue %d", len(e.inbox(t)), len(e.queued(t)))
	}

	e.enqueue(t, "zed@far.test", "bob@remote.test")
	e.run(t)
	q := e.queued(t)
	if len(q) != 1 || q[0].From != "" || q[0].Recipients[0].Addr != "zed@far.test" {
		t.Fatalf("bounce to a remote sender not queued from <>: %+v", q)
	}
	e.run(t) // the bounce fails with 550 too
	e.run(t)
	if q := e.queued(t); len(q) != 0 {
		t.Fatalf("queue after the failed bounce: %+v", q)
	}
	if len(e.inbox(t)) != 0 {
		t.Error("notice in the local INBOX")
	}
}

// TestSmarthost: every message goes to the smarthost with STARTTLS (its
// certificate checked against RootCAs) and AUTH PLAIN, whatever the
// recipient domain; a wrong password keeps the message queued.
func TestSmarthost(t *testing.T) {
	p := startPeer(t, peerOpts{tls: true, auth: func(u, pw string) bool { return u == "relayuser" && pw == "s3cret" }})
	roots := x509.NewCertPool()
	roots.AddCert(mustLeaf(t, p))
	e := newEnv(t, 0, func(o *Options) {
		o.Smarthost = Smarthost{Host: "peer.test", Port: p.port, TLS: "starttls", Username: "relayuser", Password: "s3cret", RootCAs: roots}
	}, a("peer.test", "127.0.0.1"))
	e.enqueue(t, "ann@local.test", "bob@remote.test", "x@nowhere-without-mx.test")
	e.run(t)
	got := p.received()
	if len(got) != 1 || !got[0].tls || got[0].user != "relayuser" || got[0].password != "s3cret" || len(got[0].to) != 2 {
		t.Fatalf("smarthost got %+v", got)
	}

	e2 := newEnv(t, 0, func(o *Options) {
		o.Smarthost = Smarthost{Host: "peer.test", Port: p.port, TLS: "starttls", Username: "relayuser", Password: "wrong", RootCAs: roots}
	}, a("peer.test", "127.0.0.1"))
	e2.enqueue(t, "ann@local.test", "bob@remote.test")
	e2.run(t)
	q := e2.queued(t)
	if len(q) != 1 || q[0].Recipients[0].State != storage.QueuePending || !strings.Contains(q[0].Recipients[0].LastError, "bad credentials") {
		t.Fatalf("bad password: %+v", q)
	}
	if len(e2.inbox(t)) != 0 {
		t.Error("bad smarthost password bounced the mail")
	}

	// Without the CA the certificate check fails: nothing is sent.
	e3 := newEnv(t, 0, func(o *Options) {
		o.Smarthost = Smarthost{Host: "peer.test", Port: p.port, TLS: "starttls", Username: "relayuser", Password: "s3cret"}
	}, a("peer.test", "127.0.0.1"))
	e3.enqueue(t, "ann@local.test", "bob@remote.test")
	e3.run(t)
	if len(p.received()) != 1 || len(e3.queued(t)) != 1 {
		t.Fatal("sent to a smarthost with an unverified certificate")
	}
}

func mustLeaf(t *testing.T, p *peer) *x509.Certificate {
	leaf, err := x509.ParseCertificate(p.srv.TLSConfig.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// TestSmarthostImplicitTLS: TLS from the first byte (port 465 style).
func TestSmarthostImplicitTLS(t *testing.T) {
	p := startPeer(t, peerOpts{implicitTLS: true, auth: func(u, pw string) bool { return true }})
	roots := x509.NewCertPool()
	roots.AddCert(mustLeaf(t, p))
	e := newEnv(t, 0, func(o *Options) {
		o.Smarthost = Smarthost{Host: "peer.test", Port: p.port, TLS: "tls", Username: "u", Password: "p", RootCAs: roots}
	}, a("peer.test", "127.0.0.1"))
	e.enqueue(t, "ann@local.test", "bob@remote.test")
	e.run(t)
	if got := p.received(); len(got) != 1 || got[0].user != "u" {
		t.Fatalf("implicit TLS smarthost got %+v", got)
	}
}

// TestConcurrencyLimits: with 2 per destination and 3 overall, a peer
// holding every DATA never sees more than 2 sessions for one domain, and
// never more than 3 for three domains.
func TestConcurrencyLimits(t *testing.T) {
	for _, tc := range []struct {
		name    string
		domains []string
		want    int
	}{
		{"per destination", []string{"one.test"}, 2},
		{"overall", []string{"one.test", "two.test", "three.test"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPeer(t, peerOpts{})
			p.gate, p.arrived = make(chan struct{}), make(chan struct{}, 100)
			var zone []string
			for _, d := range tc.domains {
				zone = append(zone, a(d, "127.0.0.1"))
			}
			e := newEnv(t, p.port, func(o *Options) { o.MaxPerDestination, o.MaxConcurrent = 2, 3 }, zone...)
			n := 0
			for _, d := range tc.domains {
				for i := 0; i < 4; i++ {
					e.enqueue(t, "ann@local.test", fmt.Sprintf("u%d@%s", i, d))
					n++
				}
			}
			done := make(chan error)
			go func() { done <- e.q.RunDue(bg) }()
			for i := 0; i < tc.want; i++ {
				<-p.arrived // the limit is reached
			}
			close(p.gate)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := len(p.received()); got != n {
				t.Fatalf("delivered %d of %d", got, n)
			}
			if p.max != tc.want {
				t.Errorf("max simultaneous sessions %d, want %d", p.max, tc.want)
			}
		})
	}
}

// TestStalledPeer: a server that accepts and never greets, one that stalls
// in the STARTTLS handshake and one that stalls after the data cost one
// timeout each; the message stays
// queued for a retry.
func TestStalledPeer(t *testing.T) {
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	silent := rawPeer(t, func(c net.Conn) { <-hold })
	// Offers STARTTLS, says "go ahead", then never does the handshake.
	tlsStall := rawPeer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		io.WriteString(c, "220 stall.test ESMTP\r\n")
		br.ReadString('\n')
		io.WriteString(c, "250-stall.test\r\n250 STARTTLS\r\n")
		br.ReadString('\n')
		io.WriteString(c, "220 go ahead\r\n")
		<-hold
	})
	p := startPeer(t, peerOpts{})
	p.data = func() error { <-hold; return nil }
	e, rt := routedEnv(t, func(o *Options) { o.CommandTimeout, o.DataTimeout = 300*time.Millisecond, 300*time.Millisecond },
		a("silent.test", "10.0.0.1"), a("slow.test", "10.0.0.2"), a("tls.test", "10.0.0.3"))
	rt.set("10.0.0.1:25", silent)
	rt.set("10.0.0.2:25", p.addr)
	rt.set("10.0.0.3:25", tlsStall)
	e.enqueue(t, "ann@local.test", "bob@silent.test")
	e.enqueue(t, "ann@local.test", "bob@slow.test")
	e.enqueue(t, "ann@local.test", "bob@tls.test")
	e.run(t)
	q := e.queued(t)
	if len(q) != 3 {
		t.Fatalf("queue %d", len(q))
	}
	for _, m := range q {
		r := m.Recipients[0]
		if r.State != storage.QueuePending || r.Attempts != 1 || !strings.Contains(r.LastError, "timeout") {
			t.Errorf("%s: %+v", r.Addr, r)
		}
	}
}

// TestPermanentDestinations: null MX, a domain that does not exist, an MX
// that is ourselves and a server greeting with our name all fail for good
// (with a notice); a DNS server failure only defers.
func TestPermanentDestinations(t *testing.T) {
	self := startPeer(t, peerOpts{domain: "mail.local.test"})
	e, rt := routedEnv(t, nil,
		"nullmx.test. 300 IN MX 0 .",
		mx("loop.test", 10, "mail.local.test"),
		mx("echo.test", 10, "mx.echo.test"), a("mx.echo.test", "10.0.0.1"),
		mx("broken.test", 10, "mx.broken.test"),
	)
	rt.set("10.0.0.1:25", self.addr)
	e.dns.Fail("broken.test", 2) // SERVFAIL
	for _, d := range []string{"nullmx.test", "nxdomain.test", "loop.test", "echo.test", "broken.test"} {
		e.enqueue(t, "ann@local.test", "bob@"+d)
	}
	e.run(t)
	e.run(t)
	want := map[string]string{"bob@nullmx.test": "5.1.10", "bob@nxdomain.test": "5.1.2", "bob@loop.test": "5.4.6", "bob@echo.test": "5.4.6"}
	got := map[string]string{}
	for _, b := range e.inbox(t) {
		d := parseDSN(t, b)
		for _, r := range d.recipients {
			got[strings.TrimPrefix(r.Get("Final-Recipient"), "rfc822; ")] = r.Get("Status")
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("bounces %v, want %v", got, want)
	}
	if len(self.received()) != 0 {
		t.Error("delivered to ourselves")
	}
	q := e.queued(t)
	if len(q) != 1 || q[0].Recipients[0].Addr != "bob@broken.test" || q[0].Recipients[0].State != storage.QueuePending {
		t.Fatalf("SERVFAIL: %+v", q)
	}
}

// TestSMTPUTF8: a message to an internationalised address goes with
// SMTPUTF8 to a server that has it and fails for good at one that does not.
func TestSMTPUTF8(t *testing.T) {
	yes, no := startPeer(t, peerOpts{utf8: true}), startPeer(t, peerOpts{})
	e, rt := routedEnv(t, nil, a("yes.test", "10.0.0.1"), a("no.test", "10.0.0.2"))
	rt.set("10.0.0.1:25", yes.addr)
	rt.set("10.0.0.2:25", no.addr)
	e.enqueue(t, "ann@local.test", "jörg@yes.test")
	e.enqueue(t, "ann@local.test", "jörg@no.test")
	e.run(t)
	if got := yes.received(); len(got) != 1 || !got[0].utf8 {
		t.Fatalf("SMTPUTF8 peer got %+v", got)
	}
	if len(no.received()) != 0 {
		t.Fatal("sent to a peer without SMTPUTF8")
	}
	in := e.inbox(t)
	if len(in) != 1 || parseDSN(t, in[0]).recipients[0].Get("Status") != "5.6.7" {
		t.Fatalf("no bounce with 5.6.7: %d", len(in))
	}
}

// TestRestart: a message deferred by one Queue is delivered by a new Queue
// on the reopened store, and one found "in flight" (a killed attempt) is
// tried again at once, counting its attempt once.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	p := startPeer(t, peerOpts{})
	st, err := storage.Open(storage.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAccount("ann@local.test", "password-x"); err != nil {
		t.Fatal(err)
	}
	e := newEnvStore(t, st, p.port, mx("remote.test", 10, "mx.remote.test"), a("mx.remote.test", "127.0.0.1"))
	p.rcpt = func(string) error { return &smtp.SMTPError{Code: 421, Message: "down"} }
	id1 := e.enqueue(t, "ann@local.test", "bob@remote.test")
	id2 := e.enqueue(t, "ann@local.test", "carol@remote.test")
	e.run(t)
	// Simulate a kill during the second message's next attempt.
	qid2, _ := ParseID(id2)
	if _, err := st.QueueUpdate(qid2, func(m *storage.QueueMessage) error {
		m.Recipients[0].InFlight, m.Recipients[0].Attempts = true, 2
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st2 := reopen(t, dir)
	p.mu.Lock()
	p.rcpt = nil
	p.mu.Unlock()
	e2 := newEnvStore(t, st2, p.port, mx("remote.test", 10, "mx.remote.test"), a("mx.remote.test", "127.0.0.1"))
	if err := e2.q.LoadIndex(); err != nil || e2.q.Stats().Length != 2 {
		t.Fatalf("index after restart: %+v %v", e2.q.Stats(), err)
	}
	e2.run(t) // only the interrupted one is due (the clock has not moved)
	got := p.received()
	if len(got) != 1 || got[0].to[0] != "carol@remote.test" {
		t.Fatalf("after restart: %+v", got)
	}
	e2.clk.Advance(5 * time.Minute)
	e2.run(t)
	if len(p.received()) != 2 || len(e2.queued(t)) != 0 {
		t.Fatalf("first message not delivered after restart (%s)", id1)
	}
}

func reopen(t *testing.T, dir string) *storage.Store {
	t.Helper()
	st, err := storage.Open(storage.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(bg); err != nil {
			t.Error(err)
		}
		st.Close()
	})
	return st
}

// newEnvStore is newEnv on an existing store (for restarts).
func newEnvStore(t *testing.T, st *storage.Store, port int, zone ...string) *env {
	t.Helper()
	acct, err := st.Account("ann@local.test")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, clk: testutil.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)), sender: acct}
	e.dns = dnstest.Start(t, zone...)
	q, err := New(Options{Store: st, Logger: testutil.Logger(t), Hostname: "mail.local.test", Resolver: e.dns.Resolver(), Port: port, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.q = q
	return e
}

// TestRun: the service loop delivers an enqueued message without RunDue
// and stops when its context ends.
func TestRun(t *testing.T) {
	p := startPeer(t, peerOpts{})
	p.arrived = make(chan struct{}, 1)
	e := newEnv(t, p.port, func(o *Options) { o.Now = nil }, a("remote.test", "127.0.0.1"))
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error)
	go func() { done <- e.q.Run(ctx) }()
	e.enqueue(t, "ann@local.test", "bob@remote.test")
	<-p.arrived
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(p.received()) != 1 {
		t.Fatal("not delivered by Run")
	}
}

func TestEnqueueBadAddresses(t *testing.T) {
	e := newEnv(t, 25, nil)
	for _, to := range [][]string{nil, {"nobody"}, {"a@"}, {"@b"}, {"a b@c.test"}, {"<a@b.test>"}} {
		if _, err := e.q.Enqueue(bg, "ann@local.test", to, strings.NewReader("x")); err == nil {
			t.Errorf("recipients %q accepted", to)
		}
	}
	if _, err := e.q.Enqueue(bg, "ann", []string{"a@b.test"}, strings.NewReader("x")); err == nil {
		t.Error("bad sender accepted")
	}
	if len(e.queued(t)) != 0 {
		t.Error("something queued")
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New without a store")
	}
	if _, err := New(Options{Store: e.st, Smarthost: Smarthost{Host: "x", TLS: "maybe"}}); err == nil {
		t.Error("bad smarthost TLS mode accepted")
	}

}

// Test8BitMIME: an 8-bit body is marked at enqueue and announced with
// BODY=8BITMIME (RFC 6152) to a server that offers it; the bytes arrive
// unchanged.
func Test8BitMIME(t *testing.T) {
	p := startPeer(t, peerOpts{})
	e := newEnv(t, p.port, nil, a("remote.test", "127.0.0.1"))
	body := "From: ann@local.test\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln\r\n"
	if _, err := e.q.Enqueue(bg, "ann@local.test", []string{"bob@remote.test"}, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	e.enqueue(t, "ann@local.test", "carol@remote.test") // 7-bit
	q := e.queued(t)
	if len(q) != 2 || !q[0].EightBit || q[0].UTF8 || q[1].EightBit {
		t.Fatalf("flags: %+v", q)
	}
	e.run(t)
	got := p.received()
	if len(got) != 2 {
		t.Fatalf("received %d", len(got))
	}
	for _, g := range got {
		if g.to[0] == "bob@remote.test" && (g.body != smtp.Body8BitMIME || !bytes.HasSuffix(g.data, []byte(body))) {
			t.Fatalf("received %+v", g)
		}
	}
}

// TestStalledDataWrite: a server that says 354 and then stops reading
// fills the TCP window; the write deadline ends the attempt instead of
// blocking forever, and the message stays queued.
func TestStalledDataWrite(t *testing.T) {
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	addr := rawPeer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		io.WriteString(c, "220 stall.test ESMTP\r\n")
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			switch cmd := strings.ToUpper(strings.Fields(line + " x")[0]); cmd {
			case "EHLO":
				io.WriteString(c, "250-stall.test\r\n250 8BITMIME\r\n")
			case "DATA":
				io.WriteString(c, "354 go on\r\n")
				<-hold // and never read again
				return
			default:
				io.WriteString(c, "250 ok\r\n")
			}
		}
	})
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	e := newEnv(t, p, func(o *Options) { o.CommandTimeout = 300 * time.Millisecond }, a("remote.test", "127.0.0.1"))
	big := "From: ann@elsewhere.test\r\nSubject: big\r\n\r\n" + strings.Repeat(strings.Repeat("z", 998)+"\r\n", 32<<10) // 32 MiB
	if _, err := e.q.Enqueue(bg, "ann@local.test", []string{"bob@remote.test"}, strings.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	e.run(t)
	q := e.queued(t)
	if len(q) != 1 || q[0].Recipients[0].State != storage.QueuePending || !strings.Contains(q[0].Recipients[0].LastError, "timeout") {
		t.Fatalf("after a stalled DATA: %+v", q)
	}
}

// TestStopGrace: a stop while a server holds the reply to the final dot.
// Within the grace the transaction finishes and the message leaves the
// queue (no duplicate at the next start); past it the attempt is cut and
// the message stays, due again at once.
func TestStopGrace(t *testing.T) {
	for _, tc := range []struct {
		name      string
		grace     time.Duration
		delivered bool
	}{
		{"finishes within the grace", 10 * time.Second, true},
		{"cut without a grace", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPeer(t, peerOpts{})
			p.gate, p.arrived = make(chan struct{}), make(chan struct{}, 1)
			e := newEnv(t, p.port, func(o *Options) { o.StopGrace = tc.grace },
				mx("remote.test", 10, "mx.remote.test"), a("mx.remote.test", "127.0.0.1"))
			e.enqueue(t, "ann@local.test", "bob@remote.test")
			ctx, cancel := context.WithCancel(bg)
			done := make(chan error)
			go func() { done <- e.q.Run(ctx) }()
			<-p.arrived // the message is at the server, the reply held
			cancel()
			if !tc.delivered {
				<-done // cut: Run returns while the server still holds it
			}
			close(p.gate)
			if tc.delivered {
				<-done
			}
			left := e.queued(t)
			if tc.delivered {
				if len(left) != 0 || len(p.received()) != 1 {
					t.Fatalf("after a stop within the grace: %d queued, %d received", len(left), len(p.received()))
				}
				return
			}
			if len(left) != 1 {
				t.Fatalf("a cut attempt left %d messages queued, want 1", len(left))
			}
			r := left[0].Recipients[0]
			if r.State != storage.QueuePending || r.InFlight || r.NextAttempt.After(e.clk.Now()) {
				t.Fatalf("cut attempt recorded as %+v, want pending and due now", r)
			}
		})
	}
}
