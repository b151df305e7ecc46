// Package admin is every change an administrator can make to a Postroom
// box, and the questions they ask of it, as one set of operations on the
// live store (storage.Store) and the config file (appliance/config).
// The web pages, the control socket (postroomctl on a running box) and
// postroomctl on a stopped box all call it; nothing else writes accounts,
// addresses or settings.
//
// Each operation is a request struct (an Op) with a JSON form, so the same
// value travels over the control socket and from a web form, and a result
// struct. Admin has one method per operation, and Do dispatches any Op to
// its method. Every change is
//   - validated first (an *Error says which field is wrong, in plain words),
//   - atomic: one store transaction, or one atomic rewrite of config.json,
//     with nothing half-saved when it fails,
//   - logged: who, what; never a password (the ops that carry one hide it
//     from the log, and the tests assert it),
//   - published to the status Bus as Snapshot.LastChange.
//
// Changes are serialised by one lock, so checks such as "not the last
// administrator" hold when the change is made. Questions (the ops marked
// read-only) take no lock.
//
// The map:
//
//	admin.go     Admin, Options, Actor, Error, Do, Call
//	accounts.go  accounts and addresses: add, remove, rename, password,
//	             quota, POP3 retention, administrator flag, aliases, catch-all
//	settings.go  domains, host name, smarthost (config.json)
//	network.go   the box's network address, used from its next start
//	queue.go     the outgoing queue: list, show, retry, delete
//	queries.go   read-only questions: mailboxes, messages, stats, fsck
//	export.go    export and import of mail: mbox (mboxrd) and Maildir
//	transition.go  moving mail in from the old provider (appliance/transition)
//	usb.go       USB disks: list them, format a blank one (after a confirmation)
//	setup.go     the first set-up's start and end (the web page's wizard)
//	control.go   the control socket: wire format, Server, Client
//	peer_*.go    who is at the other end of the socket (SO_PEERCRED)
//
//	apppasswords.go  app passwords, the password kept for the web,
//	             devices seen; "log out everywhere" (Options.EndSessions)
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"

	"postroom/appliance/backup"
	"postroom/appliance/config"
	"postroom/appliance/queue"
	"postroom/appliance/status"
	"postroom/appliance/transition"
	"postroom/appliance/usbdisk"
	"postroom/storage"
)

// Actor is who asks for an operation, for the log and the status Bus:
// "root (uid 0) via postroomctl", "alice@example.org via the web page".
type Actor string

// Options configures an Admin. Store is required; every other field may be
// zero, as documented.
type Options struct {
	Store *storage.Store
	// ConfigPath is config.json; "": the settings operations answer that
	// there is no config file.
	ConfigPath string
	// Logger receives the audit lines. nil: slog.Default().
	Logger *slog.Logger
	// Publish changes the status Snapshot (the runner's update, which also
	// recomputes the problem line). nil: nothing is published (a stopped
	// box has no Bus).
	Publish func(func(*status.Snapshot))
	// Queue is the running outgoing queue, so that a retry starts at once
	// and a deleted message leaves its counts. nil: a queue over Store
	// that is never run (the stopped box's case).
	Queue *queue.Queue
	// Apply hands a saved config to the runner: it starts with it next
	// time, and at once (stopping and starting the services) when restart
	// is set. nil: the saved file takes effect when the appliance starts.
	// It returns a note for people ("the services restart now"), or an
	// error when the restart could not be asked for.
	Apply func(cfg config.Config, restart bool, what string, by Actor) (note string, err error)
	// Update installs an update file (appliance/run_update.go); nil:
	// this machine installs no updates.
	Update func(ctx context.Context, file string, by Actor) (UpdateResult, error)
	// Certificates is the running box's certificate manager. nil: the
	// certificate operations answer that the box must run.
	Certificates Certificates
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Transition moves mail in from the old provider's accounts
	// (transition.go). nil: those operations answer that the running box
	// does them.
	Transition *transition.Manager
	// Material makes the TLS certificate for cfg's host name and the DKIM
	// keys of its domains at the end of the set-up (SetupFinish), and says
	// in words what it made. nil: nothing is made then (the appliance
	// makes the certificate at start and DKIM keys on first use).
	Material func(cfg config.Config) (string, error)
	// EndSessions ends an account's open IMAP, POP3 and submission
	// sessions and returns how many ("log out everywhere", after a
	// password change or an app password's removal). nil: a stopped box
	// has none.
	EndSessions func(account string) int
	// Backups is the running box's backup Manager (backup.go); nil: one
	// is made over Store for the call (a stopped box).
	Backups *backup.Manager
	// RestoreBox asks the runner to restore the whole box from the backup
	// target as an offline step; nil: a stopped box, which postroomctl
	// restore restores into a new folder instead.
	RestoreBox func(key *age.X25519Identity, name string, by Actor) (note string, err error)
	// USB is the box's USB disks (usb.go): backups to one, formatting a
	// blank one. nil: the box does not look at USB disks (a developer's
	// machine, whose own disks must never be offered for formatting).
	USB *usbdisk.Host
	// Restart restarts the box a moment after it returns, and says so in
	// words (restart.go). nil: a machine the init did not start, which
	// the operation refuses in words.
	Restart func(by Actor) (note string, err error)
}

