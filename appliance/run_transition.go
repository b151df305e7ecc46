package appliance

import (
	"context"
	"fmt"
	"path/filepath"

	"postroom/appliance/status"
	"postroom/appliance/transition"
	"postroom/storage"
)

// transitions returns this start's mover of mail from the old provider's
// accounts (appliance/transition), made on first use with its worker:
// every few minutes it pulls each running move, and its progress goes to
// the status Bus for the status page and the display. Its state lives in
// DATA/transition, beside the store.
func (r *runner) transitions(st *storage.Store) (*transition.Manager, error) {
	if r.mover != nil {
		return r.mover, nil
	}
	dir, err := filepath.Abs(r.cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	o := transition.Options{
		Store: st, Dir: filepath.Join(dir, "transition"), Logger: r.log,
		Changed: func(srcs []transition.Source) {
			moving := movingStatus(srcs)
			r.update(func(s *status.Snapshot) { s.Moving = moving })
		},
	}
	if r.cfg.Dev {
		// Development mode reaches only this machine (a local Dovecot to
		// try it with), and may use its plain ports.
		o.Dial, o.AllowPlain = loopbackDial, true
	}
	m, err := transition.New(o)
	if err != nil {
		return nil, err
	}
	r.mover = m
	r.update(func(s *status.Snapshot) { s.Moving = movingStatus(m.List()) })
	r.addWorker("moving mail in", func(ctx context.Context) error {
		m.Run(ctx, nil)
		return nil
	})
	return m, nil
}

// movingStatus is the running moves as the status shows them.
func movingStatus(srcs []transition.Source) []status.Moving {
	var out []status.Moving
	for _, s := range srcs {
		if !s.Active() {
			continue
		}
		out = append(out, status.Moving{
			Account: s.Account, From: s.Username + " on " + s.Host,
			Fetched: s.Fetched, Seen: s.Seen, Running: s.Running, Error: s.LastError,
		})
	}
	return out
}
