package storage

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

// Logins seen (key family 06): for each account, the devices it logged in
// from, a device being one (protocol, client address, client name), where
// the client name is what the program said of itself (IMAP ID) or the app
// password it used. The newest is the account's last login. The account
// page shows them so that a user can tell an unknown device.
//
// Bounded: MaxDevices per account (the least recently seen goes), and a
// device's record is written at most once per loginWriteEvery, so that
// phones that reconnect every minute do not write every minute. The last
// login shown can therefore be up to loginWriteEvery old.

const (
	// MaxDevices is how many devices an account's record keeps.
	MaxDevices = 20
	// loginWriteEvery bounds the writes per device.
	loginWriteEvery = 10 * time.Minute
	// maxThrottled bounds the devices the throttle remembers.
	maxThrottled = 4096
	// maxClientName bounds a client's name, in characters.
	maxClientName = 64
)

// vLogins is the version byte of a logins record.
const vLogins byte = 1

// Login is one successful login, as the server saw it.
type Login struct {
	Protocol string // "imap", "pop3", "submission", "web"
	Addr     string // the client's IP address
	Client   string // the program's name (IMAP ID) or the app password's; "" unknown
}

// Device is a Login as remembered: when first and last seen.
type Device struct {
	Login
	First time.Time
	Last  time.Time
}

type loginsRecord struct {
	Devices []deviceRecord `json:"devices"` // newest first
}

