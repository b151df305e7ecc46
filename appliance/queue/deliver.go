package queue

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postroom/storage"
)

// result is the outcome of one attempt for one recipient.
type result struct {
	state  storage.QueueState // Delivered, Failed (permanent) or Pending (retry)
	text   string             // reply or error in words
	status string             // enhanced status code, "4.4.1"
	mta    string             // host that answered
}

func temp(status, mta, format string, a ...any) result {
	return result{state: storage.QueuePending, status: status, mta: mta, text: fmt.Sprintf(format, a...)}
}

func perm(status, mta, format string, a ...any) result {
	return result{state: storage.QueueFailed, status: status, mta: mta, text: fmt.Sprintf(format, a...)}
}

// fromSMTP turns a server's reply into a result.
func fromSMTP(err error, mta string) result {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return temp("4.4.2", mta, "%s: %v", mta, err) // connection broken
	}
	st := ""
	if se.EnhancedCode != smtp.NoEnhancedCode && se.EnhancedCode != (smtp.EnhancedCode{}) {
		st = fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	text := fmt.Sprintf("%s said: %d %s%s", mta, se.Code, prefixed(st), se.Message)
	if se.Code >= 500 {
		if st == "" || st[0] != '5' {
			st = "5.0.0"
		}
		return result{state: storage.QueueFailed, status: st, mta: mta, text: text}
	}
	if st == "" || st[0] != '4' {
		st = "4.0.0"
	}
	return result{state: storage.QueuePending, status: st, mta: mta, text: text}
}

func prefixed(st string) string {
	if st == "" {
		return ""
	}
	return st + " "
}

// attempt runs one delivery attempt for the recipients idx of message id
// to destination dest, recording progress before and after.
func (q *Queue) attempt(ctx context.Context, id storage.QueueID, dest string, idx []uint32) {
	now := q.o.Now()
	var rcpts []storage.QueueRecipient
	var interrupted []string
	m, err := q.update(id, func(m *storage.QueueMessage) error {
		rcpts, interrupted = rcpts[:0], interrupted[:0]
		for _, i := range idx {
			r := &m.Recipients[i]
			if r.State != storage.QueuePending {
				continue
			}
			if r.InFlight {
				// Marked by a process that died during the attempt: the
				// server may have the message already (RFC 5321 6.1
				// prefers a duplicate to a loss). Counted already.
				interrupted = append(interrupted, r.Addr)
			} else {
				r.Attempts++
			}
			r.InFlight, r.LastAttempt = true, now
			rcpts = append(rcpts, *r)
		}
		return nil
	})
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) { // deleted meanwhile (postroomctl)
			q.log.Error("mark attempt", "id", FormatID(id), "err", err)
		}
		return
	}
	if len(rcpts) == 0 {
		return
	}
	if len(interrupted) > 0 {
		q.log.Warn("an attempt was interrupted by a stop; trying again (may arrive twice)", "id", FormatID(id), "rcpts", interrupted)
	}
	dctx, stop := withGrace(ctx, q.o.StopGrace)
	results := q.deliver(dctx, &m, dest, rcpts)
	cut := dctx.Err() != nil
	stop()
	if cut {
		// Shutting down: retry at the next start, without waiting.
		for i := range results {
			if results[i].state == storage.QueuePending {
				results[i] = temp("4.3.0", results[i].mta, "interrupted by shutdown")
			}
		}
	}
	q.record(ctx, id, rcpts, results)
}

