package storage

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

// App passwords (key family 05) let a phone or a mail program log in to
// IMAP, POP3 and submission with a password of its own, which can be
// removed without changing the account's password, and the account's
// password can then be kept for the web page alone (SetPasswordWebOnly).
//
// A generated app password is 16 lower-case letters, shown as four groups
// ("abcd efgh jkmn pqrs"): easy to type on a phone, with no letters that
// look alike (no l, no o). Spaces, dashes and capitals are ignored when it
// is typed back. Its first four letters are its public ID, kept in the
// clear in the key: they say which of the account's app passwords a login
// means, so that a login checks one argon2id hash, not all of them. The
// other twelve letters (about 55 bits) are the secret; the whole is hashed
// like an account password (hashPassword).
//
// Last use is written lazily: at most once per appPasswordUseEvery per app
// password, so that a phone that reconnects every minute does not write to
// the SD card every minute.

const (
	// MaxAppPasswords is how many app passwords one account may have.
	MaxAppPasswords = 20
	// MaxAppPasswordName is the longest name, in characters.
	MaxAppPasswordName = 64
	// appPasswordUseEvery bounds the writes of an app password's last use.
	appPasswordUseEvery = time.Hour

	appAlphabet = "abcdefghijkmnpqrstuvwxyz" // 24 letters: no l, no o
	appLen      = 16
	appIDLen    = 4
)

// vAppPassword is the version byte of an app password record.
const vAppPassword byte = 1

// Errors of the app passwords.
var (
	ErrAppPasswordName  = errors.New("storage: app password name must be 1 to 64 characters, without control characters")
	ErrAppPasswordTaken = errors.New("storage: the account already has an app password of that name")
	ErrTooManyAppPasswd = errors.New("storage: the account has the most app passwords allowed; remove one first")
)

// AppPassword is one app password of an account, without its secret.
type AppPassword struct {
	ID       string // public: the secret's first letters
	Name     string // what the user called it ("Anna's phone")
	Created  time.Time
	LastUsed time.Time // zero until first used; updated at most hourly
}

type appPasswordRecord struct {
	Name     string    `json:"name"`
	Hash     string    `json:"pw"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"used,omitzero"`
}

func (r *appPasswordRecord) public(id string) AppPassword {
	return AppPassword{ID: id, Name: r.Name, Created: r.Created, LastUsed: r.LastUsed}
}

// CheckAppPasswordName returns the trimmed name, or ErrAppPasswordName.
func CheckAppPasswordName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxAppPasswordName {
		return "", ErrAppPasswordName
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return "", ErrAppPasswordName
		}
	}
	return name, nil
}

