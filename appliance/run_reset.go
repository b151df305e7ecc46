package appliance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"postroom/appliance/config"

	"postroom/appliance/authguard"
	"postroom/storage"
	"postroom/webui"
)

// The factory reset. A 10-second press of the button asks for it (hw puts
// the time in Snapshot.ResetRequested); an administrator confirms it on the
// web page within webui.ResetWindow, with their password and the word
// ERASE. The runner then stops like at a shutdown (sessions drain, the
// store closes), erases the data folder but for config.json, and
// RunOptions starts it again from nothing: no accounts, so the box waits
// to be set up (in development the demo user is made again).

// errFactoryReset ends a run whose data folder is to be erased.
var errFactoryReset = errors.New("factory reset confirmed")

// errNotAdmin: the login was right but the account may not reset the box.
var errNotAdmin = errors.New("not an administrator")

// erasingDir holds what a factory reset is erasing; one left behind by a
// stop in the middle is removed at the next start (finishErase).
const erasingDir = ".erasing"

// requestReset is webui's FactoryReset: it asks the run to stop and erase.
func (r *runner) requestReset(by string) {
	select {
	case r.resetCh <- by:
	default: // one is on its way already
	}
}

// checkAdmin is webui's CheckAdmin: the login goes through the same guard
// as every mail protocol's (delays, lockouts), then must be an
// administrator's.
func (r *runner) checkAdmin(st *storage.Store) func(ctx context.Context, remote, user, password string) error {
	return func(ctx context.Context, remote, user, password string) error {
		addr, err := net.ResolveTCPAddr("tcp", remote) // "ip:port": no lookup
		if err != nil {
			return fmt.Errorf("client address %q: %w", remote, err)
		}
		acct, err := r.guard.Login(ctx, st, addr, user, password)
		switch {
		case errors.Is(err, authguard.ErrLocked):
			r.log.Warn("factory reset: login locked out", "user", user, "remote", remote)
			return fmt.Errorf("%w: %w", webui.ErrLoginLocked, err)
		case err != nil:
			r.log.Warn("factory reset: login failed", "user", user, "remote", remote, "err", err)
			return err
		case !acct.Admin:
			r.log.Warn("factory reset: refused, not an administrator", "user", acct.Name, "remote", remote)
			return fmt.Errorf("%s: %w", acct.Name, errNotAdmin)
		}
		return nil
	}
}

// eraseData empties the data folder but for config.json. Each entry is
// first moved into erasingDir (one rename each, so a stop half-way leaves
// every entry either in place or in erasingDir), then erasingDir goes.
func eraseData(dataDir string) error {
	if err := finishErase(dataDir); err != nil {
		return err
	}
	trash := filepath.Join(dataDir, erasingDir)
	if err := os.Mkdir(trash, 0o700); err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	for _, e := range entries {
		if e.Name() == erasingDir || e.Name() == config.ConfigFile {
			continue
		}
		if err := os.Rename(filepath.Join(dataDir, e.Name()), filepath.Join(trash, e.Name())); err != nil {
			return fmt.Errorf("erase: %w", err)
		}
	}
	return finishErase(dataDir)
}

// finishErase removes what a factory reset left to erase, if anything.
func finishErase(dataDir string) error {
	if err := os.RemoveAll(filepath.Join(dataDir, erasingDir)); err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	return nil
}
