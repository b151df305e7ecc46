package update_test

import (
	"testing"
	"time"

	. "postroom/appliance/update"
	"postroom/appliance/update/updatetest"
)

func TestTrialOnFolder(t *testing.T) {
	updatetest.RunTrialCases(t, func(t *testing.T, cmdline string) BootFS {
		b := DirBoot(t.TempDir())
		if err := b.WriteFile("cmdline.txt", []byte(cmdline)); err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestSecondUpdateDuringTrialRefused(t *testing.T) {
	b := DirBoot(t.TempDir())
	b.WriteFile("cmdline.txt", []byte(updatetest.Cmdline))
	now := time.Unix(0, 0)
	rel := Release{Version: "2.0", Serial: 2, Arch: "arm64"}
	if err := BeginTrial(b, RootA, rel, rel, "", now); err != nil {
		t.Fatal(err)
	}
	if err := BeginTrial(b, RootB, rel, rel, "", now); err != ErrUpdateActive {
		t.Fatalf("got %v", err)
	}
}
