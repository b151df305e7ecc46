//go:build !unix

package appliance

import "errors"

var errInUse = errors.New("is in use by another Postroom process")

// lockDataDir does nothing here; the store's own lock still refuses a
// second process.
func lockDataDir(dir string) (unlock func(), err error) { return func() {}, nil }
