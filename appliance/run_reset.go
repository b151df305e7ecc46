package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"postroom/appliance/authguard"
	"postroom/appliance/config"
	"postroom/storage"
	"postroom/webui"
)

// The factory reset. A 10-second press of the button asks for it (hw puts
// the time in Snapshot.ResetRequested); an administrator confirms it on the
// web page within webui.ResetWindow, with their password and the word
// ERASE. The reset is an offline step (run_offline.go): the runner stops
// like at a shutdown (sessions drain, the store closes), erases the data
// folder but for config.json, and starts again from nothing: no accounts,
// so the box waits to be set up (in development the demo user is made
// again).

// errNotAdmin: the login was right but the account may not reset the box.
var errNotAdmin = errors.New("not an administrator")

// erasingDir holds what a factory reset is erasing; one left behind by a
// stop in the middle is removed at the next start (finishErase).
const erasingDir = ".erasing"

// resetter is webui's Resetter. It lives as long as RunOptions, so that
// the time of the last reset outlives the restart the reset makes.
type resetter struct {
	maint *Maintenance
	log   *slog.Logger
	last  atomic.Pointer[time.Time]
}

// FactoryReset asks for the offline step that erases the data folder.
func (f *resetter) FactoryReset(by string) error {
	return f.maint.Offline("factory reset", by, func(_ context.Context, dataDir string) error {
		// Not cancelled by a shutdown: a half-done erase is finished at
		// the next start anyway (finishErase), so finishing now is best.
		if err := eraseData(dataDir); err != nil {
			return err
		}
		f.log.Warn("factory reset: the data folder is erased", "dir", dataDir)
		now := time.Now()
		f.last.Store(&now)
		return nil
	})
}

// LastReset is when the last factory reset erased the box.
func (f *resetter) LastReset() time.Time {
	if t := f.last.Load(); t != nil {
		return *t
	}
	return time.Time{}
}

// admins is webui's Admins: the login goes through the same guard as every
// mail protocol's (delays, lockouts), then must be an administrator's.
type admins struct {
	r  *runner
	st *storage.Store
}

// CheckAdmin checks an administrator's login from the client at remote.
func (a admins) CheckAdmin(ctx context.Context, remote, user, password string) error {
	addr, err := net.ResolveTCPAddr("tcp", remote) // "ip:port": no lookup
	if err != nil {
		return fmt.Errorf("client address %q: %w", remote, err)
	}
	acct, err := a.r.guard.Login(ctx, a.st.AccountPasswordOnly(), addr, user, password)
	switch {
	case errors.Is(err, authguard.ErrLocked):
		a.r.log.Warn("administrator login locked out", "user", user, "remote", remote)
		return fmt.Errorf("%w: %w", webui.ErrLoginLocked, err)
	case err != nil:
		a.r.log.Warn("administrator login failed", "user", user, "remote", remote, "err", err)
		return err
	case !acct.Admin:
		a.r.log.Warn("administrator login refused: not an administrator", "user", acct.Name, "remote", remote)
		return fmt.Errorf("%s: %w", acct.Name, errNotAdmin)
	}
	return nil
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