// record writes the outcome of an attempt and starts what follows from it:
// the bounce, the removal of a finished message, the next attempt's timer.
func (q *Queue) record(ctx context.Context, id storage.QueueID, rcpts []storage.QueueRecipient, results []result) {
	now := q.o.Now()
	interrupted := ctx.Err() != nil
	m, err := q.update(id, func(m *storage.QueueMessage) error {
		expiry := m.Created.Add(q.o.MaxAge)
		for i, rc := range rcpts {
			r, res := &m.Recipients[rc.Index], results[i]
			r.InFlight = false
			r.LastError, r.Status, r.RemoteMTA = res.text, res.status, res.mta
			switch {
			case res.state != storage.QueuePending:
				r.State = res.state
			case interrupted:
				r.NextAttempt = now
			case !now.Before(expiry):
				r.State = storage.QueueFailed
				r.Status = "4.4.7"
				r.LastError = fmt.Sprintf("gave up after %s; last error: %s", q.o.MaxAge, res.text)
			default:
				next := now.Add(q.retryDelay(r.Attempts))
				if next.After(expiry) {
					next = expiry // one last attempt at the deadline
				}
				r.NextAttempt = next
			}
		}
		return nil
	})
	if err != nil {
		q.log.Error("record attempt (the recipients will be tried again)", "id", FormatID(id), "err", err)
		return
	}
	delivered, failed, done := 0, false, true
	var due time.Time
	for _, r := range m.Recipients {
		if !r.Done() {
			done = false
		}
		if r.State == storage.QueuePending && (due.IsZero() || r.NextAttempt.Before(due)) {
			due = r.NextAttempt
		}
	}
	for i, rc := range rcpts {
		res := results[i]
		switch res.state {
		case storage.QueueDelivered:
			delivered++
			q.log.Info("delivered", "id", FormatID(id), "rcpt", rc.Addr, "reply", oneLine(res.text, 200))
		case storage.QueueFailed:
			failed = true
			q.setLastError(rc.Addr, res.text)
			q.log.Warn("delivery failed", "id", FormatID(id), "rcpt", rc.Addr, "err", oneLine(res.text, 300))
		default:
			if m.Recipients[rc.Index].State == storage.QueueFailed {
				failed = true
			}
			q.setLastError(rc.Addr, res.text)
			q.log.Info("delivery deferred", "id", FormatID(id), "rcpt", rc.Addr, "next", m.Recipients[rc.Index].NextAttempt, "err", oneLine(res.text, 300))
		}
	}
	if delivered > 0 {
		q.o.OnSent(delivered)
	}
	if !due.IsZero() {
		q.noteDue(due)
		q.Kick()
	}
	if failed {
		q.start(ctx, id, "", func(ctx context.Context) { q.notifyFailed(ctx, id) })
		return
	}
	if done {
		q.forget(id) // QueueUpdate removed it with the last outcome
	}
}

// host is one server to try: its name and how to talk to it.
type host struct {
	name     string
	port     int
	tls      string // "opportunistic" (MX), "starttls", "tls", "none"
	user     string
	password string
	roots    *x509.CertPool
}

// deliver tries the destination's hosts in order until one gives an
// answer for the recipients; it returns one result per recipient.
func (q *Queue) deliver(ctx context.Context, m *storage.QueueMessage, dest string, rcpts []storage.QueueRecipient) []result {
	if q.o.Sink != nil {
		return all(len(rcpts), q.toSink(ctx, m, rcpts))
	}
	var hosts []host
	if sh := q.o.Smarthost; sh.Host != "" {
		hosts = []host{{name: sh.Host, port: sh.Port, tls: sh.TLS, user: sh.Username, password: sh.Password, roots: sh.RootCAs}}
	} else {
		names, res := q.mxHosts(ctx, dest)
		if res != nil {
			return all(len(rcpts), *res)
		}
		for _, n := range names {
			hosts = append(hosts, host{name: n, port: q.o.Port, tls: "opportunistic"})
		}
	}
	last := temp("4.4.1", "", "no server of %s could be reached", dest)
	tried := 0
	for _, h := range hosts {
		addrs, err := q.addresses(ctx, h.name)
		if err != nil {
			last = temp("4.4.3", h.name, "looking up %s: %v", h.name, err)
			continue
		}
		for _, a := range addrs {
			if tried >= q.o.MaxHostAddresses || ctx.Err() != nil {
				return all(len(rcpts), last)
			}
			tried++
			out, next, res := q.session(ctx, h, net.JoinHostPort(a, strconv.Itoa(h.port)), m, rcpts)
			if !next {
				return out
			}
			last = res
			q.log.Info("host failed, trying the next", "id", FormatID(m.ID), "host", h.name, "addr", a, "err", oneLine(res.text, 200))
		}
	}
	return all(len(rcpts), last)
}

