// Package transition moves an office in from its old mail provider: for
// each account it pulls the mail of the old IMAP or POP3 account into the
// box, and keeps pulling every few minutes while the domain's MX still
// points at the old provider, until the office says the move is done.
//
// The rules that make a move safe:
//   - Nothing on the old side changes: IMAP folders are opened read-only
//     (EXAMINE, BODY.PEEK) and POP3 mail is never deleted.
//   - No message is fetched twice: IMAP remembers each folder's
//     UIDVALIDITY and the highest UID taken, POP3 the UIDL of every message
//     taken. That state is written after every message, and the one
//     message that a crash can leave added but not recorded is recognised
//     by its bytes on the next run.
//   - The old account's password is kept sealed (AES-GCM, with a key of
//     its own beside the state, so it is never in config.json, a log, a
//     diagnostics bundle or an export) and is erased when the transition
//     ends.
//
// The map:
//
//	transition.go  Manager: sources, their state on disk, the schedule
//	imap.go        pulling every folder of an IMAP account
//	pop3.go        pulling INBOX of a POP3 account, with a small client
//	names.go       old folder names to ours
//	seal.go        the sealed passwords
package transition

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"postroom/internal/atomicfile"
	"postroom/storage"
)

// Protocols and security modes of an old account.
const (
	IMAP = "imap"
	POP3 = "pop3"

	TLS      = "tls"      // implicit TLS: IMAPS 993, POP3S 995
	StartTLS = "starttls" // STARTTLS / STLS on 143 / 110
	Plain    = "none"     // no encryption: refused unless AllowPlain
)

// DefaultInterval is how often an active transition pulls again.
const DefaultInterval = 5 * time.Minute

// NewSource is what an administrator gives for one old account.
type NewSource struct {
	Account  string `json:"account"`  // the account on this box
	Protocol string `json:"protocol"` // IMAP or POP3
	Host     string `json:"host"`
	Port     int    `json:"port"`     // 0: the protocol's port for Security
	Security string `json:"security"` // TLS (default), StartTLS or Plain
	Username string `json:"username"`
	Password string `json:"password"`
	// Pin, when set, is the SHA-256 fingerprint of the old server's
	// certificate that the administrator trusts (cert.go): the one a
	// CertError showed. "" means the usual checks.
	Pin string `json:"pin,omitempty"`

	trusted CertInfo // the pinned certificate, as Check saw it
}

