// Package queue delivers outbound mail: a persistent queue in the mail
// store (storage/queue.go), MX lookup, SMTP to the receiving servers or a
// smarthost, retries, delay warnings and bounces (DSN).
//
// The map:
//
//	queue.go     Options, Queue, Enqueue (DKIM signing), the scheduler, Stats
//	deliver.go   one delivery attempt: MX lookup (RFC 5321 5.1), SMTP client,
//	             STARTTLS, per-recipient results
//	dsn.go       delivery status notifications (RFC 3464): bounces and delay warnings
//
// Life of a message: Enqueue stores the body once with one state record per
// recipient, signs it with DKIM if the From domain is ours, and returns when
// that is synced. The scheduler groups the due recipients of a message by
// destination (the recipient's domain, or the smarthost) and runs one SMTP
// transaction per group, within an overall and a per-destination limit.
// Before an attempt its recipients are marked in flight, durably; after it,
// each recipient's outcome is written at once: delivered, failed for good
// (5xx, null MX, loop, expiry) or to be retried on the schedule. A process
// killed in between finds the in-flight mark at start-up and tries again:
// that one transaction may be delivered twice, nothing is lost.
//
// A failure the sender must hear about produces one DSN per attempt that
// failed: delivered into the sender's INBOX when the sender is local,
// queued to the sender otherwise, and never for the null sender "<>"
// (RFC 5321 6.1: no bounce of a bounce).
//
// TLS: to MX hosts STARTTLS is used whenever the server offers it, without
// checking the certificate (opportunistic TLS, RFC 3207 4.1 and RFC 7435):
// that protects against passive listeners, not against an attacker who can
// change DNS or routes, which would need MTA-STS or DANE (not done). A
// smarthost's certificate is checked, since its name is configured.
package queue

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"postroom/appliance/dkim"
	"postroom/storage"
)

// Smarthost sends every message through one relay instead of MX lookup.
type Smarthost struct {
	Host string
	Port int // 0: 587 for STARTTLS, 465 for TLS, 25 for none
	// TLS is "starttls" (required, certificate checked), "tls" (implicit
	// TLS from the first byte) or "none" (plain; AUTH then only to a
	// loopback relay).
	TLS      string
	Username string // AUTH PLAIN when set
	Password string
	// RootCAs checks the smarthost's certificate; nil: the system's roots.
	RootCAs *x509.CertPool
}

// Options configures a Queue. Zero values are documented per field.
type Options struct {
	Store    *storage.Store // required
	Logger   *slog.Logger   // nil: slog.Default()
	Hostname string         // our name in EHLO, DSNs and loop detection; "": "localhost"
	// Resolver looks up MX and address records; nil: net.DefaultResolver.
	Resolver *net.Resolver
	// Port is the SMTP port of MX hosts; 0 means 25. Tests use peers on
	// 127.0.0.1 at random ports.
	Port int
	// Dial opens connections; nil: a net.Dialer with ConnectTimeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Smarthost, when its Host is set, relays everything through it.
	Smarthost Smarthost
	// Sink, when set, takes every message instead of the network: no DNS
	// query, no connection, no smarthost. It gets the envelope and the
	// bytes that would have been sent (the DKIM prefix and the body); nil
	// counts the recipients as delivered, an error as a temporary failure.
	// Development mode keeps mail there (the dev outbox), so that a laptop
	// never sends to the internet.
	Sink func(ctx context.Context, env Envelope, msg io.Reader) error
	// DKIM signs messages whose From domain is a local domain; nil: no signing.
	DKIM *dkim.Keys
	// MaxConcurrent bounds simultaneous deliveries; 0 means 8.
	MaxConcurrent int
	// MaxPerDestination bounds simultaneous deliveries to one domain (or
	// the smarthost); 0 means 2.
	MaxPerDestination int
	// Retry is the wait after the 1st, 2nd, ... failed attempt; the last
	// entry repeats. Empty: 5m, 15m, 1h, 4h.
	Retry []time.Duration
	// MaxAge is how long a recipient is retried before bouncing; 0: 5 days.
	MaxAge time.Duration
	// DelayWarning is the age at which the sender is told once that a
	// message is delayed; 0: 4h, negative: never.
	DelayWarning time.Duration
	// ConnectTimeout bounds one TCP connect; 0: 30s. CommandTimeout bounds
	// the wait for each reply and each write; 0: 5m (RFC 5321 4.5.3.2).
	// DataTimeout bounds the wait for the reply to the final dot; 0: 10m.
	ConnectTimeout, CommandTimeout, DataTimeout time.Duration
	// MaxHostAddresses bounds the addresses tried per attempt; 0: 5.
	MaxHostAddresses int
	// Now is the clock; nil: time.Now. Tests move it to walk the schedule.
	Now func() time.Time
	// StopGrace is how long attempts already talking to a server may go on
	// once Run's context ends, so that a restart does not cut a
	// transaction between the final dot and the reply (which would send
	// that message twice); 0: 15s, negative: none.
	StopGrace time.Duration
	// OnSent is called with the number of recipients a transaction
	// delivered (the status "sent today" count).
	OnSent func(n int)
	// OnChange is called after Stats may have changed (a message queued,
	// finished, or a new error), outside any lock; for the status Snapshot.
	OnChange func()
}