// sinkName stands for the Sink where a server's name would be (the
// remote MTA of the recipients' records, the logs).
const sinkName = "dev outbox"

// toSink hands the message to Options.Sink instead of a server.
func (q *Queue) toSink(ctx context.Context, m *storage.QueueMessage, rcpts []storage.QueueRecipient) result {
	env := Envelope{ID: m.ID, From: m.From}
	for _, r := range rcpts {
		env.To = append(env.To, r.Addr)
	}
	body, err := q.st.OpenQueueBody(m)
	if err != nil {
		return temp("4.3.0", sinkName, "open queued body: %v", err)
	}
	defer body.Close()
	if err := q.o.Sink(ctx, env, body.Reader()); err != nil {
		return temp("4.3.0", sinkName, "%s: %v", sinkName, err)
	}
	return result{state: storage.QueueDelivered, mta: sinkName, text: "kept in the " + sinkName + " (development mode: not sent)"}
}

// mxHosts returns the hosts to try for domain in preference order (RFC 5321
// 5.1): its MX records, or the domain itself when it has none. A nil result
// with a non-nil *result means the attempt is decided already.
func (q *Queue) mxHosts(ctx context.Context, domain string) ([]string, *result) {
	mxs, err := q.o.Resolver.LookupMX(ctx, domain)
	var de *net.DNSError
	if err != nil && !(errors.As(err, &de) && de.IsNotFound) {
		r := temp("4.4.3", "", "MX lookup of %s failed: %v", domain, err)
		return nil, &r
	}
	if len(mxs) == 0 {
		// No MX: the domain's own address records (RFC 5321 5.1, the
		// "implicit MX"). A domain without those does not exist.
		if _, err := q.o.Resolver.LookupIPAddr(ctx, domain); err != nil {
			if errors.As(err, &de) && de.IsNotFound {
				r := perm("5.1.2", "", "the domain %s has no mail server (no MX, A or AAAA record)", domain)
				return nil, &r
			}
			r := temp("4.4.3", "", "address lookup of %s failed: %v", domain, err)
			return nil, &r
		}
		return []string{domain}, nil
	}
	// RFC 7505: a single MX "." means the domain accepts no mail.
	if len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == "") {
		r := perm("5.1.10", "", "the domain %s accepts no mail (null MX, RFC 7505)", domain)
		return nil, &r
	}
	// LookupMX sorts by preference (randomising equal ones).
	var hosts []string
	self := false
	for _, mx := range mxs {
		h := strings.ToLower(strings.TrimSuffix(mx.Host, "."))
		if h == "" {
			continue
		}
		if h == q.o.Hostname {
			// We are an MX of this domain: hosts less preferred than us
			// must not be used (RFC 5321 5.1), and we do not relay to
			// ourselves.
			self = true
			break
		}
		hosts = append(hosts, h)
	}
	if len(hosts) == 0 && self {
		r := perm("5.4.6", q.o.Hostname, "mail for %s loops back to myself (%s is its MX)", domain, q.o.Hostname)
		return nil, &r
	}
	return hosts, nil
}

// addresses resolves a host name (or takes an IP literal).
func (q *Queue) addresses(ctx context.Context, name string) ([]string, error) {
	if ip := net.ParseIP(strings.Trim(name, "[]")); ip != nil {
		return []string{ip.String()}, nil
	}
	ips, err := q.o.Resolver.LookupIPAddr(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, ip.IP.String())
	}
	return out, nil
}

