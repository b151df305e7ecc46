package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

// Web sessions (key family 60) are the web pages' logins, kept here so
// that they outlive a restart of the services. The store keeps them as
// opaque records under the SHA-256 of the session's token: the token is
// only ever in the browser's cookie, so a copy of the store (a backup, a
// stolen card) logs nobody in. What a record holds is webui's business;
// the store adds the version byte every value starts with.
//
// The records belong to no account in the store's sense: removing an
// account leaves its sessions, which webui refuses (and deletes) when it
// finds their account gone. storage.Check does not look at them.

// vWebSession is the version byte of a web session record.
const vWebSession byte = 1

// PutWebSession writes (or replaces) the session record under id.
func (s *Store) PutWebSession(id [32]byte, value []byte) error {
	v := append([]byte{vWebSession}, value...)
	if err := s.update(func(txn *badger.Txn) error { return txn.Set(keys.WebSession(id), v) }); err != nil {
		return fmt.Errorf("storage: write web session: %w", err)
	}
	return nil
}

// WebSession returns the session record under id; nil and no error when
// there is none.
func (s *Store) WebSession(id [32]byte) ([]byte, error) {
	var out []byte
	err := s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(keys.WebSession(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		out, err = webSessionValue(v)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: read web session: %w", err)
	}
	return out, nil
}

// DeleteWebSessions deletes the sessions under ids; ids that are not
// there are no error.
func (s *Store) DeleteWebSessions(ids ...[32]byte) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.update(func(txn *badger.Txn) error {
		for _, id := range ids {
			if err := txn.Delete(keys.WebSession(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: delete web sessions: %w", err)
	}
	return nil
}

// WebSessions calls fn with every session record, in id order, from one
// consistent snapshot. fn must not keep value.
func (s *Store) WebSessions(fn func(id [32]byte, value []byte) error) error {
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64, Prefix: keys.WebSessionFamily()})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			id, err := keys.ParseWebSession(item.Key())
			if err != nil {
				return err
			}
			err = item.Value(func(v []byte) error {
				val, err := webSessionValue(v)
				if err != nil {
					return fmt.Errorf("%x: %w", id[:4], err)
				}
				return fn(id, val)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: list web sessions: %w", err)
	}
	return nil
}

func webSessionValue(v []byte) ([]byte, error) {
	if len(v) == 0 || v[0] != vWebSession {
		return nil, fmt.Errorf("web session record of unknown version")
	}
	return v[1:], nil
}

// PasswordStamp returns a short value that changes whenever the password
// of the account login is set (a hash of its salted password hash, so it
// tells nothing about the password). A web session keeps the stamp of its
// login and ends when it differs: a password set anywhere (the web page,
// postroomctl, a stopped box) logs the account out everywhere.
func (s *Store) PasswordStamp(login string) (string, error) {
	var out string
	err := s.view(func(txn *badger.Txn) error {
		_, rec, err := s.lookupAccount(txn, login)
		if err != nil {
			return err
		}
		sum := sha256.Sum256([]byte("postroom password stamp\x00" + rec.PasswordHash))
		out = hex.EncodeToString(sum[:12])
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("storage: password stamp: %w", err)
	}
	return out, nil
}