// Admin carries out the operations. It is safe for concurrent use.
type Admin struct {
	o   Options
	st  *storage.Store
	log *slog.Logger
	q   *queue.Queue
	// mu serialises changes (not questions).
	mu  sync.Mutex
	seq atomic.Uint64
	// backupsHere: the backup Manager was made for this Admin (a
	// stopped box), not handed in by the runner (backup.go).
	backupsHere bool
}

// New returns an Admin over o.Store.
func New(o Options) (*Admin, error) {
	if o.Store == nil {
		return nil, errors.New("admin: Options.Store is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &Admin{o: o, st: o.Store, log: o.Logger, q: o.Queue}
	if a.q == nil {
		q, err := queue.New(queue.Options{Store: o.Store, Logger: o.Logger, Now: o.Now})
		if err != nil {
			return nil, fmt.Errorf("admin: %w", err)
		}
		a.q = q
	}
	return a, nil
}

// Code classifies an Error, for the exit status of postroomctl and the
// HTTP status of the web pages.
type Code string

const (
	CodeInvalid  Code = "invalid"   // a field of the request is wrong (Field)
	CodeNotFound Code = "not_found" // the account, address or message does not exist
	CodeExists   Code = "exists"    // the name or address is taken
	CodeConflict Code = "conflict"  // refused as things are now (last administrator, in use)
	CodeInternal Code = "internal"  // the store or the disk failed; the log has more
	CodeDenied   Code = "denied"    // the control socket refused the caller
)

// Error is why an operation was refused or failed, in words for the person
// who asked, with the request field it is about (Field, the JSON name) so a
// form can show it next to that field.
type Error struct {
	Code    Code   `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

func errorf(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the Code of an *Error in err's chain, else CodeInternal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// internal wraps a failure of the store or disk.
func internal(what string, err error) *Error {
	return errorf(CodeInternal, "", "%s: %v", what, err)
}

// Op is a request: one of the structs of this package. OpName is its name
// on the control socket ("account.add").
type Op interface {
	OpName() string
}

// readOnly marks the questions: no lock, no log line, nothing published.
type readOnly interface{ readOnly() }

// Doer runs operations: an *Admin in-process, a *Client over the control
// socket. The result is the operation's result struct (in-process) or its
// JSON (remote); Call turns either into the struct.
type Doer interface {
	Do(ctx context.Context, by Actor, op Op) (any, error)
}

// Call runs op on d and returns its result as R, the op's result type.
func Call[R any](ctx context.Context, d Doer, by Actor, op Op) (R, error) {
	var out R
	res, err := d.Do(ctx, by, op)
	if err != nil {
		return out, err
	}
	switch v := res.(type) {
	case R:
		return v, nil
	case rawResult:
		if err := unmarshal(v, &out); err != nil {
			return out, internal("reading the answer of "+op.OpName(), err)
		}
		return out, nil
	}
	return out, internal(op.OpName(), fmt.Errorf("result %T, want %T", res, out))
}

// run is every operation's frame: questions run as they are; a change runs
// under the lock, and is logged and published, or its refusal logged.
// f returns the result and, for a change, what it did in words.
func run[Req Op, Res any](a *Admin, ctx context.Context, by Actor, req Req, f func(ctx context.Context, req Req) (Res, string, error)) (Res, error) {
	if err := ctx.Err(); err != nil {
		var zero Res
		return zero, err
	}
	if _, ro := any(req).(readOnly); ro {
		res, _, err := f(ctx, req)
		return res, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	res, what, err := f(ctx, req)
	if err != nil {
		return res, a.refused(ctx, by, req, err)
	}
	a.changed(by, req.OpName(), what)
	return res, nil
}

// refused logs an operation's refusal, and returns err.
func (a *Admin) refused(ctx context.Context, by Actor, op Op, err error) error {
	lvl := slog.LevelInfo
	if CodeOf(err) == CodeInternal {
		lvl = slog.LevelError
	}
	a.log.Log(ctx, lvl, "admin: refused", "by", by, "op", op.OpName(), "err", err)
	return err
}

// changed logs a change and publishes it. what must never hold a secret.
func (a *Admin) changed(by Actor, op, what string) {
	a.log.Info("admin: "+what, "by", by, "op", op)
	if a.o.Publish == nil {
		return
	}
	c := status.Change{Seq: a.seq.Add(1), Time: a.o.Now(), By: string(by), Op: op, What: what}
	// The box waits to be set up while it has no account, and from the
	// set-up's start to its end (the runner decides the same at start).
	needs, known := false, false
	switch op {
	case opAccountAdd, opAccountRemove, opSetupStart, opSetupFinish:
		accts, err := a.st.Accounts()
		state, serr := a.st.SetupState()
		if err == nil && serr == nil {
			needs, known = len(accts) == 0 || state == storage.SetupWizard, true
		}
	}
	a.o.Publish(func(s *status.Snapshot) {
		s.LastChange = c
		switch {
		case known && !needs && s.Phase == status.PhaseNeedsSetup:
			s.Phase = status.PhaseRunning
			s.SetupCode = ""
		case known && needs && s.Phase == status.PhaseRunning:
			s.Phase = status.PhaseNeedsSetup
		}
	})
}

// Do runs any operation of this package: the control socket's dispatch.
func (a *Admin) Do(ctx context.Context, by Actor, op Op) (any, error) {
	switch op := op.(type) {
	case GetCertificate, UploadCertificate, RemoveCertificate, RenewCertificate:
		return a.doCertificate(ctx, by, op) // certificate.go
	case AddAccount:
		return a.AddAccount(ctx, by, op)
	case RemoveAccount:
		return a.RemoveAccount(ctx, by, op)
	case RenameAccount:
		return a.RenameAccount(ctx, by, op)
	case SetPassword:
		return a.SetPassword(ctx, by, op)
	case SetQuota:
		return a.SetQuota(ctx, by, op)
	case SetRetention:
		return a.SetRetention(ctx, by, op)
	case SetAdmin:
		return a.SetAdmin(ctx, by, op)
	case AddAddress:
		return a.AddAddress(ctx, by, op)
	case RemoveAddress:
		return a.RemoveAddress(ctx, by, op)
	case AddDomain:
		return a.AddDomain(ctx, by, op)
	case RemoveDomain:
		return a.RemoveDomain(ctx, by, op)
	case SetHostname:
		return a.SetHostname(ctx, by, op)
	case SetSmarthost:
		return a.SetSmarthost(ctx, by, op)
	case GetSettings:
		return a.GetSettings(ctx, by, op)
	case QueueRetry:
		return a.QueueRetry(ctx, by, op)
	case QueueDelete:
		return a.QueueDelete(ctx, by, op)
	case ListQueue:
		return a.ListQueue(ctx, by, op)
	case ShowQueue:
		return a.ShowQueue(ctx, by, op)
	case ListAccounts:
		return a.ListAccounts(ctx, by, op)
	case GetAccount:
		return a.GetAccount(ctx, by, op)
	case ListMailboxes:
		return a.ListMailboxes(ctx, by, op)
	case ListMessages:
		return a.ListMessages(ctx, by, op)
	case GetStats:
		return a.GetStats(ctx, by, op)
	case CheckStore:
		return a.CheckStore(ctx, by, op)
	case ExportMail:
		return a.ExportMail(ctx, by, op)
	case ImportMail:
		return a.ImportMail(ctx, by, op)
	case GetBackups:
		return a.GetBackups(ctx, by, op)
	case SetBackup:
		return a.SetBackup(ctx, by, op)
	case BackupNow:
		return a.BackupNow(ctx, by, op)
	case ListBackups:
		return a.ListBackups(ctx, by, op)
	case RestoreBox:
		return a.RestoreBox(ctx, by, op)
	case RestoreMail:
		return a.RestoreMail(ctx, by, op)
	case ListUSBDisks:
		return a.ListUSBDisks(ctx, by, op)
	case FormatUSB:
		return a.FormatUSB(ctx, by, op)
	case AddTransition:
		return a.AddTransition(ctx, by, op)
	case ListTransitions:
		return a.ListTransitions(ctx, by, op)
	case RunTransitions:
		return a.RunTransitions(ctx, by, op)
	case FinishTransition:
		return a.FinishTransition(ctx, by, op)
	case RemoveTransition:
		return a.RemoveTransition(ctx, by, op)
	case TrustTransitionCertificate:
		return a.TrustTransitionCertificate(ctx, by, op)
	case InstallUpdate:
		return a.InstallUpdate(ctx, by, op)
	case SetupStart:
		return a.SetupStart(ctx, by, op)
	case SetupFinish:
		return a.SetupFinish(ctx, by, op)
	case AddAppPassword:
		return a.AddAppPassword(ctx, by, op)
	case ListAppPasswords:
		return a.ListAppPasswords(ctx, by, op)
	case RevokeAppPassword:
		return a.RevokeAppPassword(ctx, by, op)
	case SetPasswordWebOnly:
		return a.SetPasswordWebOnly(ctx, by, op)
	case ListDevices:
		return a.ListDevices(ctx, by, op)
	case SetLimits:
		return a.SetLimits(ctx, by, op)
	case SetNetwork:
		return a.SetNetwork(ctx, by, op)
	case RestartBox:
		return a.RestartBox(ctx, by, op)
	}
	return nil, errorf(CodeInvalid, "op", "unknown operation %q", op.OpName())
}

// ops lists one value of every Op, for the control socket's decoding and
// the tests that walk them all.
var ops = []Op{
	AddAccount{}, RemoveAccount{}, RenameAccount{}, SetPassword{}, SetQuota{}, SetRetention{}, SetAdmin{},
	AddAddress{}, RemoveAddress{},
	AddDomain{}, RemoveDomain{}, SetHostname{}, SetSmarthost{}, GetSettings{},
	QueueRetry{}, QueueDelete{}, ListQueue{}, ShowQueue{},
	ListAccounts{}, GetAccount{}, ListMailboxes{}, ListMessages{}, GetStats{}, CheckStore{},
	ExportMail{}, ImportMail{},
	GetBackups{}, SetBackup{}, BackupNow{}, ListBackups{}, RestoreBox{}, RestoreMail{}, ListUSBDisks{}, FormatUSB{},
	AddTransition{}, ListTransitions{}, RunTransitions{}, FinishTransition{}, RemoveTransition{}, TrustTransitionCertificate{},
	InstallUpdate{},
	SetupStart{}, SetupFinish{},
	AddAppPassword{}, ListAppPasswords{}, RevokeAppPassword{}, SetPasswordWebOnly{}, ListDevices{}, SetLimits{}, SetNetwork{},
	GetCertificate{}, UploadCertificate{}, RemoveCertificate{}, RenewCertificate{},
	RestartBox{},
}
