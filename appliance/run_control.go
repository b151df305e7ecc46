package appliance

import (
	"context"
	"path/filepath"
	"time"

	"postroom/appliance/admin"
	"postroom/appliance/config"
	"postroom/storage"
)

// The admin layer on the running box, and its control socket
// (DATA/control.sock) through which postroomctl changes the live store and
// config without stopping anything. Settings that the services read only
// at start (host name, smarthost) are applied by an offline step that
// stops and starts them with the saved config (run_offline.go); the
// others take effect at once.

// controlWorker builds the admin layer over the live store and serves it
// on the control socket while the services run. The socket is made here,
// before the phase says "running", so that postroomctl finds it as soon as
// the box is up; without it (a path too long for a socket, a read-only
// folder) the box runs on and postroomctl says what is wrong.
func (r *runner) controlWorker(st *storage.Store, dataDir string) {
	path := r.opts.ConfigPath
	if path == "" {
		path = filepath.Join(dataDir, config.ConfigFile)
	}
	log := r.log.With("part", "admin")
	a, err := admin.New(admin.Options{
		Store: st, ConfigPath: path, Logger: log,
		Publish: r.update, Queue: r.queue, Apply: r.applyConfig,
	})
	if err != nil {
		log.Error("admin layer", "err", err)
		return
	}
	r.admin = a
	ln, err := admin.Listen(admin.SocketPath(dataDir))
	if err != nil {
		log.Error("no control socket: postroomctl cannot reach the running box", "err", err)
		return
	}
	srv := admin.NewServer(a, log)
	r.addWorker("control socket", func(ctx context.Context) error {
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx, ln)
		return <-done
	})
}

// applyConfig is admin.Options.Apply: the next start of the services uses
// cfg, and with restart they stop and start again now to use it.
func (r *runner) applyConfig(cfg config.Config, restart bool, what string, by admin.Actor) (string, error) {
	r.opts.Maintenance.next.Store(&cfg)
	if !restart {
		return "", nil
	}
	if err := r.opts.Maintenance.Offline("applying new settings", string(by), func(context.Context, string) error { return nil }); err != nil {
		return "", err
	}
	return "saved; the services restart now to use it", nil
}
