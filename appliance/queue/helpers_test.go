package queue

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postroom/appliance/dkim"
	"postroom/internal/dnstest"
	"postroom/internal/testutil"
	"postroom/storage"
	"postroom/storage/storagetest"
)

var bg = context.Background()

// received is one message a peer accepted.
type received struct {
	from     string
	to       []string
	data     []byte
	tls      bool
	user     string
	password string
	utf8     bool
	body     smtp.BodyType
}

// peer is an in-process recording SMTP server on 127.0.0.1:0.
type peer struct {
	t    testing.TB
	srv  *smtp.Server
	addr string
	port int

	mu   sync.Mutex
	msgs []received
	// rcpt and data decide replies; nil accepts.
	rcpt func(to string) error
	data func() error
	// gate, if set, holds every DATA until closed; arrived gets a value
	// per DATA reaching it.
	gate    chan struct{}
	arrived chan struct{}
	active  int
	max     int
	authOK  func(user, pass string) bool
}

type peerOpts struct {
	tls    bool   // offer STARTTLS
	domain string // greeting name; "" peer.test
	utf8   bool
	auth   func(user, pass string) bool
	// implicitTLS serves TLS from the first byte.
	implicitTLS bool
}

func startPeer(t testing.TB, o peerOpts) *peer {
	t.Helper()
	p := &peer{t: t, authOK: o.auth}
	s := smtp.NewServer(p)
	s.Domain = o.domain
	if s.Domain == "" {
		s.Domain = "peer.test"
	}
	s.EnableSMTPUTF8 = o.utf8
	s.AllowInsecureAuth = true
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.ErrorLog = nopLogger{}
	if o.tls || o.implicitTLS {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t, "peer.test")}}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.implicitTLS {
		ln = tls.NewListener(ln, s.TLSConfig)
	}
	p.srv, p.addr = s, ln.Addr().String()
	p.port = ln.Addr().(*net.TCPAddr).Port
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return p
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

func (p *peer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, tlsOn := c.TLSConnectionState()
	return &peerSession{p: p, tls: tlsOn}, nil
}

func (p *peer) received() []received {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]received(nil), p.msgs...)
}

type peerSession struct {
	p   *peer
	tls bool
	cur received
}

func (s *peerSession) Reset()        { s.cur = received{user: s.cur.user, password: s.cur.password} }
func (s *peerSession) Logout() error { return nil }
func (s *peerSession) Mail(from string, o *smtp.MailOptions) error {
	s.cur.from, s.cur.utf8 = from, o != nil && o.UTF8
	if o != nil {
		s.cur.body = o.Body
	}
	return nil
}

func (s *peerSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.p.mu.Lock()
	f := s.p.rcpt
	s.p.mu.Unlock()
	if f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *peerSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	p := s.p
	p.mu.Lock()
	p.active++
	p.max = max(p.max, p.active)
	gate, arrived, f := p.gate, p.arrived, p.data
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.active--
		p.mu.Unlock()
	}()
	if arrived != nil {
		arrived <- struct{}{}
	}
	if gate != nil {
		<-gate
	}
	if f != nil {
		if err := f(); err != nil {
			return err
		}
	}
	s.cur.data, s.cur.tls = b, s.tls
	p.mu.Lock()
	p.msgs = append(p.msgs, s.cur)
	p.mu.Unlock()
	return nil
}

func (s *peerSession) AuthMechanisms() []string {
	if s.p.authOK == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *peerSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if !s.p.authOK(user, pass) {
			return errors.New("bad credentials")
		}
		s.cur.user, s.cur.password = user, pass
		return nil
	}), nil
}

func selfSigned(t testing.TB, name string) tls.Certificate {
	s, _ := testutil.TLS(t, name)
	return s.Certificates[0]
}

// env is a store with a local sender, a DNS zone and a queue.
type env struct {
	st     *storage.Store
	dns    *dnstest.Server
	q      *Queue
	clk    *testutil.Clock
	sender storage.Account
	keys   *dkim.Keys
	opts   Options
}

// newEnv opens a store with account ann@local.test, a zone and a queue
// whose MX port is port. mod adjusts the options.
func newEnv(t *testing.T, port int, mod func(*Options), zone ...string) *env {
	t.Helper()
	e := &env{st: storagetest.Open(t), clk: testutil.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))}
	e.sender = storagetest.Account(t, e.st, "ann@local.test")
	e.dns = dnstest.Start(t, zone...)
	e.keys = dkim.New(t.TempDir())
	e.opts = Options{
		Store: e.st, Logger: testutil.Logger(t), Hostname: "mail.local.test",
		Resolver: e.dns.Resolver(), Port: port, DKIM: e.keys, Now: e.clk.Now,
		CommandTimeout: 10 * time.Second, DataTimeout: 10 * time.Second, ConnectTimeout: 5 * time.Second,
	}
	if mod != nil {
		mod(&e.opts)
	}
	q, err := New(e.opts)
	if err != nil {
		t.Fatal(err)
	}
	e.q = q
	return e
}

const testMsg = "From: Ann <ann@local.test>\r\nTo: bob@remote.test\r\nSubject: test\r\n" +
	"Date: Thu, 26 Nov 2026 12:00:00 +0000\r\nMessage-ID: <t1@local.test>\r\n\r\nHello Bob.\r\n"

func (e *env) enqueue(t *testing.T, from string, to ...string) string {
	t.Helper()
	id, err := e.q.Enqueue(bg, from, to, stringsReader(testMsg))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) run(t *testing.T) {
	t.Helper()
	if err := e.q.RunDue(bg); err != nil {
		t.Fatal(err)
	}
}

func (e *env) queued(t *testing.T) []storage.QueueMessage {
	t.Helper()
	ms, err := e.st.QueueMessages()
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// inbox returns the bodies in the sender's INBOX.
func (e *env) inbox(t *testing.T) [][]byte {
	t.Helper()
	mb, err := e.st.Mailbox(e.sender.ID, storage.InboxName)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := e.st.Messages(e.sender.ID, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		b, err := e.st.OpenBody(m.Object)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(b.Reader())
		b.Close()
		out = append(out, data)
	}
	return out
}

func mx(domain string, pref int, host string) string {
	return domain + ". 300 IN MX " + strconv.Itoa(pref) + " " + host + "."
}

func a(host, ip string) string {
	if net.ParseIP(ip).To4() == nil {
		return host + ". 300 IN AAAA " + ip
	}
	return host + ". 300 IN A " + ip
}