// Envelope is what a Sink learns of a message besides its bytes.
type Envelope struct {
	ID   storage.QueueID
	From string   // "" for the null sender
	To   []string // the recipients of this attempt
}

// DefaultRetry is the retry schedule when Options.Retry is empty.
var DefaultRetry = []time.Duration{5 * time.Minute, 15 * time.Minute, time.Hour, 4 * time.Hour}

// Queue is the outbound queue. Enqueue is safe for concurrent use; Run (or
// RunDue in tests) does the delivering.
type Queue struct {
	o   Options
	st  *storage.Store
	log *slog.Logger

	kick chan struct{}
	sem  chan struct{} // overall delivery slots

	mu                   sync.Mutex
	dests                map[string]*destSlots                     // per-destination slots
	running              map[jobKey]bool                           // jobs in progress
	msgLocks             map[storage.QueueID]*sync.Mutex           // serialises updates of one message
	index                map[storage.QueueID]time.Time             // queued messages and when they arrived
	nextDue              time.Time                                 // earliest known NextAttempt (zero: none)
	fresh                map[storage.QueueID]*storage.QueueMessage // enqueued since the last scan
	lastErr              string
	tlsCount, plainCount int
	wg                   sync.WaitGroup // running jobs
}

// destSlots limits the simultaneous deliveries to one destination; jobs
// counts the jobs started for it and not finished (under Queue.mu).
type destSlots struct {
	ch   chan struct{}
	jobs int
}

type jobKey struct {
	id   storage.QueueID
	dest string
}