// normalizeAppPassword returns the letters of an app password as typed
// (spaces and dashes dropped, lower case) and its ID; ok is false when pw
// does not have an app password's shape.
func normalizeAppPassword(pw string) (norm, id string, ok bool) {
	if len(pw) > 4*appLen {
		return "", "", false
	}
	var b strings.Builder
	for i := 0; i < len(pw); i++ {
		c := pw[i]
		switch {
		case c == ' ' || c == '-':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		if strings.IndexByte(appAlphabet, c) < 0 {
			return "", "", false
		}
		b.WriteByte(c)
	}
	norm = b.String()
	if len(norm) != appLen {
		return "", "", false
	}
	return norm, norm[:appIDLen], true
}

// FormatAppPassword shows an app password's letters in groups of four.
func FormatAppPassword(norm string) string {
	var parts []string
	for i := 0; i < len(norm); i += 4 {
		parts = append(parts, norm[i:min(i+4, len(norm))])
	}
	return strings.Join(parts, " ")
}

func newAppSecret() (string, error) {
	// 24 letters: reject bytes >= 240 (10 x 24) so every letter is as likely.
	out := make([]byte, 0, appLen)
	buf := make([]byte, 32)
	for len(out) < appLen {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, c := range buf {
			if c < 240 && len(out) < appLen {
				out = append(out, appAlphabet[int(c)%len(appAlphabet)])
			}
		}
	}
	return string(out), nil
}

// AddAppPassword creates an app password called name for the account login
// and returns it with its secret, formatted for showing once: the store
// keeps only its hash.
func (s *Store) AddAppPassword(login, name string) (AppPassword, string, error) {
	name, err := CheckAppPasswordName(name)
	if err != nil {
		return AppPassword{}, "", err
	}
	secret, err := newAppSecret()
	if err != nil {
		return AppPassword{}, "", err
	}
	hash, err := s.hash(secret)
	if err != nil {
		return AppPassword{}, "", err
	}
	rec := &appPasswordRecord{Name: name, Hash: hash, Created: s.now().UTC()}
	var out AppPassword
	err = s.modifyAccount(login, func(txn *badger.Txn, id AccountID, _ *accountRecord) error {
		list, err := appPasswordsTxn(txn, id)
		if err != nil {
			return err
		}
		if len(list) >= MaxAppPasswords {
			return ErrTooManyAppPasswd
		}
		for _, a := range list {
			if strings.EqualFold(a.Name, name) {
				return fmt.Errorf("%w: %q", ErrAppPasswordTaken, name)
			}
			if a.ID == secret[:appIDLen] {
				// One in 330,000 per app password: ask the caller to
				// try again rather than loop holding the account lock.
				return fmt.Errorf("storage: app password ID collision, try again")
			}
		}
		v, err := encodeJSON(vAppPassword, rec)
		if err != nil {
			return err
		}
		out = rec.public(secret[:appIDLen])
		return txn.Set(keys.AppPassword(uint64(id), out.ID), v)
	})
	if err != nil {
		return AppPassword{}, "", fmt.Errorf("storage: add app password for %s: %w", login, err)
	}
	s.log.Info("app password added", "account", strings.ToLower(login), "id", out.ID, "name", name)
	return out, FormatAppPassword(secret), nil
}

func appPasswordsTxn(txn *badger.Txn, id AccountID) ([]AppPassword, error) {
	var out []AppPassword
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: keys.AppPasswordPrefix(uint64(id))})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		_, aid, err := keys.ParseAppPassword(it.Item().Key())
		if err != nil {
			return nil, err
		}
		rec := &appPasswordRecord{}
		if err := it.Item().Value(func(v []byte) error { return decodeJSON(vAppPassword, v, rec) }); err != nil {
			return nil, fmt.Errorf("app password %s: %w", aid, err)
		}
		out = append(out, rec.public(aid))
	}
	slices.SortStableFunc(out, func(a, b AppPassword) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// AppPasswords lists the account's app passwords, oldest first.
func (s *Store) AppPasswords(login string) ([]AppPassword, error) {
	var out []AppPassword
	err := s.view(func(txn *badger.Txn) error {
		id, _, err := s.lookupAccount(txn, login)
		if err != nil {
			return err
		}
		out, err = appPasswordsTxn(txn, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: app passwords of %s: %w", login, err)
	}
	return out, nil
}

// RevokeAppPassword removes the account's app password id: logins with it
// fail from now on (the credential cache forgets the account). An id the
// account does not have is ErrNotFound, also when another account has it.
func (s *Store) RevokeAppPassword(login, id string) (AppPassword, error) {
	var out AppPassword
	var acct AccountID
	err := s.modifyAccount(login, func(txn *badger.Txn, aid AccountID, _ *accountRecord) error {
		acct = aid
		if len(id) != appIDLen {
			return fmt.Errorf("app password %q: %w", id, ErrNotFound)
		}
		k := keys.AppPassword(uint64(aid), id)
		item, err := txn.Get(k)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("app password %q: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		rec := &appPasswordRecord{}
		if err := item.Value(func(v []byte) error { return decodeJSON(vAppPassword, v, rec) }); err != nil {
			return err
		}
		out = rec.public(id)
		return txn.Delete(k)
	})
	if err != nil {
		return AppPassword{}, fmt.Errorf("storage: remove app password of %s: %w", login, err)
	}
	s.creds.forget(acct)
	s.log.Info("app password removed", "account", strings.ToLower(login), "id", id, "name", out.Name)
	return out, nil
}

// SetPasswordWebOnly limits the account's own password to the web page
// (on), so that IMAP, POP3 and submission accept only its app passwords,
// or lets the mail programs use it again (off).
func (s *Store) SetPasswordWebOnly(login string, on bool) error {
	var acct AccountID
	err := s.modifyAccount(login, func(_ *badger.Txn, id AccountID, rec *accountRecord) error {
		rec.WebOnly, acct = on, id
		return nil
	})
	if err != nil {
		return err
	}
	s.creds.forget(acct)
	return nil
}

// Authenticate checks a login (an account name) and password for the mail
// protocols (IMAP, POP3, submission): an app password of the account, or
// the account's password unless it is kept for the web page. Failures are
// all ErrAuthFailed, whether the login exists or not. A success is kept
// for a while in the credential cache (credcache.go), so a phone that
// reconnects often costs one argon2id run per CredentialCacheTTL, not one
// per connection. Account.AppPassword names the app password used.
func (s *Store) Authenticate(login, password string) (Account, error) {
	return s.authenticate(login, password, false)
}

// AccountPasswordOnly checks logins with the account's password alone,
// never an app password and never the cache: the web pages' logins.
type AccountPasswordOnly struct{ s *Store }

// AccountPasswordOnly returns the Authenticator of the web pages.
func (s *Store) AccountPasswordOnly() AccountPasswordOnly { return AccountPasswordOnly{s} }

// Authenticate checks the account's password.
func (a AccountPasswordOnly) Authenticate(login, password string) (Account, error) {
	return a.s.authenticate(login, password, true)
}

func (s *Store) authenticate(login, password string, web bool) (Account, error) {
	var (
		id  AccountID
		rec *accountRecord
		app *appPasswordRecord
	)
	norm, appID, shaped := normalizeAppPassword(password)
	shaped = shaped && !web
	err := s.view(func(txn *badger.Txn) error {
		var err error
		id, rec, err = s.lookupAccount(txn, login)
		if err != nil || !shaped {
			return err
		}
		item, err := txn.Get(keys.AppPassword(uint64(id), appID))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		app = &appPasswordRecord{}
		return item.Value(func(v []byte) error { return decodeJSON(vAppPassword, v, app) })
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Account{}, err
	}
	known := err == nil
	useAccount := known && (web || !rec.WebOnly)

	var ck credKey
	if !web && known {
		ck = s.creds.key(login, password)
		if e, ok := s.creds.get(ck, s.now()); ok && e.acct == id {
			switch {
			case e.app != "" && app != nil && e.app == appID && e.hash == app.Hash:
				return s.authenticated(id, rec, appID, app), nil
			case e.app == "" && useAccount && e.hash == rec.PasswordHash:
				return s.authenticated(id, rec, "", nil), nil
			}
		}
	}

	if app != nil && s.verify(app.Hash, norm) {
		s.creds.put(ck, credEntry{acct: id, app: appID, hash: app.Hash}, s.now())
		return s.authenticated(id, rec, appID, app), nil
	}
	hash := dummyHash()
	if useAccount {
		hash = rec.PasswordHash
	}
	if s.verify(hash, password) && useAccount {
		if !web {
			s.creds.put(ck, credEntry{acct: id, hash: rec.PasswordHash}, s.now())
		}
		return s.authenticated(id, rec, "", nil), nil
	}
	return Account{}, ErrAuthFailed
}

// verify runs one argon2id check under the hashing semaphore.
func (s *Store) verify(hash, pw string) bool {
	s.checks.Add(1)
	s.authSem <- struct{}{}
	defer func() { <-s.authSem }()
	return verifyPassword(hash, pw)
}

// PasswordChecks is how many argon2id verifications logins have run since
// Open: the credential cache's hits run none.
func (s *Store) PasswordChecks() int64 { return s.checks.Load() }

// authenticated is the Account of a successful login; with an app
// password it writes the last use when the stored one is older than
// appPasswordUseEvery. A failed write is logged and the login goes on:
// a full disk must not lock a phone out.
func (s *Store) authenticated(id AccountID, rec *accountRecord, appID string, app *appPasswordRecord) Account {
	a := rec.public(id)
	if app == nil {
		return a
	}
	a.AppPassword = app.Name
	now := s.now().UTC()
	if now.Sub(app.LastUsed) < appPasswordUseEvery {
		return a
	}
	err := s.update(func(txn *badger.Txn) error {
		k := keys.AppPassword(uint64(id), appID)
		item, err := txn.Get(k)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil // removed meanwhile: do not bring it back
		}
		if err != nil {
			return err
		}
		cur := &appPasswordRecord{}
		if err := item.Value(func(v []byte) error { return decodeJSON(vAppPassword, v, cur) }); err != nil {
			return err
		}
		if now.Sub(cur.LastUsed) < appPasswordUseEvery {
			return nil
		}
		cur.LastUsed = now
		v, err := encodeJSON(vAppPassword, cur)
		if err != nil {
			return err
		}
		return txn.Set(k, v)
	})
	if err != nil {
		s.log.Warn("app password: last use not saved", "account", rec.Name, "id", appID, "err", err)
	}
	return a
}
