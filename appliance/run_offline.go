package appliance

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"postroom/appliance/config"
	"postroom/appliance/status"
)

// Offline steps. Some work needs the box to itself: erasing it (the
// factory reset), restoring a backup, writing an update, rewriting the
// store at set-up. Such a step is asked for with Maintenance.Offline; the
// runner then stops like at a shutdown (sessions drain, workers stop, the
// store closes), runs the step while it still holds the data folder's lock
// (so that neither a second appliance nor postroomctl can open the store
// meanwhile), and starts again from the top: config, store, certificate,
// services. The phase is "maintenance" with Snapshot.Maintenance saying
// what happens; an error of the step stays the problem on the page and the
// display after the new start.

// Maintenance carries requests for offline steps to the runner. It outlives
// each start of the services, so a part built once (the web page's reset,
// later the admin layer and the control socket) can keep asking.
type Maintenance struct {
	ch chan offlineStep
	// next is the config the next start uses, saved by the admin layer
	// (run_control.go); nil: the one it ran with.
	next atomic.Pointer[config.Config]
}

// offlineStep is one requested step.
type offlineStep struct {
	what, by string
	run      func(ctx context.Context, dataDir string) error
}

// ErrMaintenanceBusy: another offline step is already waiting to run.
var ErrMaintenanceBusy = errors.New("another maintenance step is already waiting")

// NewMaintenance returns a Maintenance for Options.Maintenance.
func NewMaintenance() *Maintenance {
	return &Maintenance{ch: make(chan offlineStep, 1)}
}

// Offline asks the appliance to stop its services, close the store, run
// step with the data folder (an absolute path) still locked, and start
// again. It returns at once: ErrMaintenanceBusy when another step waits;
// nil once the request is queued (the runner picks it up as soon as it
// serves). what names the step for people ("restoring backup"); by is who
// asked, for the log.
//
// step's ctx ends when the appliance is told to stop (SIGTERM): it should
// then return soon, and the appliance does not start again. An error it
// returns is logged and shown as the problem after the new start; the box
// starts again either way, so a step must leave the data folder usable
// whether it fails or not.
func (m *Maintenance) Offline(what, by string, step func(ctx context.Context, dataDir string) error) error {
	select {
	case m.ch <- offlineStep{what: what, by: by, run: step}:
		return nil
	default:
		return ErrMaintenanceBusy
	}
}

// offlineStop ends a run so that its step runs once the store has closed.
// It is an error value only to travel through run's return path; run's
// own defer runs the step and RunOptions starts again.
type offlineStop struct {
	step offlineStep
	err  error // the step's, once it ran
}

func (o *offlineStop) Error() string { return "maintenance: " + o.step.what }

// runOffline runs the step of a run that ended for it: the store is
// closed, the data folder still locked. The phase says what happens.
func (r *runner) runOffline(ctx context.Context, dataDir string, o *offlineStop) {
	r.update(func(s *status.Snapshot) {
		s.Phase = status.PhaseMaintenance
		s.Maintenance = o.step.what
	})
	r.log.Warn("maintenance: services stopped, running the step", "step", o.step.what, "by", o.step.by)
	start := time.Now()
	if err := o.step.run(ctx, dataDir); err != nil {
		o.err = fmt.Errorf("%s failed: %w", o.step.what, err)
		r.log.Error("maintenance step failed", "step", o.step.what, "by", o.step.by, "err", err)
		return
	}
	r.log.Warn("maintenance step done; starting again", "step", o.step.what, "took", time.Since(start).Round(time.Millisecond))
}