// New returns a queue on o.Store. Call Run to start delivering.
func New(o Options) (*Queue, error) {
	if o.Store == nil {
		return nil, errors.New("queue: Options.Store is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	o.Hostname = strings.ToLower(strings.TrimSuffix(o.Hostname, "."))
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Port == 0 {
		o.Port = 25
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 30 * time.Second
	}
	if o.Dial == nil {
		d := &net.Dialer{Timeout: o.ConnectTimeout}
		o.Dial = d.DialContext
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 8
	}
	if o.MaxPerDestination <= 0 {
		o.MaxPerDestination = 2
	}
	if len(o.Retry) == 0 {
		o.Retry = DefaultRetry
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 5 * 24 * time.Hour
	}
	if o.DelayWarning == 0 {
		o.DelayWarning = 4 * time.Hour
	}
	if o.StopGrace == 0 {
		o.StopGrace = 15 * time.Second
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 5 * time.Minute
	}
	if o.DataTimeout <= 0 {
		o.DataTimeout = 10 * time.Minute
	}
	if o.MaxHostAddresses <= 0 {
		o.MaxHostAddresses = 5
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OnChange == nil {
		o.OnChange = func() {}
	}
	if o.OnSent == nil {
		o.OnSent = func(int) {}
	}
	if sh := &o.Smarthost; sh.Host != "" {
		switch sh.TLS {
		case "", "starttls":
			sh.TLS = "starttls"
		case "tls", "none":
		default:
			return nil, fmt.Errorf("queue: smarthost TLS %q: want starttls, tls or none", sh.TLS)
		}
		if sh.Port == 0 {
			sh.Port = map[string]int{"starttls": 587, "tls": 465, "none": 25}[sh.TLS]
		}
	}
	q := &Queue{
		o: o, st: o.Store, log: o.Logger.With("component", "queue"),
		kick:     make(chan struct{}, 1),
		sem:      make(chan struct{}, o.MaxConcurrent),
		dests:    map[string]*destSlots{},
		running:  map[jobKey]bool{},
		msgLocks: map[storage.QueueID]*sync.Mutex{},
		index:    map[storage.QueueID]time.Time{},
		fresh:    map[storage.QueueID]*storage.QueueMessage{},
	}
	return q, nil
}

// FormatID and ParseID convert queue IDs for people (postroomctl, logs).
func FormatID(id storage.QueueID) string { return strconv.FormatUint(uint64(id), 10) }

// ParseID is the inverse of FormatID.
func ParseID(s string) (storage.QueueID, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("queue: bad message ID %q", s)
	}
	return storage.QueueID(v), nil
}

// Enqueue stores a message for delivery to every address of to, signed
// with DKIM when the From header's domain is local, and returns its ID once
// it is on disk. from "" is the null sender (no bounces).
func (q *Queue) Enqueue(ctx context.Context, from string, to []string, body io.Reader) (string, error) {
	if err := checkEnvelope(from, to); err != nil {
		return "", err
	}
	sg, err := q.st.Stage(ctx, body, 0)
	if err != nil {
		return "", fmt.Errorf("queue: enqueue: %w", err)
	}
	defer sg.Close()
	return q.EnqueueStaged(ctx, from, to, sg, nil)
}

// EnqueueStaged is Enqueue for a body staged in the store already
// (storage.Stage), with prefix (trace header fields) in front of it: the
// queue takes a reference to the staged object, so a message that also
// went to local mailboxes is stored once.
func (q *Queue) EnqueueStaged(ctx context.Context, from string, to []string, body *storage.Staged, prefix []byte) (string, error) {
	if err := checkEnvelope(from, to); err != nil {
		return "", err
	}
	m, err := body.Enqueue(storage.QueueNew{
		From: from, To: to, Created: q.o.Now(), Prefix: prefix,
		Prepare: func(body io.ReaderAt, size int64, m *storage.QueueMessage) error {
			return q.prepare(body, size, m)
		},
	})
	if err != nil {
		return "", fmt.Errorf("queue: enqueue: %w", err)
	}
	q.mu.Lock()
	q.index[m.ID] = m.Created
	q.fresh[m.ID] = &m
	q.mu.Unlock()
	q.o.OnChange()
	q.Kick()
	q.log.Info("queued", "id", FormatID(m.ID), "from", from, "rcpts", len(to), "size", m.Size, "dkim", len(m.Prefix) > 0)
	return FormatID(m.ID), nil
}

// checkEnvelope refuses a message without recipients or with an address
// that cannot go into MAIL FROM, RCPT TO or a DSN line as it is.
func checkEnvelope(from string, to []string) error {
	if len(to) == 0 {
		return errors.New("queue: no recipients")
	}
	for _, a := range append([]string{from}, to...) {
		if a == from && from == "" {
			continue
		}
		if !validAddress(a) {
			return fmt.Errorf("queue: bad address %q", a)
		}
	}
	return nil
}

// validAddress accepts local@domain without spaces, angle brackets or
// control characters: what goes into "RCPT TO:<...>" and a DSN line as is.
// (The SMTP servers in front of the queue parse the finer grammar.)
func validAddress(a string) bool {
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || len(a) > 320 {
		return false
	}
	for i := 0; i < len(a); i++ {
		if c := a[i]; c <= ' ' || c == 0x7f || c == '<' || c == '>' {
			return false
		}
	}
	return true
}

// prepare looks at the stored body once: 8-bit content, SMTPUTF8 need, and
// the DKIM signatures for the From domain when it is one of ours.
func (q *Queue) prepare(body io.ReaderAt, size int64, m *storage.QueueMessage) error {
	hdr, err := textproto.NewReader(bufio.NewReader(io.NewSectionReader(body, 0, size))).ReadMIMEHeader()
	if err != nil && len(hdr) == 0 {
		hdr = textproto.MIMEHeader{} // no parsable header: send as is, unsigned
	}
	m.UTF8 = !isASCII(m.From)
	for _, r := range m.Recipients {
		m.UTF8 = m.UTF8 || !isASCII(r.Addr)
	}
	for _, vs := range hdr {
		for _, v := range vs {
			m.UTF8 = m.UTF8 || !isASCII(v) // RFC 6532 header fields
		}
	}
	var sign *dkim.DomainKeys // signs what follows the signatures: m.Prefix (trace fields) and the body
	if q.o.DKIM != nil {
		if d := fromDomain(hdr.Get("From")); d != "" && q.st.IsLocalDomain(d) {
			if sign, err = q.o.DKIM.Domain(d); err != nil {
				return err
			}
		}
	}
	eb := &eightBitWriter{}
	if sign == nil {
		_, err = io.Copy(eb, io.NewSectionReader(body, 0, size))
	} else {
		var sigs []byte
		sigs, err = sign.Sign(io.TeeReader(io.NewSectionReader(body, 0, size), eb))
		m.Prefix = append(sigs, m.Prefix...)
	}
	m.EightBit = eb.seen
	return err
}

// fromDomain returns the lower-case domain of the first From address.
func fromDomain(v string) string {
	addrs, err := (&mail.AddressParser{}).ParseList(v)
	if err != nil || len(addrs) == 0 {
		return ""
	}
	a := addrs[0].Address
	return strings.ToLower(a[strings.LastIndexByte(a, '@')+1:])
}

type eightBitWriter struct{ seen bool }

func (w *eightBitWriter) Write(p []byte) (int, error) {
	if !w.seen {
		for _, c := range p {
			if c >= 0x80 {
				w.seen = true
				break
			}
		}
	}
	return len(p), nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Kick makes Run look at the queue now (after Enqueue, postroomctl retry).
func (q *Queue) Kick() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then waits for running attempts to stop
// (each records its outcome; interrupted ones are retried at the next start).
func (q *Queue) Run(ctx context.Context) error {
	defer q.wg.Wait()
	full := true // the first round reads the whole queue from the store
	for {
		if full {
			if err := q.scan(ctx); err != nil {
				q.log.Error("queue scan", "err", err)
			}
		} else {
			q.dispatchFresh(ctx)
		}
		q.mu.Lock()
		wait := time.Minute // the clock may jump (NTP on a board without RTC)
		if !q.nextDue.IsZero() {
			wait = min(wait, max(q.nextDue.Sub(q.o.Now()), 0))
		}
		q.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-q.kick:
			full = false
		case <-t.C:
			full = true
		}
		t.Stop()
	}
}

// RunDue starts every attempt that is due now by the Options clock and
// waits until they, and the bounces they cause, are finished. For tests
// and tools; Run is the service loop.
func (q *Queue) RunDue(ctx context.Context) error {
	err := q.scan(ctx)
	q.wg.Wait()
	return err
}

// scan reads the whole queue, rebuilds the index and starts what is due.
func (q *Queue) scan(ctx context.Context) error {
	msgs, err := q.st.QueueMessages()
	if err != nil {
		return err
	}
	q.mu.Lock()
	q.index = make(map[storage.QueueID]time.Time, len(msgs))
	for _, m := range msgs {
		q.index[m.ID] = m.Created
	}
	clear(q.fresh)
	q.nextDue = time.Time{}
	q.mu.Unlock()
	for i := range msgs {
		q.consider(ctx, &msgs[i])
	}
	return nil
}

func (q *Queue) dispatchFresh(ctx context.Context) {
	q.mu.Lock()
	var ms []*storage.QueueMessage
	for id, m := range q.fresh {
		ms = append(ms, m)
		delete(q.fresh, id)
	}
	q.mu.Unlock()
	for _, m := range ms {
		q.consider(ctx, m)
	}
}

// consider handles one message: finished ones are removed, a due delay
// warning is sent, and due recipients are started, grouped by destination.
func (q *Queue) consider(ctx context.Context, m *storage.QueueMessage) {
	now := q.o.Now()
	done := true
	groups := map[string][]uint32{}
	var order []string
	var due time.Time
	for _, r := range m.Recipients {
		if r.Done() {
			continue
		}
		done = false
		if r.State == storage.QueueFailed {
			// Failed but the sender was not told yet (the process stopped
			// between the two steps): tell now.
			groups[""] = append(groups[""], r.Index)
			continue
		}
		if r.NextAttempt.After(now) && !r.InFlight {
			if due.IsZero() || r.NextAttempt.Before(due) {
				due = r.NextAttempt
			}
			continue
		}
		d := q.destination(r.Addr)
		if groups[d] == nil {
			order = append(order, d)
		}
		groups[d] = append(groups[d], r.Index)
	}
	if done {
		q.remove(m.ID)
		return
	}
	if !due.IsZero() {
		q.noteDue(due)
	}
	if len(groups[""]) > 0 {
		q.start(ctx, m.ID, "", func(ctx context.Context) { q.notifyFailed(ctx, m.ID) })
	}
	if q.o.DelayWarning > 0 && !m.DelayWarned && now.Sub(m.Created) >= q.o.DelayWarning && m.From != "" {
		q.start(ctx, m.ID, "\x00delay", func(ctx context.Context) { q.warnDelay(ctx, m.ID) })
	} else if q.o.DelayWarning > 0 && !m.DelayWarned {
		q.noteDue(m.Created.Add(q.o.DelayWarning))
	}
	for _, d := range order {
		idx := groups[d]
		q.start(ctx, m.ID, d, func(ctx context.Context) { q.attempt(ctx, m.ID, d, idx) })
	}
}

// destination is the grouping and concurrency key of a recipient.
func (q *Queue) destination(addr string) string {
	if q.o.Smarthost.Host != "" {
		return "smarthost"
	}
	return strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
}

func (q *Queue) noteDue(t time.Time) {
	q.mu.Lock()
	if q.nextDue.IsZero() || t.Before(q.nextDue) {
		q.nextDue = t
	}
	q.mu.Unlock()
}

// start runs fn for (id, dest) in a goroutine unless it is running already,
// inside the overall limit and, for real destinations, the per-destination
// limit.
func (q *Queue) start(ctx context.Context, id storage.QueueID, dest string, fn func(context.Context)) {
	k := jobKey{id, dest}
	q.mu.Lock()
	if q.running[k] {
		q.mu.Unlock()
		return
	}
	q.running[k] = true
	var slot *destSlots
	if dest != "" && dest[0] != 0 {
		slot = q.dests[dest]
		if slot == nil {
			slot = &destSlots{ch: make(chan struct{}, q.o.MaxPerDestination)}
			q.dests[dest] = slot
		}
		slot.jobs++
	}
	q.wg.Add(1)
	q.mu.Unlock()
	go func() {
		defer func() {
			q.mu.Lock()
			delete(q.running, k)
			if slot != nil {
				// The last job of a destination takes its slots along, so
				// that every domain ever mailed does not stay in memory.
				if slot.jobs--; slot.jobs == 0 {
					delete(q.dests, dest)
				}
			}
			q.mu.Unlock()
			q.wg.Done()
		}()
		if slot != nil {
			select {
			case slot.ch <- struct{}{}:
				defer func() { <-slot.ch }()
			case <-ctx.Done():
				return
			}
			select {
			case q.sem <- struct{}{}:
				defer func() { <-q.sem }()
			case <-ctx.Done():
				return
			}
		}
		fn(ctx)
	}()
}

// withGrace returns a context that ends grace after ctx does: a delivery
// that has started finishes its transaction at shutdown instead of being cut.
func withGrace(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	if grace <= 0 {
		return context.WithCancel(ctx)
	}
	jctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var mu sync.Mutex
	var timer *time.Timer
	stopAfter := context.AfterFunc(ctx, func() {
		mu.Lock()
		timer = time.AfterFunc(grace, cancel)
		mu.Unlock()
	})
	return jctx, func() {
		stopAfter()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel()
	}
}

// update changes a message's stored state under its lock.
func (q *Queue) update(id storage.QueueID, fn func(m *storage.QueueMessage) error) (storage.QueueMessage, error) {
	q.mu.Lock()
	l := q.msgLocks[id]
	if l == nil {
		l = &sync.Mutex{}
		q.msgLocks[id] = l
	}
	q.mu.Unlock()
	l.Lock()
	defer l.Unlock()
	return q.st.QueueUpdate(id, fn)
}

// remove drops a finished message.
func (q *Queue) remove(id storage.QueueID) {
	if err := q.st.QueueRemove(id); err != nil && !errors.Is(err, storage.ErrNotFound) {
		q.log.Error("remove finished message", "id", FormatID(id), "err", err)
		return
	}
	q.forget(id)
}

// forget drops a message the store no longer has from memory.
func (q *Queue) forget(id storage.QueueID) {
	q.mu.Lock()
	delete(q.index, id)
	delete(q.msgLocks, id)
	delete(q.fresh, id)
	if len(q.index) == 0 {
		q.lastErr = "" // all sent or given up: nothing is wrong now
	}
	q.mu.Unlock()
	q.o.OnChange()
}

// retryDelay is the wait after the given number of failed attempts.
func (q *Queue) retryDelay(attempts int) time.Duration {
	i := min(max(attempts-1, 0), len(q.o.Retry)-1)
	return q.o.Retry[i]
}

// Stats is the queue's state for the status Snapshot.
type Stats struct {
	Length    int       // messages in the queue
	Oldest    time.Time // arrival of the oldest; zero when empty
	LastError string    // the last delivery failure, in words
}

// Stats returns the current counts (from memory; cheap).
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := Stats{Length: len(q.index), LastError: q.lastErr}
	for _, t := range q.index {
		if s.Oldest.IsZero() || t.Before(s.Oldest) {
			s.Oldest = t
		}
	}
	return s
}

// LoadIndex reads the queue's length and age from the store without
// delivering (for Stats right after start-up, before Run's first scan).
func (q *Queue) LoadIndex() error {
	msgs, err := q.st.QueueMessages()
	if err != nil {
		return err
	}
	q.mu.Lock()
	for _, m := range msgs {
		q.index[m.ID] = m.Created
	}
	q.mu.Unlock()
	q.o.OnChange()
	return nil
}

func (q *Queue) setLastError(rcpt, text string) {
	q.mu.Lock()
	q.lastErr = fmt.Sprintf("%s: %s", rcpt, oneLine(text, 200))
	q.mu.Unlock()
	q.o.OnChange()
}

// oneLine flattens a multi-line server reply and bounds its length.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

// headerBlock returns the header of a stored message (up to the blank line,
// at most 64 KiB), for the text/rfc822-headers part of a DSN.
func headerBlock(r io.Reader) []byte {
	br := bufio.NewReader(io.LimitReader(r, 64<<10))
	var out bytes.Buffer
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		out.Write(line)
		if err != nil {
			if len(line) > 0 && line[len(line)-1] != '\n' {
				out.WriteString("\r\n")
			}
			break
		}
	}
	return out.Bytes()
}

// tlsUsed counts transactions with and without TLS (for tests and logs).
func (q *Queue) tlsUsed(on bool) {
	q.mu.Lock()
	if on {
		q.tlsCount++
	} else {
		q.plainCount++
	}
	q.mu.Unlock()
}
