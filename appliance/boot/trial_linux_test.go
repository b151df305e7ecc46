package boot

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"postroom/appliance/update"
)

// TestTrialCrashed: a trial root whose appliance crashes TrialCrashes
// times in a row is rolled back (cmdline.txt names the old root); fewer
// crashes, or a trial already kept, change nothing.
func TestTrialCrashed(t *testing.T) {
	cfg := Config{Console: io.Discard}
	log := slog.New(slog.DiscardHandler)
	rel := update.Release{Version: "2", Serial: 2, Arch: "arm64"}
	fresh := func() (UpdateEnv, update.DirBoot) {
		b := update.DirBoot(t.TempDir())
		b.WriteFile("cmdline.txt", []byte("root=PARTUUID=50727231-02 ro\n"))
		if err := update.BeginTrial(b, update.RootA, rel, rel, "", time.Now()); err != nil {
			t.Fatal(err)
		}
		return UpdateEnv{BootDir: string(b), Root: update.RootB, Trial: true}, b
	}
	env, b := fresh()
	if trialCrashed(cfg, env, Exit{Crashes: TrialCrashes - 1}, log) {
		t.Error("rolled back before TrialCrashes crashes")
	}
	if !trialCrashed(cfg, env, Exit{Crashes: TrialCrashes}, log) {
		t.Fatal("not rolled back after TrialCrashes crashes")
	}
	if part, _ := update.CmdlineRoot(b); part != update.RootA {
		t.Errorf("cmdline.txt names root %d", part)
	}
	st, _ := update.ReadState(b, update.RootA)
	if st.Last.Result != update.ResultRolledBack {
		t.Errorf("outcome %+v", st.Last)
	}

	env, b = fresh()
	if _, err := update.Keep(b, update.RootB, time.Now()); err != nil {
		t.Fatal(err)
	}
	if trialCrashed(cfg, env, Exit{Crashes: 5}, log) {
		t.Error("a kept update was rolled back for crashes after its self-test")
	}
}
