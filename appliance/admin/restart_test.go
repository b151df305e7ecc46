package admin

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestRestartBox: box.restart calls the runner's restart with the actor,
// answers its note and is in the audit log; a failure to ask is internal;
// without a runner's restart (a machine the init did not start) it is
// refused in words and nothing is called.
func TestRestartBox(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restart bool
		fail    error
		code    Code
		want    string // in the note or the error
		log     string
	}{
		{"restarts", true, nil, "", "restarts now", `msg="admin: asked the box to restart" by="tester (uid 1) via test" op=box.restart`},
		{"cannot ask", true, errors.New("no init"), CodeInternal, "restarting the box: no init", "admin: refused"},
		{"not started by the init", false, nil, CodeConflict, "stop postroom and start it again", "admin: refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var asked []Actor
			if tc.restart {
				e.a.o.Restart = func(by Actor) (string, error) {
					asked = append(asked, by)
					return "The box restarts now.", tc.fail
				}
			}
			res, err := Call[RestartResult](context.Background(), e.a, actor, RestartBox{})
			if tc.code == "" {
				if err != nil || !strings.Contains(res.Note, tc.want) || len(asked) != 1 || asked[0] != actor {
					t.Fatalf("got %+v %v, asked %v", res, err, asked)
				}
			} else if CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (%s), want %s: %q", err, CodeOf(err), tc.code, tc.want)
			}
			if !tc.restart && len(asked) != 0 {
				t.Fatal("restart called")
			}
			if !strings.Contains(e.log.String(), tc.log) {
				t.Errorf("log lacks %q:\n%s", tc.log, e.log)
			}
		})
	}
}
