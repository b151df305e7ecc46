package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

// What the administration (appliance/admin) needs beyond the accounts API.

// RenameAccount gives the account whose login is oldName the login newName,
// in one transaction under the account's writer lock. newName may be an
// alias of the same account already (it becomes the login); an address of
// another account is ErrAddressTaken. keepOld keeps oldName as an alias, so
// mail to it still arrives; otherwise it is no longer accepted. The
// account's ID, mail and sessions stay as they are: only the name changes.
func (s *Store) RenameAccount(oldName, newName string, keepOld bool) (Account, error) {
	to, err := NormalizeAddress(newName)
	if err != nil || to[0] == '@' {
		return Account{}, fmt.Errorf("storage: account name must be an address like user@example.com: %q", newName)
	}
	var out Account
	err = s.modifyAccount(oldName, func(txn *badger.Txn, id AccountID, rec *accountRecord) error {
		from := rec.Name
		if to == from {
			out = rec.public(id)
			return nil
		}
		owner, err := getAddress(txn, to)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			if err := addAddress(txn, to, id); err != nil {
				return err
			}
			rec.Addresses = append(rec.Addresses, to)
		case err != nil:
			return err
		case owner != id:
			return fmt.Errorf("%w: %s", ErrAddressTaken, to)
		}
		rec.Name = to
		if !keepOld {
			if err := removeAddress(txn, from); err != nil {
				return err
			}
			out := rec.Addresses[:0]
			for _, a := range rec.Addresses {
				if a != from {
					out = append(out, a)
				}
			}
			rec.Addresses = out
		}
		out = rec.public(id) // modifyAccount writes rec as it is now
		return nil
	})
	if err != nil {
		return Account{}, err
	}
	s.creds.forget(out.ID) // the cache keys hold the old login
	s.log.Info("account renamed", "from", oldName, "to", to)
	return out, nil
}

// MoveAddress makes addr (an alias or "@domain" catch-all of one account)
// deliver to the account name instead, in one transaction under both
// accounts' writer locks (taken in ID order). An address that is an
// account's login cannot move; one that no account has is ErrNotFound.
func (s *Store) MoveAddress(addr, name string) (from Account, to Account, err error) {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return Account{}, Account{}, err
	}
	var fromID, toID AccountID
	err = s.view(func(txn *badger.Txn) error {
		id, err := getAddress(txn, a)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("address %s: %w", a, ErrNotFound)
		}
		if err != nil {
			return err
		}
		fromID = id
		toID, _, err = s.lookupAccount(txn, name)
		return err
	})
	if err != nil {
		return Account{}, Account{}, err
	}
	if fromID == toID {
		acct, err := s.AccountByID(toID)
		return acct, acct, err
	}
	first, second := s.accountLock(min(fromID, toID)), s.accountLock(max(fromID, toID))
	first.Lock()
	defer first.Unlock()
	second.Lock()
	defer second.Unlock()
	err = s.update(func(txn *badger.Txn) error {
		if id, err := getAddress(txn, a); err != nil || id != fromID {
			return fmt.Errorf("storage: address %s changed meanwhile; try again", a)
		}
		src, err := s.getAccount(txn, fromID)
		if err != nil {
			return err
		}
		if src.Name == a {
			return fmt.Errorf("storage: %s is the login of account %s; rename the account instead", a, src.Name)
		}
		dst, err := s.getAccount(txn, toID)
		if err != nil {
			return err
		}
		src.Addresses = slices.DeleteFunc(src.Addresses, func(x string) bool { return x == a })
		dst.Addresses = append(dst.Addresses, a)
		if err := txn.Set(keys.Address(a), binary.BigEndian.AppendUint64(nil, uint64(toID))); err != nil {
			return err
		}
		if err := putAccount(txn, fromID, src); err != nil {
			return err
		}
		if err := putAccount(txn, toID, dst); err != nil {
			return err
		}
		from, to = src.public(fromID), dst.public(toID)
		return nil
	})
	if err != nil {
		return Account{}, Account{}, err
	}
	s.log.Info("address moved", "address", a, "from", from.Name, "to", to.Name)
	return from, to, nil
}