// Source is one old account being moved in, as the pages show it. It
// carries no password.
type Source struct {
	ID       string `json:"id"`
	Account  string `json:"account"`
	Protocol string `json:"protocol"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Security string `json:"security"`
	Username string `json:"username"`
	// Pin is the fingerprint of the old server's certificate trusted in
	// place of the usual checks (cert.go), and Trusted that certificate as
	// it was when it was trusted; "" and nil for the usual checks.
	Pin     string    `json:"pin,omitempty"`
	Trusted *CertInfo `json:"trusted,omitempty"`
	// Offered is the certificate the old server showed when the last run
	// was refused for it (CertError), to be trusted with Trust; nil
	// otherwise.
	Offered *CertInfo `json:"offered,omitempty"`

	Created  time.Time `json:"created"`
	Finished time.Time `json:"finished,omitzero"` // the office said the move is done
	LastRun  time.Time `json:"last_run,omitzero"`
	// LastError is why the last run stopped early, in plain words; "" when
	// it went through.
	LastError string `json:"last_error,omitempty"`
	Running   bool   `json:"running,omitempty"`
	// Fetched counts the messages taken so far, Bytes their size; Seen is
	// how many the old account held at the last run.
	Fetched int   `json:"fetched"`
	Bytes   int64 `json:"bytes"`
	Seen    int   `json:"seen"`
	// Folders is the IMAP folders' state, by their old name.
	Folders map[string]*Folder `json:"folders,omitempty"`
}

// Folder is an old IMAP folder and where its mail goes.
type Folder struct {
	Ours        string `json:"ours"`
	UIDValidity uint32 `json:"uidvalidity"`
	LastUID     uint32 `json:"last_uid"`
	Fetched     int    `json:"fetched"`
	// ModSeq is the folder's HIGHESTMODSEQ when its flags were last
	// looked at, for servers with CONDSTORE (flags.go); 0: read them all.
	ModSeq uint64 `json:"modseq,omitempty"`
	// Error is why this folder could not be taken (a name this box
	// refuses, say); the others go on.
	Error string `json:"error,omitempty"`
}

// Active says whether the source is still being pulled.
func (s Source) Active() bool { return s.Finished.IsZero() }

// record is a source as kept on disk: the Source and its sealed password.
type record struct {
	Source
	Sealed []byte `json:"sealed,omitempty"`
}

// Options configures a Manager.
type Options struct {
	Store *storage.Store
	// Dir is where the state is kept (DATA/transition), made if missing.
	Dir    string
	Logger *slog.Logger
	Now    func() time.Time
	// Interval between runs of an active source; 0: DefaultInterval.
	Interval time.Duration
	// Timeout bounds one network read or write; 0: one minute.
	Timeout time.Duration
	// Dial connects to the old server; nil: a net.Dialer. Development
	// mode gives one that reaches only loopback.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// RootCAs verifies the old server's certificate; nil: the system's.
	RootCAs *x509.CertPool
	// AllowPlain permits old accounts without TLS (tests and LANs).
	AllowPlain bool
	// Changed is called after a source's state changes, for the status
	// page and the display. It must not block.
	Changed func([]Source)
}

// Manager keeps the sources and runs them.
type Manager struct {
	o     Options
	log   *slog.Logger
	key   []byte // seals the passwords
	mu    sync.Mutex
	srcs  map[string]*record
	runMu sync.Mutex // one run at a time: the old servers and the disk are not raced
	kick  chan struct{}
}

// ErrNotFound is returned for an unknown source ID.
var ErrNotFound = errors.New("no such transition")

// New loads the state in o.Dir.
func New(o Options) (*Manager, error) {
	if o.Store == nil || o.Dir == "" {
		return nil, errors.New("transition: Store and Dir are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	if o.Dial == nil {
		d := &net.Dialer{Timeout: 30 * time.Second}
		o.Dial = d.DialContext
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("transition: %w", err)
	}
	key, err := loadKey(filepath.Join(o.Dir, "key"))
	if err != nil {
		return nil, fmt.Errorf("transition: %w", err)
	}
	m := &Manager{o: o, log: o.Logger.With("part", "transition"), key: key, srcs: map[string]*record{}, kick: make(chan struct{}, 1)}
	ents, err := os.ReadDir(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("transition: %w", err)
	}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(o.Dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("transition: %w", err)
		}
		var r record
		if err := json.Unmarshal(data, &r); err != nil || r.ID != id {
			return nil, fmt.Errorf("transition: %s is damaged: %v", e.Name(), err)
		}
		r.Running = false
		m.srcs[id] = &r
	}
	return m, nil
}

// Add checks a new source (Check) and keeps it (Keep).
func (m *Manager) Add(ctx context.Context, n NewSource) (Source, error) {
	if err := m.Check(ctx, &n); err != nil {
		return Source{}, err
	}
	return m.Keep(n)
}

// Check validates a new source, filling in defaults, and logs in to the
// old server once, so a wrong password or server is said at once.
func (m *Manager) Check(ctx context.Context, n *NewSource) error {
	if err := m.normalise(n); err != nil {
		return err
	}
	if _, err := m.o.Store.Account(n.Account); err != nil {
		return &FieldError{"account", fmt.Sprintf("there is no account %q on this box", n.Account)}
	}
	if err := m.duplicate(*n); err != nil {
		return err
	}
	return m.tryLogin(ctx, n)
}

func (m *Manager) duplicate(n NewSource) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.srcs {
		if r.Active() && r.Account == n.Account && strings.EqualFold(r.Host, n.Host) && r.Username == n.Username && r.Protocol == n.Protocol {
			return &FieldError{"username", fmt.Sprintf("%s on %s is already being moved into %s", n.Username, n.Host, n.Account)}
		}
	}
	return nil
}

// Keep stores a source that Check accepted; the first pull starts at the
// next run (Kick starts it at once).
func (m *Manager) Keep(n NewSource) (Source, error) {
	if err := m.normalise(&n); err != nil {
		return Source{}, err
	}
	if err := m.duplicate(n); err != nil {
		return Source{}, err
	}
	sealed, err := seal(m.key, n.Password)
	if err != nil {
		return Source{}, fmt.Errorf("transition: sealing the password: %w", err)
	}
	id := make([]byte, 8)
	rand.Read(id)
	r := &record{Source: Source{
		ID: hex.EncodeToString(id), Account: n.Account, Protocol: n.Protocol, Host: n.Host, Port: n.Port,
		Security: n.Security, Username: n.Username, Pin: n.Pin, Created: m.o.Now(),
	}, Sealed: sealed}
	if n.Pin != "" && n.trusted.SHA256 == n.Pin {
		t := n.trusted
		r.Trusted = &t
	}
	m.mu.Lock()
	m.srcs[r.ID] = r
	err = m.saveLocked(r)
	m.mu.Unlock()
	if err != nil {
		return Source{}, err
	}
	m.log.Info("transition added", "id", r.ID, "account", r.Account, "protocol", r.Protocol, "host", r.Host, "username", r.Username)
	m.changed()
	return r.Source, nil
}

// FieldError is bad input, with the field it is about, in plain words.
type FieldError struct{ Field, Msg string }

func (e *FieldError) Error() string { return e.Msg }

func (m *Manager) normalise(n *NewSource) error {
	n.Protocol = strings.ToLower(strings.TrimSpace(n.Protocol))
	n.Security = strings.ToLower(strings.TrimSpace(n.Security))
	n.Host = strings.TrimSpace(n.Host)
	n.Account = strings.TrimSpace(n.Account)
	n.Username = strings.TrimSpace(n.Username)
	if n.Protocol != IMAP && n.Protocol != POP3 {
		return &FieldError{"protocol", "choose IMAP or POP3"}
	}
	if n.Security == "" {
		n.Security = TLS
	}
	switch n.Security {
	case TLS, StartTLS:
	case Plain:
		// Without encryption only where the password does not cross the
		// internet: an old server in the office (a private or loopback
		// address), or where the box allows it (development mode).
		if ip := net.ParseIP(strings.Trim(n.Host, "[]")); !m.o.AllowPlain && (ip == nil || !(ip.IsPrivate() || ip.IsLoopback())) {
			return &FieldError{"security", "the old server must be reached with encryption (SSL/TLS or STARTTLS): without it the password would cross the internet readable"}
		}
	default:
		return &FieldError{"security", "choose SSL/TLS or STARTTLS"}
	}
	if n.Host == "" || len(n.Host) > 253 || strings.ContainsAny(n.Host, " /\\@\r\n\t") {
		return &FieldError{"host", "give the old server's name, such as imap.oldprovider.com"}
	}
	if n.Port == 0 {
		n.Port = defaultPort(n.Protocol, n.Security)
	}
	if n.Port < 1 || n.Port > 65535 {
		return &FieldError{"port", "a port is a number from 1 to 65535"}
	}
	if n.Username == "" || len(n.Username) > 320 || strings.ContainsAny(n.Username, "\r\n\x00") {
		return &FieldError{"username", "give the user name of the old account (often the whole address)"}
	}
	if n.Password == "" || len(n.Password) > 1024 || strings.ContainsAny(n.Password, "\r\n\x00") {
		return &FieldError{"password", "give the password of the old account"}
	}
	if n.Pin != "" {
		pin, ok := NormalisePin(n.Pin)
		if !ok {
			return &FieldError{"pin", "a certificate's SHA-256 fingerprint is 64 hexadecimal digits (32 pairs, with or without colons)"}
		}
		if n.Security == Plain {
			return &FieldError{"pin", "a certificate is trusted only for a connection with encryption (SSL/TLS or STARTTLS)"}
		}
		n.Pin = pin
	}
	return nil
}

func defaultPort(protocol, security string) int {
	switch {
	case protocol == IMAP && security == TLS:
		return 993
	case protocol == IMAP:
		return 143
	case security == TLS:
		return 995
	default:
		return 110
	}
}

// List returns the sources, oldest first.
func (m *Manager) List() []Source {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Source, 0, len(m.srcs))
	for _, r := range m.srcs {
		out = append(out, r.copy())
	}
	slices.SortFunc(out, func(a, b Source) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Get returns one source.
func (m *Manager) Get(id string) (Source, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.srcs[id]
	if !ok {
		return Source{}, ErrNotFound
	}
	return r.copy(), nil
}

func (r *record) copy() Source {
	s := r.Source
	for _, c := range []**CertInfo{&s.Trusted, &s.Offered} {
		if *c != nil {
			cc := **c
			*c = &cc
		}
	}
	s.Folders = make(map[string]*Folder, len(r.Folders))
	for k, f := range r.Folders {
		c := *f
		s.Folders[k] = &c
	}
	return s
}

// Finish ends a transition: it is not pulled again and its password is
// erased. Its record stays, so the page can say what was moved.
func (m *Manager) Finish(id string) (Source, error) {
	m.runMu.Lock() // not in the middle of a run of it
	defer m.runMu.Unlock()
	r, err := m.locked(id)
	if err != nil {
		return Source{}, err
	}
	if r.Finished.IsZero() {
		r.Finished = m.o.Now()
	}
	r.Sealed = nil
	err = m.saveLocked(r)
	s := r.copy()
	m.mu.Unlock()
	if err == nil {
		err = removeFlagMaps(m.o.Dir, id) // no run follows the flags any more
	}
	if err != nil {
		return Source{}, err
	}
	m.log.Info("transition finished, old password erased", "id", id, "account", s.Account, "fetched", s.Fetched)
	m.changed()
	return s, nil
}

// Trust pins the certificate the old server showed when the last run was
// refused for it (Source.Offered), whose fingerprint pin must be: the
// administrator compared it and says it is the old server's own. The next
// run accepts that certificate and no other.
func (m *Manager) Trust(id, pin string) (Source, error) {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	r, err := m.locked(id)
	if err != nil {
		return Source{}, err
	}
	p, valid := NormalisePin(pin)
	switch {
	case !r.Active():
		m.mu.Unlock()
		return Source{}, &FieldError{"id", "this transition is finished"}
	case !valid || r.Offered == nil || r.Offered.SHA256 != p:
		m.mu.Unlock()
		return Source{}, &FieldError{"pin", "that is not the certificate the old server showed at the last fetch: fetch again and compare the fingerprint shown"}
	}
	r.Pin, r.Trusted, r.Offered, r.LastError = p, r.Offered, nil, ""
	err = m.saveLocked(r)
	s := r.copy()
	m.mu.Unlock()
	if err != nil {
		return Source{}, err
	}
	m.log.Info("transition trusts the old server's certificate", "id", id, "account", s.Account, "host", s.Host, "sha256", p)
	m.changed()
	return s, nil
}

// Remove forgets a finished transition.
func (m *Manager) Remove(id string) error {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	r, err := m.locked(id)
	if err != nil {
		return err
	}
	if r.Active() {
		m.mu.Unlock()
		return &FieldError{"id", "finish the transition before removing it"}
	}
	delete(m.srcs, id)
	m.mu.Unlock()
	if err := removeFlagMaps(m.o.Dir, id); err != nil {
		return err
	}
	for _, suffix := range []string{".json", ".uidl"} {
		if err := os.Remove(filepath.Join(m.o.Dir, id+suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("transition: %w", err)
		}
	}
	m.changed()
	return nil
}

// saveLocked writes r atomically; m.mu is held.
func (m *Manager) saveLocked(r *record) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(m.o.Dir, r.ID+".json"), data, 0o600); err != nil {
		return fmt.Errorf("transition: saving %s: %w", r.ID, err)
	}
	return nil
}

// locked returns the record of id with m.mu held; with an error, m.mu
// is not held.
func (m *Manager) locked(id string) (*record, error) {
	m.mu.Lock()
	r, ok := m.srcs[id]
	if !ok {
		m.mu.Unlock()
		return nil, ErrNotFound
	}
	return r, nil
}

// update changes a source's record under the lock and saves it.
func (m *Manager) update(id string, fn func(r *record)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.srcs[id]
	if !ok {
		return ErrNotFound
	}
	fn(r)
	return m.saveLocked(r)
}

func (m *Manager) changed() {
	if m.o.Changed != nil {
		m.o.Changed(m.List())
	}
}

// Kick asks Run to pull every active source now.
func (m *Manager) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run pulls every active source now and then every Interval, until ctx
// ends. tick, when not nil, replaces the timer (tests drive it).
func (m *Manager) Run(ctx context.Context, tick <-chan time.Time) {
	if tick == nil {
		t := time.NewTicker(m.o.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		m.RunAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-m.kick:
		}
	}
}

// RunAll pulls every active source once.
func (m *Manager) RunAll(ctx context.Context) {
	for _, s := range m.List() {
		if !s.Active() {
			continue
		}
		if _, err := m.RunOnce(ctx, s.ID); err != nil && ctx.Err() == nil {
			m.log.Warn("transition run stopped", "id", s.ID, "account", s.Account, "err", err)
		}
	}
}

// Result is what one run took.
type Result struct {
	Fetched int   `json:"fetched"`
	Bytes   int64 `json:"bytes"`
	Seen    int   `json:"seen"` // messages on the old side
	// Updated counts the messages taken before whose flags the old server
	// changed since the last run; they changed here the same way
	// (flags.go).
	Updated int `json:"updated"`
}

// RunOnce pulls one source now. Its error, in plain words, is also kept
// as the source's LastError.
func (m *Manager) RunOnce(ctx context.Context, id string) (Result, error) {
	m.runMu.Lock()
	defer m.runMu.Unlock()
	r, err := m.locked(id)
	if err != nil {
		return Result{}, err
	}
	if !r.Active() || r.Sealed == nil {
		m.mu.Unlock()
		return Result{}, &FieldError{"id", "this transition is finished"}
	}
	src, sealed := r.copy(), r.Sealed
	r.Running = true
	m.mu.Unlock()
	m.changed()

	var res Result
	pw, err := unseal(m.key, sealed)
	if err == nil {
		acct, aerr := m.o.Store.Account(src.Account)
		if aerr != nil {
			err = fmt.Errorf("the account %s is gone from this box", src.Account)
		} else {
			p := &puller{m: m, src: src, acct: acct, res: &res}
			if src.Protocol == IMAP {
				err = p.imap(ctx, pw)
			} else {
				err = p.pop3(ctx, pw)
			}
			if ferr := p.flush(); err == nil {
				err = ferr
			}
		}
	}
	msg := ""
	if err != nil {
		msg = Explain(err)
	}
	var ce *CertError
	m.update(id, func(r *record) {
		r.Running = false
		r.LastRun = m.o.Now()
		r.LastError = msg
		r.Offered = nil
		if errors.As(err, &ce) {
			c := ce.Cert
			r.Offered = &c
		}
		if res.Seen > 0 || err == nil {
			r.Seen = res.Seen
		}
	})
	m.changed()
	if err != nil {
		return res, errors.New(msg)
	}
	m.log.Info("transition run", "id", id, "account", src.Account, "fetched", res.Fetched, "bytes", res.Bytes, "old_messages", res.Seen, "flags_updated", res.Updated)
	return res, nil
}

// puller is one run of one source.
type puller struct {
	m   *Manager
	src Source
	// seen is the pinned certificate the old server showed, when Pin is
	// set and it matched.
	seen    CertInfo
	acct    storage.Account
	res     *Result
	unsaved int // messages taken since the state was last written
	// fm is the flags of the IMAP folder being pulled; its lines are
	// synced before the state that counts them taken.
	fm *flagMap
}

// saveEvery is how many messages are taken between two writes of the
// state. A crash in between leaves up to that many messages in the store
// but not recorded as taken; the next run recognises them by their bytes
// (see checking in imap.go and pop3.go), so batching costs no duplicate
// and saves a synced write per message.
const saveEvery = 64

// took records one message taken, with fn's change to the state; the
// state is written every saveEvery messages and by flush.
func (p *puller) took(size int64, fn func(r *record)) error {
	p.res.Fetched++
	p.res.Bytes += size
	p.unsaved++
	p.m.mu.Lock()
	r := p.m.srcs[p.src.ID]
	r.Fetched++
	r.Bytes += size
	if fn != nil {
		fn(r)
	}
	p.m.mu.Unlock()
	if p.unsaved >= saveEvery {
		return p.flush()
	}
	return nil
}

// flush writes the state now.
func (p *puller) flush() error {
	if err := p.fm.sync(); err != nil {
		return err
	}
	p.unsaved = 0
	return p.m.update(p.src.ID, func(*record) {})
}

// dial connects to the old server, with TLS for Security TLS.
func (p *puller) dial(ctx context.Context) (net.Conn, error) {
	addr := net.JoinHostPort(p.src.Host, strconv.Itoa(p.src.Port))
	c, err := p.m.o.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, &netError{op: "connect", err: err}
	}
	if p.src.Security == TLS {
		tc := tls.Client(c, p.tlsConfig())
		tc.SetDeadline(time.Now().Add(p.m.o.Timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, p.tlsErr(err)
		}
		tc.SetDeadline(time.Time{})
		return tc, nil
	}
	return c, nil
}

func (p *puller) tlsConfig() *tls.Config {
	cfg := &tls.Config{ServerName: p.src.Host, RootCAs: p.m.o.RootCAs, MinVersion: tls.VersionTLS12}
	if p.src.Pin != "" {
		pinTLS(cfg, p.src.Pin, &p.seen)
	}
	return cfg
}

// tlsErr is a failed TLS handshake: a *CertError when the certificate was
// refused (the page offers to trust it), else a netError.
func (p *puller) tlsErr(err error) error {
	if ce := certError(err, p.src.Host); ce != nil {
		return ce
	}
	return &netError{op: "tls", err: err}
}

// tryLogin logs in to the old server once, for Add; with a Pin, it notes
// the certificate trusted in n.
func (m *Manager) tryLogin(ctx context.Context, n *NewSource) error {
	p := &puller{m: m, src: Source{Protocol: n.Protocol, Host: n.Host, Port: n.Port, Security: n.Security, Username: n.Username, Pin: n.Pin}, res: &Result{}}
	ctx, cancel := context.WithTimeout(ctx, 2*m.o.Timeout)
	defer cancel()
	var err error
	if n.Protocol == IMAP {
		var c *imapConn
		c, err = p.imapLogin(ctx, n.Password)
		if err == nil {
			c.close()
		}
	} else {
		var c *popConn
		c, err = p.popLogin(ctx, n.Password)
		if err == nil {
			c.quit()
		}
	}
	var ce *CertError
	if errors.As(err, &ce) {
		return ce // said as it is: the page shows the certificate
	}
	if err != nil {
		field := "host"
		if errors.Is(err, errLogin) {
			field = "password"
		}
		return &FieldError{field, Explain(err)}
	}
	n.trusted = p.seen
	return nil
}

// errLogin is the old server refusing the user name or password.
var errLogin = errors.New("login refused")

// netError is a failure to reach or talk to the old server.
type netError struct {
	op  string
	err error
}

func (e *netError) Error() string { return e.op + ": " + e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

// protoError is an answer from the old server that makes no sense.
type protoError struct{ what string }

func (e *protoError) Error() string { return e.what }

// Explain says in plain words what went wrong, and what to do.
func Explain(err error) string {
	var ne *netError
	var pe *protoError
	var fe *FieldError
	var cv *tls.CertificateVerificationError
	var hn x509.HostnameError
	var ce *CertError
	switch {
	case errors.As(err, &fe):
		return fe.Msg
	case errors.As(err, &ce):
		return ce.Error()
	case errors.Is(err, errLogin):
		return "The old server refused the user name or password. Check them with the old provider; some providers need an app password or IMAP/POP3 switched on first. (" + err.Error() + ")"
	case errors.Is(err, storage.ErrOverQuota):
		return "The account on this box is full (its quota): raise the quota on its account page, and the move goes on at the next run."
	case errors.Is(err, storage.ErrDiskFull):
		return "This box's disk is full: the move goes on once space is freed."
	case errors.Is(err, storage.ErrTooLarge):
		return "A message on the old server is larger than this box accepts; raise the message size limit in the settings, or move that message by hand."
	case errors.As(err, &cv), errors.As(err, &hn):
		return "The old server's certificate is not trusted (" + err.Error() + "). Check the server name: it must be the one the provider gives for IMAP or POP3."
	case errors.As(err, &ne):
		if ne.op == "tls" {
			return "The old server did not complete a secure connection (" + ne.err.Error() + "). Check the port and the security setting: SSL/TLS is usually port 993 (IMAP) or 995 (POP3), STARTTLS 143 or 110."
		}
		if errors.Is(ne.err, io.EOF) || errors.Is(ne.err, io.ErrUnexpectedEOF) {
			return "The old server closed the connection without answering. Check the port and the security setting: SSL/TLS is usually port 993 (IMAP) or 995 (POP3), STARTTLS 143 or 110."
		}
		if errors.Is(ne.err, os.ErrDeadlineExceeded) || errors.Is(ne.err, context.DeadlineExceeded) {
			return "The old server stopped answering (timed out). The move tries again at the next run."
		}
		return "This box could not reach the old server (" + ne.err.Error() + "). Check the server name and port, and that this box can reach the internet."
	case errors.As(err, &pe):
		return "The old server answered something this box does not understand: " + pe.what
	case errors.Is(err, context.Canceled):
		return "The run was stopped (the box is shutting down); it goes on at the next run."
	}
	return err.Error()
}
