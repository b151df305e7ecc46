package admin

import "context"

// RestartBox restarts the box: the web page's "Restart the box" (after
// "Move the mail to this disk", whose copy the next start makes) and
// postroomctl restart. The runner does it (Options.Restart: the same
// reboot path an update uses, appliance/run_update.go), a moment after
// the answer so that it reaches the person who asked.
type RestartBox struct{}

func (RestartBox) OpName() string { return "box.restart" }

// RestartResult says what happens next, in words.
type RestartResult struct {
	Note string `json:"note"`
}

// notRestartable is the answer of a machine the init did not start (a
// developer's `make run`): its own init must never be signalled.
const notRestartable = "this machine is not a box started from its SD card, so it is not restarted from here: stop postroom and start it again"

// RestartBox asks the runner to restart the box, under the admin lock so
// that no change is half made when it goes down.
func (a *Admin) RestartBox(ctx context.Context, by Actor, req RestartBox) (RestartResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req RestartBox) (RestartResult, string, error) {
		if a.o.Restart == nil {
			return RestartResult{}, "", errorf(CodeConflict, "", "%s", notRestartable)
		}
		note, err := a.o.Restart(by)
		if err != nil {
			return RestartResult{}, "", internal("restarting the box", err)
		}
		return RestartResult{Note: note}, "asked the box to restart", nil
	})
}
