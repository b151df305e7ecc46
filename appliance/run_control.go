package appliance

import (
	"context"
	"fmt"
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

// adminLayer returns this start's admin layer over the live store, made on
// first use: the web page (built with the services) and the control socket
// share it, and with it its lock that serialises changes.
func (r *runner) adminLayer(st *storage.Store) (*admin.Admin, error) {
	if r.admin != nil {
		return r.admin, nil
	}
	q, err := r.outboundQueue(st) // run_queue.go: retries start at once
	if err != nil {
		return nil, err
	}
	path := r.opts.ConfigPath
	if path == "" {
		dir, err := filepath.Abs(r.cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("data folder: %w", err)
		}
		path = filepath.Join(dir, config.ConfigFile)
	}
	mover, err := r.transitions(st) // run_transition.go
	if err != nil {
		return nil, err
	}
	backups, err := r.backupManager(st) // run_backup.go
	if err != nil {
		return nil, err
	}
	var restart func(admin.Actor) (string, error)
	if r.opts.Update != nil { // started by the init: its reboot path (run_update.go)
		restart = r.restartBox
	}
	a, err := admin.New(admin.Options{
		Backups: backups, RestoreBox: r.restoreBox, // run_backup.go
		Store: st, ConfigPath: path, Logger: r.log.With("part", "admin"),
		Update: func(ctx context.Context, file string, by admin.Actor) (admin.UpdateResult, error) {
			return r.installUpdate(ctx, st, file, by) // run_update.go
		},
		Publish: r.update, Queue: q, Apply: r.applyConfig, Transition: mover,
		Certificates: r.adminCertificates(),  // run_certs.go: show, upload, remove, renew
		Material:     r.setupMaterial,        // run_setup.go: TLS and DKIM at the end of the set-up
		EndSessions:  r.sessions.EndSessions, // run_sessions.go
		USB:          r.opts.USB,
		Restart:      restart,
	})
	if err != nil {
		return nil, err
	}
	r.admin = a
	return a, nil
}

// controlWorker serves the admin layer on the control socket while the
// services run. The socket is made here, before the phase says "running",
// so that postroomctl finds it as soon as the box is up; without it (a
// path too long for a socket, a read-only folder) the box runs on and
// postroomctl says what is wrong.
func (r *runner) controlWorker(st *storage.Store, dataDir string) {
	log := r.log.With("part", "admin")
	a, err := r.adminLayer(st)
	if err != nil {
		log.Error("admin layer", "err", err)
		return
	}
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
