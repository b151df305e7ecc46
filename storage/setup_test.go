package storage_test

import (
	"testing"

	"postroom/storage"
	"postroom/storage/storagetest"
)

// TestSetupState: a new store knows no set-up; each state is kept.
func TestSetupState(t *testing.T) {
	st := storagetest.Open(t)
	if s, err := st.SetupState(); err != nil || s != storage.SetupUnknown {
		t.Fatalf("a new store: %d %v", s, err)
	}
	for _, want := range []storage.SetupState{storage.SetupWizard, storage.SetupDone, storage.SetupUnknown} {
		if err := st.SetSetupState(want); err != nil {
			t.Fatal(err)
		}
		if s, err := st.SetupState(); err != nil || s != want {
			t.Errorf("state %d %v, want %d", s, err, want)
		}
	}
	if err := st.SetSetupState(7); err == nil {
		t.Error("an unknown state was written")
	}
}