// session runs one SMTP transaction with one server address. next reports
// that the server gave no usable answer (connection, greeting, EHLO,
// STARTTLS, MAIL temporary failure) and the next address should be tried;
// last is then the reason.
func (q *Queue) session(ctx context.Context, h host, addr string, m *storage.QueueMessage, rcpts []storage.QueueRecipient) (out []result, next bool, last result) {
	fail := func(r result) ([]result, bool, result) { return nil, true, r }
	dctx, cancel := context.WithTimeout(ctx, q.o.ConnectTimeout)
	raw, err := q.o.Dial(dctx, "tcp", addr)
	cancel()
	if err != nil {
		return fail(temp("4.4.1", h.name, "connecting to %s (%s): %v", h.name, addr, err))
	}
	conn := &deadlineConn{Conn: raw, timeout: q.o.CommandTimeout}
	defer conn.Close()
	// Shutdown or any stall beyond the per-step timeouts: closing the
	// connection unblocks every read and write.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var nc net.Conn = conn
	if h.tls == "tls" {
		tc := tls.Client(conn, &tls.Config{ServerName: h.name, MinVersion: tls.VersionTLS12, RootCAs: h.roots})
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(temp("4.7.5", h.name, "TLS with %s: %v", h.name, err))
		}
		nc = tc
	}
	// The greeting, the first EHLO and STARTTLS are done here rather than
	// by go-smtp, which neither shows the greeting (loop detection) nor
	// offers STARTTLS after an EHLO with our own name.
	tr := textproto.NewReader(bufio.NewReader(nc))
	_, greeting, err := tr.ReadResponse(220)
	if err != nil {
		return fail(fromSMTPTemp(protoErr(err), h.name))
	}
	if greetingName(greeting) == q.o.Hostname {
		// A server greeting with our own name is us: an MX or smarthost
		// pointing back at this box.
		r := perm("5.4.6", h.name, "mail loops back to myself: %s greets as %s", h.name, q.o.Hostname)
		return all(len(rcpts), r), false, r
	}
	tlsOn := h.tls == "tls"
	if h.tls == "opportunistic" || h.tls == "starttls" {
		fmt.Fprintf(nc, "EHLO %s\r\n", q.o.Hostname)
		_, ehlo, err := tr.ReadResponse(250)
		if err != nil {
			return fail(fromSMTPTemp(protoErr(err), h.name))
		}
		if hasExtension(ehlo, "STARTTLS") {
			fmt.Fprintf(nc, "STARTTLS\r\n")
			if _, _, err := tr.ReadResponse(220); err != nil {
				return fail(fromSMTPTemp(protoErr(err), h.name))
			}
			cfg := &tls.Config{ServerName: h.name, MinVersion: tls.VersionTLS12, RootCAs: h.roots}
			if h.tls == "opportunistic" {
				// RFC 7435 opportunistic security: encrypt, do not
				// authenticate (MX certificates are often self-signed).
				cfg.InsecureSkipVerify = true
			}
			tc := tls.Client(nc, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				return fail(temp("4.7.5", h.name, "STARTTLS with %s: %v", h.name, err))
			}
			nc, tlsOn = tc, true
		} else if h.tls == "starttls" {
			return fail(temp("4.7.5", h.name, "smarthost %s does not offer STARTTLS", h.name))
		}
	}
	// go-smtp starts by reading a greeting: give it a copy of the one we
	// consumed; its EHLO is then the first one (plain) or the one after
	// STARTTLS (RFC 3207 4.2).
	c := smtp.NewClient(&replayConn{Conn: nc, r: io.MultiReader(strings.NewReader("220 "+firstLine(greeting)+"\r\n"), nc)})
	c.CommandTimeout = q.o.CommandTimeout
	c.SubmissionTimeout = q.o.DataTimeout
	defer c.Close()
	if err := c.Hello(q.o.Hostname); err != nil {
		return fail(fromSMTPTemp(err, h.name))
	}
	q.tlsUsed(tlsOn)
	if h.user != "" {
		if !tlsOn && !isLoopback(addr) {
			return fail(temp("4.7.5", h.name, "refusing to send the smarthost password to %s without TLS", h.name))
		}
		if err := c.Auth(sasl.NewPlainClient("", h.user, h.password)); err != nil {
			// Bad credentials are a configuration problem: keep the mail
			// and retry, the status shows the error.
			return fail(fromSMTPTemp(err, h.name))
		}
	}
	if m.UTF8 {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			r := perm("5.6.7", h.name, "%s does not support SMTPUTF8, which this message needs (RFC 6531 3.5)", h.name)
			return all(len(rcpts), r), false, r
		}
	}
	if ok, _ := c.Extension("8BITMIME"); m.EightBit && !ok {
		// RFC 6152 asks for conversion to 7 bit; like most MTAs we send
		// as is, which nearly every server accepts.
		q.log.Warn("server lacks 8BITMIME; sending 8-bit message unconverted", "id", FormatID(m.ID), "host", h.name)
	}
	size := m.Size + int64(len(m.Prefix))
	if err := c.Mail(m.From, &smtp.MailOptions{Size: size, UTF8: m.UTF8}); err != nil {
		r := fromSMTP(err, h.name)
		if r.state == storage.QueueFailed {
			return all(len(rcpts), r), false, r
		}
		return fail(r)
	}
	out = make([]result, len(rcpts))
	accepted := 0
	for i, rc := range rcpts {
		if err := c.Rcpt(rc.Addr, nil); err != nil {
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				return fail(fromSMTP(err, h.name)) // connection lost
			}
			out[i] = fromSMTP(err, h.name)
			continue
		}
		out[i].state = storage.QueueDelivered // provisional: DATA decides
		accepted++
	}
	if accepted == 0 {
		_ = c.Quit()
		return out, false, result{}
	}
	setAccepted := func(r result) {
		for i := range out {
			if out[i].state == storage.QueueDelivered {
				out[i] = r
			}
		}
	}
	if err := q.sendData(c, m); err != nil {
		// No reply to the final dot may still mean it arrived: retrying
		// risks a duplicate, which RFC 5321 6.1 prefers to a loss.
		setAccepted(fromSMTP(err, h.name))
		return out, false, result{}
	}
	setAccepted(result{state: storage.QueueDelivered, mta: h.name, text: h.name + " accepted the message"})
	_ = c.Quit()
	return out, false, result{}
}

