package storage

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"postroom/storage/internal/keys"
)

// SetupState is how far the box's first set-up (the web page's wizard)
// has come. It lives in the store, so a restart in the middle of the
// wizard keeps the box waiting to be set up, and a factory reset (which
// erases the store) starts the wizard again.
type SetupState byte

const (
	// SetupUnknown: no wizard ever ran on this store (a new store, or one
	// made before the wizard existed, or set up with postroomctl alone).
	// The box counts as set up when it has an account.
	SetupUnknown SetupState = 0
	// SetupWizard: a set-up code was taken and the wizard has not finished:
	// the box waits to be set up even once accounts exist.
	SetupWizard SetupState = 1
	// SetupDone: the wizard finished.
	SetupDone SetupState = 2
)

// vSetup is the version byte of the set-up record (meta "setup").
const vSetup byte = 1

// SetupState reads how far the set-up has come.
func (s *Store) SetupState() (SetupState, error) {
	var st SetupState
	err := s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(keys.Meta("setup"))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 2 || v[0] != vSetup || v[1] > byte(SetupDone) {
				return fmt.Errorf("set-up record %x is not one this program knows", v)
			}
			st = SetupState(v[1])
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("storage: read the set-up state: %w", err)
	}
	return st, nil
}

// SetSetupState records how far the set-up has come (synced, like every
// write of the store).
func (s *Store) SetSetupState(st SetupState) error {
	if st > SetupDone {
		return fmt.Errorf("storage: set-up state %d is not one of the known", st)
	}
	if err := s.update(func(txn *badger.Txn) error {
		return txn.Set(keys.Meta("setup"), []byte{vSetup, byte(st)})
	}); err != nil {
		return fmt.Errorf("storage: write the set-up state: %w", err)
	}
	return nil
}
