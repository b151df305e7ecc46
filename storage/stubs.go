package storage

// TEMPORARY: signatures of the Store API while the implementation is written.
// Every function here moves to its own file (accounts.go, mailboxes.go,
// messages.go, events.go, check.go) and this file is deleted.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"
)

var errTODO = errors.New("storage: not implemented yet")

// Options configures Open. Zero values are documented per field.
type Options struct {
	Dir    string       // data folder (required)
	Logger *slog.Logger // nil: slog.Default()
	// MaxMessageSize bounds one message; 0 means 50 MiB.
	MaxMessageSize int64
	// MinFreeBytes is the free disk space kept in reserve: a delivery that
	// would go below it fails with ErrDiskFull. 0 means 64 MiB.
	MinFreeBytes int64
	// NoGC disables the idle value-log GC loop (tests that count files).
	NoGC bool
}

// Store is the Badger mail store.
type Store struct{}

func Open(opts Options) (*Store, error)          { return nil, errTODO }
func (s *Store) Close() error                    { return errTODO }
func (s *Store) Check(ctx context.Context) error { return errTODO }
func (s *Store) Dir() string                     { return "" }
func (s *Store) Stats() (Stats, error)           { return Stats{}, errTODO }
func (s *Store) CreateAccount(name, password string) (Account, error) {
	return Account{}, errTODO
}
func (s *Store) DeleteAccount(name string) error           { return errTODO }
func (s *Store) Account(name string) (Account, error)      { return Account{}, errTODO }
func (s *Store) AccountByID(id AccountID) (Account, error) { return Account{}, errTODO }
func (s *Store) Accounts() ([]Account, error)              { return nil, errTODO }
func (s *Store) SetPassword(name, password string) error   { return errTODO }
func (s *Store) Authenticate(login, password string) (Account, error) {
	return Account{}, errTODO
}
func (s *Store) AddAddress(name, addr string) error          { return errTODO }
func (s *Store) RemoveAddress(addr string) error             { return errTODO }
func (s *Store) SetQuota(name string, bytes int64) error     { return errTODO }
func (s *Store) SetPOPRetention(name string, days int) error { return errTODO }
func (s *Store) Resolve(addr string) (AccountID, error)      { return 0, errTODO }
func (s *Store) IsLocalDomain(domain string) bool            { return false }
func (s *Store) Domains() ([]string, error)                  { return nil, errTODO }
func (s *Store) CheckQuota(acct AccountID, size int64) error { return errTODO }
func (s *Store) CheckDiskSpace(size int64) error             { return errTODO }
func (s *Store) Mailboxes(acct AccountID) ([]Mailbox, error) { return nil, errTODO }
func (s *Store) Mailbox(acct AccountID, name string) (Mailbox, error) {
	return Mailbox{}, errTODO
}
func (s *Store) CreateMailbox(acct AccountID, name, specialUse string) (Mailbox, error) {
	return Mailbox{}, errTODO
}
func (s *Store) RenameMailbox(acct AccountID, oldName, newName string) error { return errTODO }
func (s *Store) DeleteMailbox(acct AccountID, name string) error             { return errTODO }
func (s *Store) SetSubscribed(acct AccountID, name string, on bool) error    { return errTODO }
func (s *Store) Deliver(ctx context.Context, d Delivery, body io.Reader) ([]Delivered, error) {
	return nil, errTODO
}
func (s *Store) Append(ctx context.Context, acct AccountID, mailbox string, flags Flags, keywords []string, date time.Time, body io.Reader) (Delivered, error) {
	return Delivered{}, errTODO
}
func (s *Store) Messages(acct AccountID, mbox MailboxID) ([]Message, error) { return nil, errTODO }
func (s *Store) Message(acct AccountID, mbox MailboxID, uid uint32) (Message, error) {
	return Message{}, errTODO
}
func (s *Store) Object(id ObjectID) (Object, error)  { return Object{}, errTODO }
func (s *Store) OpenBody(id ObjectID) (*Body, error) { return nil, errTODO }
func (s *Store) SetFlags(acct AccountID, mbox MailboxID, uids []uint32, op FlagOp, flags Flags, keywords []string) ([]Message, error) {
	return nil, errTODO
}
func (s *Store) Copy(acct AccountID, src MailboxID, uids []uint32, dst string) (Mailbox, []uint32, []uint32, error) {
	return Mailbox{}, nil, nil, errTODO
}
func (s *Store) Move(acct AccountID, src MailboxID, uids []uint32, dst string) (Mailbox, []uint32, []uint32, error) {
	return Mailbox{}, nil, nil, errTODO
}
func (s *Store) Expunge(acct AccountID, mbox MailboxID, uids []uint32) ([]uint32, error) {
	return nil, errTODO
}
func (s *Store) Watch(acct AccountID) *Watcher { return nil }

// Body reads stored message bytes chunk by chunk.
type Body struct{}

func (b *Body) Size() int64                             { return 0 }
func (b *Body) ReadAt(p []byte, off int64) (int, error) { return 0, errTODO }
func (b *Body) Reader() io.Reader                       { return nil }

// Watcher receives change events for one account without ever blocking the
// writer: events queue inside the watcher, C signals that some are waiting.
type Watcher struct{}

func (w *Watcher) C() <-chan struct{}                    { return nil }
func (w *Watcher) Next() (events []Event, overflow bool) { return nil, false }
func (w *Watcher) Close()                                {}

// Stats summarises the store for postroomctl stats and the status page.
type Stats struct {
	Accounts  int
	Messages  int64
	Bytes     int64
	Objects   int64
	LSMBytes  int64
	VLogBytes int64
	DiskFree  int64
}