func all(n int, r result) []result {
	out := make([]result, n)
	for i := range out {
		out[i] = r
	}
	return out
}

// fromSMTPTemp is fromSMTP for steps before the transaction (EHLO, AUTH),
// where even a 5xx says something about this server, not the message.
func fromSMTPTemp(err error, mta string) result {
	r := fromSMTP(err, mta)
	if r.state == storage.QueueFailed {
		r.state, r.status = storage.QueuePending, "4"+r.status[1:]
	}
	return r
}

// sendData streams the prefix (DKIM signatures, trace fields) and the
// stored body, which local copies of the message may share.
func (q *Queue) sendData(c *smtp.Client, m *storage.QueueMessage) error {
	body, err := q.st.OpenQueueBody(m)
	if err != nil {
		return fmt.Errorf("open queued body: %w", err)
	}
	defer body.Close()
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, body.Reader()); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func isLoopback(addr string) bool {
	h, _, _ := net.SplitHostPort(addr)
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// deadlineConn bounds every read and write that has no deadline of its
// own by timeout, so that a server that stalls anywhere (TLS handshake, a
// full TCP window during DATA, our own greeting and EHLO reads) cannot hold
// an attempt forever. Deadlines go-smtp sets around its replies (the longer
// one for the reply to the final dot) are kept.
type deadlineConn struct {
	net.Conn
	timeout  time.Duration
	mu       sync.Mutex
	explicit time.Time
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.explicit = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *deadlineConn) idle(set func(time.Time) error) {
	c.mu.Lock()
	none := c.explicit.IsZero()
	c.mu.Unlock()
	if none {
		set(time.Now().Add(c.timeout))
	}
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	c.idle(c.Conn.SetWriteDeadline)
	return c.Conn.Write(p)
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	c.idle(c.Conn.SetReadDeadline)
	return c.Conn.Read(p)
}

// replayConn reads the greeting we already consumed before the rest.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// protoErr turns a textproto reply error into go-smtp's SMTPError, so
// that fromSMTP reads both alike.
func protoErr(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return &smtp.SMTPError{Code: te.Code, Message: te.Msg}
	}
	return err
}

// hasExtension reports whether an EHLO reply (lines after the first) lists ext.
func hasExtension(ehlo, ext string) bool {
	lines := strings.Split(ehlo, "\n")
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], ext) {
			return true
		}
	}
	return false
}

// greetingName returns the host name a greeting starts with, lower case.
func greetingName(g string) string {
	f := strings.Fields(firstLine(g))
	if len(f) == 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(f[0], "."))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
