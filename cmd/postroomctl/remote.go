package main

// How postroomctl reaches the admin layer (appliance/admin): over the
// control socket DATA/control.sock when the appliance runs and holds the
// store, else in-process over the store it opens itself. Every command
// sends the same operation either way, so the output is the same.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"postroom/appliance/admin"
	"postroom/appliance/config"
)

// errNoAnswer: the appliance holds the data folder but its control socket
// does not answer (starting, stopping, a maintenance step).
type errNoAnswer struct {
	path string
	err  error
}

func (e errNoAnswer) Error() string {
	if errors.Is(e.err, fs.ErrPermission) {
		return fmt.Sprintf("the appliance is running, and only root and the appliance's own user may use its control socket %s: run postroomctl as one of them", e.path)
	}
	return fmt.Sprintf("the appliance is running but its control socket %s does not answer (%v): it may be starting, stopping or in maintenance; try again in a moment", e.path, e.err)
}

// admin returns the admin layer of the data folder, connecting or opening
// the store on first use; run closes it.
func (c *ctl) admin() (admin.Doer, error) {
	if c.doer != nil {
		return c.doer, nil
	}
	if err := checkDataFolder(c.data); err != nil {
		return nil, err
	}
	running, err := applianceRunning(c.data)
	if err != nil {
		return nil, err
	}
	if !running {
		// Hold the data folder's lock, as the appliance does, so that it
		// does not start on the store while we change it.
		unlock, held, err := lockDir(c.data)
		if err != nil {
			return nil, err
		}
		if !held {
			c.unlock = unlock
			st, err := c.store()
			if err != nil {
				return nil, err
			}
			a, err := admin.New(admin.Options{Store: st, ConfigPath: filepath.Join(c.data, config.ConfigFile), Logger: c.logger()})
			if err != nil {
				return nil, err
			}
			c.doer = a
			return a, nil
		}
		// It started between the two looks: ask it.
	}
	path := admin.SocketPath(c.data)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := admin.Dial(ctx, path)
	if err != nil {
		return nil, errNoAnswer{path, err}
	}
	c.remote = cl
	c.doer = cl
	return cl, nil
}

// call runs op on the data folder's admin layer and returns its result.
func call[R any](c *ctl, op admin.Op) (R, error) {
	d, err := c.admin()
	if err != nil {
		var zero R
		return zero, err
	}
	res, err := admin.Call[R](context.Background(), d, c.actor(), op)
	return res, hint(err)
}

// hint adds to a refusal where to look next, as postroomctl always did.
func hint(err error) error {
	ae, ok := adminError(err)
	if !ok || ae.Code != admin.CodeNotFound {
		return err
	}
	switch ae.Field {
	case "name", "account":
		return fmt.Errorf("%w (postroomctl users list shows them)", err)
	case "address":
		return fmt.Errorf("%w (postroomctl alias list shows them)", err)
	}
	return err
}

// actor is who runs this postroomctl, for the audit log of a stopped box
// (the running box asks the kernel instead).
func (c *ctl) actor() admin.Actor {
	uid := os.Getuid()
	name := "uid " + strconv.Itoa(uid)
	if u, err := user.Current(); err == nil {
		name = fmt.Sprintf("%s (uid %d)", u.Username, uid)
	}
	return admin.Actor(name + " via postroomctl, box stopped")
}

// applianceRunning reports whether an appliance holds the data folder (its
// lock) or the store (Badger's).
func applianceRunning(data string) (bool, error) {
	if held, err := dirLocked(data); held || err != nil {
		return held, err
	}
	return storeLocked(storeDir(data))
}

// closeAdmin ends the connection or closes the store, and lets go of the
// data folder.
func (c *ctl) closeAdmin() error {
	var err error
	if c.remote != nil {
		c.remote.Close()
	}
	if c.st != nil {
		if cerr := c.st.Close(); cerr != nil {
			err = fmt.Errorf("closing the store: %w", cerr)
		}
	}
	if c.unlock != nil {
		c.unlock()
	}
	return err
}

// adminError is how run prints a refusal of the admin layer.
func adminError(err error) (*admin.Error, bool) {
	var ae *admin.Error
	ok := errors.As(err, &ae)
	return ae, ok
}
