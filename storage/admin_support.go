package storage

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
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
	s.log.Info("account renamed", "from", oldName, "to", to)
	return out, nil
}
