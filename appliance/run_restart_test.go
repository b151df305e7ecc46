package appliance

import (
	"context"
	"strings"
	"testing"
	"time"

	"postroom/appliance/admin"
	"postroom/appliance/update"
)

// TestRestartBox: box.restart on a box the init started goes through the
// update's reboot path (UpdateOptions.Reboot), after the answer; on a
// machine the init did not start (make run) it is refused in words and
// nothing is signalled.
func TestRestartBox(t *testing.T) {
	for _, tc := range []struct {
		name  string
		board bool
	}{{"board", true}, {"development", false}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := updateConfig(t)
			var u *UpdateOptions
			var rebooted chan struct{}
			if tc.board {
				b := newTestBox(t)
				u = b.options(update.RootA, v1, false)
				rebooted = b.rebooted
			}
			startBox(t, cfg, u)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := admin.Dial(ctx, admin.SocketPath(cfg.DataDir))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			res, err := admin.Call[admin.RestartResult](ctx, c, "test", admin.RestartBox{})
			if !tc.board {
				if admin.CodeOf(err) != admin.CodeConflict || !strings.Contains(err.Error(), "stop postroom and start it again") {
					t.Fatalf("development machine: got %v (%s), want a refusal saying to stop and start it", err, admin.CodeOf(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(res.Note, "nothing is lost") {
				t.Errorf("note %q does not say that no mail is lost", res.Note)
			}
			select {
			case <-rebooted:
			case <-ctx.Done():
				t.Fatal("the reboot function was not called")
			}
		})
	}
}