type deviceRecord struct {
	Protocol string    `json:"proto"`
	Addr     string    `json:"addr"`
	Client   string    `json:"client,omitempty"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
}

func (d deviceRecord) public() Device {
	return Device{Login: Login{Protocol: d.Protocol, Addr: d.Addr, Client: d.Client}, First: d.First, Last: d.Last}
}

type throttleKey struct {
	acct AccountID
	l    Login
}

// loginThrottle remembers when each device's record was last written.
type loginThrottle struct {
	mu   sync.Mutex
	last map[throttleKey]time.Time
}

// due reports whether the device's record should be written at now, and
// if so marks it written.
func (t *loginThrottle) due(k throttleKey, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = make(map[throttleKey]time.Time)
	}
	if last, ok := t.last[k]; ok && now.Sub(last) < loginWriteEvery && !now.Before(last) {
		return false
	}
	if len(t.last) >= maxThrottled {
		for x, at := range t.last {
			if now.Sub(at) >= loginWriteEvery {
				delete(t.last, x)
			}
		}
		if len(t.last) >= maxThrottled {
			clear(t.last) // a flood of devices: write a few more, stay bounded
		}
	}
	t.last[k] = now
	return true
}

// forget drops the account's marks, so that its next login is written.
func (t *loginThrottle) forget(acct AccountID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.last {
		if k.acct == acct {
			delete(t.last, k)
		}
	}
}

// cleanClient makes a client's own name safe to keep and show: printable,
// one line, at most maxClientName characters.
func cleanClient(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > maxClientName {
		s = string(r[:maxClientName])
	}
	return s
}

// NoteLogin records a successful login of the account login: its device's
// last use, and the account's last login. Writes are bounded (see above);
// an account that is gone is no error (it was removed meanwhile).
func (s *Store) NoteLogin(login string, l Login) error {
	l.Protocol = cleanClient(l.Protocol)
	l.Addr = cleanClient(l.Addr)
	l.Client = cleanClient(l.Client)
	now := s.now().UTC()
	var id AccountID
	if err := s.view(func(txn *badger.Txn) error {
		var err error
		id, _, err = s.lookupAccount(txn, login)
		return err
	}); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return fmt.Errorf("storage: note login: %w", err)
	}
	if !s.logins.due(throttleKey{id, l}, now) {
		return nil
	}
	err := s.update(func(txn *badger.Txn) error {
		if _, err := s.getAccount(txn, id); err != nil {
			return err // removed meanwhile: write nothing
		}
		rec, err := loginsTxn(txn, id)
		if err != nil {
			return err
		}
		d := deviceRecord{Protocol: l.Protocol, Addr: l.Addr, Client: l.Client, First: now, Last: now}
		if i := slices.IndexFunc(rec.Devices, func(x deviceRecord) bool {
			return x.Protocol == d.Protocol && x.Addr == d.Addr && x.Client == d.Client
		}); i >= 0 {
			d.First = rec.Devices[i].First
			rec.Devices = slices.Delete(rec.Devices, i, i+1)
		}
		rec.Devices = append([]deviceRecord{d}, rec.Devices...)
		slices.SortStableFunc(rec.Devices, func(a, b deviceRecord) int { return b.Last.Compare(a.Last) })
		if len(rec.Devices) > MaxDevices {
			rec.Devices = rec.Devices[:MaxDevices]
		}
		v, err := encodeJSON(vLogins, rec)
		if err != nil {
			return err
		}
		return txn.Set(keys.Logins(uint64(id)), v)
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: note login of %s: %w", login, err)
	}
	return nil
}

func loginsTxn(txn *badger.Txn, id AccountID) (*loginsRecord, error) {
	rec := &loginsRecord{}
	item, err := txn.Get(keys.Logins(uint64(id)))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return rec, nil
	}
	if err != nil {
		return nil, err
	}
	if err := item.Value(func(v []byte) error { return decodeJSON(vLogins, v, rec) }); err != nil {
		return nil, fmt.Errorf("logins of account %d: %w", id, err)
	}
	return rec, nil
}

// Devices lists the devices the account logged in from, most recent
// first: the first one is its last login.
func (s *Store) Devices(login string) ([]Device, error) {
	var out []Device
	err := s.view(func(txn *badger.Txn) error {
		id, _, err := s.lookupAccount(txn, login)
		if err != nil {
			return err
		}
		rec, err := loginsTxn(txn, id)
		if err != nil {
			return err
		}
		for _, d := range rec.Devices {
			out = append(out, d.public())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: devices of %s: %w", login, err)
	}
	return out, nil
}

// LastLogins returns each account's last login (accounts that never
// logged in are absent), in one scan, for the list of accounts.
func (s *Store) LastLogins() (map[AccountID]Device, error) {
	out := map[AccountID]Device{}
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: keys.Prefix(keys.TagLogins)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id, err := keys.ParseLogins(it.Item().Key())
			if err != nil {
				return err
			}
			rec := &loginsRecord{}
			if err := it.Item().Value(func(v []byte) error { return decodeJSON(vLogins, v, rec) }); err != nil {
				return fmt.Errorf("logins of account %d: %w", id, err)
			}
			if len(rec.Devices) > 0 {
				out[AccountID(id)] = rec.Devices[0].public()
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: last logins: %w", err)
	}
	return out, nil
}

// deleteAccountExtras deletes what an account owns beside its mail: its
// app passwords and logins seen; called inside DeleteAccount's last
// transaction.
func deleteAccountExtras(txn *badger.Txn, id AccountID) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: keys.AppPasswordPrefix(uint64(id))})
	var ks [][]byte
	for it.Rewind(); it.Valid(); it.Next() {
		ks = append(ks, it.Item().KeyCopy(nil))
	}
	it.Close()
	ks = append(ks, keys.Logins(uint64(id)))
	for _, k := range ks {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// checkAccountExtras is Check's part for families 05 and 06: each record
// decodes and belongs to an account that exists.
func checkAccountExtras(txn *badger.Txn, accts map[AccountID]*accountRecord, bad func(string, ...any)) {
	for _, tag := range []byte{keys.TagAppPass, keys.TagLogins} {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: keys.Prefix(tag)})
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			var id uint64
			var err error
			var decode func([]byte) error
			if tag == keys.TagAppPass {
				id, _, err = keys.ParseAppPassword(k)
				decode = func(v []byte) error { return decodeJSON(vAppPassword, v, &appPasswordRecord{}) }
			} else {
				id, err = keys.ParseLogins(k)
				decode = func(v []byte) error { return decodeJSON(vLogins, v, &loginsRecord{}) }
			}
			if err != nil {
				bad("%v", err)
				continue
			}
			if accts[AccountID(id)] == nil {
				bad("key %x: account %d does not exist", k, id)
			}
			if err := it.Item().Value(decode); err != nil {
				bad("key %x: undecodable: %v", k, err)
			}
		}
		it.Close()
	}
}
