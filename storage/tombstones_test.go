package storage_test

import (
	"fmt"
	"slices"
	"testing"

	"postroom/storage/storagetest"
)

// TestPruneTombstones: pruning keeps the newest tombstones, raises the
// floor to the highest MODSEQ it dropped, is idempotent, and never drops
// below the floor twice; the store checks clean afterwards (storagetest
// runs Check at cleanup), the floor record included.
func TestPruneTombstones(t *testing.T) {
	st := storagetest.Open(t)
	a := storagetest.Account(t, st, "a@example.test")
	var uids []uint32
	for i := range 10 {
		dv := deliver(t, st, fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i), a.ID)
		uids = append(uids, dv[0].UID)
	}
	mb, err := st.Mailbox(a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	// Expunge 8 one at a time, noting each one's MODSEQ.
	var mods []uint64
	for _, u := range uids[:8] {
		if _, err := st.Expunge(a.ID, mb.ID, []uint32{u}); err != nil {
			t.Fatal(err)
		}
		m, err := st.Mailbox(a.ID, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		mods = append(mods, m.HighestModSeq)
	}
	if f, err := st.TombstoneFloor(a.ID, mb.ID); err != nil || f != 0 {
		t.Fatalf("floor before pruning = %d, %v; want 0", f, err)
	}
	if got, _ := st.Tombstones(a.ID, mb.ID, 0); !slices.Equal(got, uids[:8]) {
		t.Fatalf("tombstones = %v, want %v", got, uids[:8])
	}
	for _, c := range []struct {
		keep, pruned int
		floor        uint64
		left         []uint32
	}{
		{3, 5, mods[4], uids[5:8]},
		{3, 0, mods[4], uids[5:8]}, // again: nothing to do
		{5, 0, mods[4], uids[5:8]}, // a larger bound never lowers the floor
		{0, 3, mods[7], nil},
	} {
		floor, pruned, err := st.PruneTombstones(a.ID, mb.ID, c.keep)
		if err != nil {
			t.Fatal(err)
		}
		if floor != c.floor || pruned != c.pruned {
			t.Errorf("keep %d: floor %d, pruned %d; want %d, %d", c.keep, floor, pruned, c.floor, c.pruned)
		}
		if f, _ := st.TombstoneFloor(a.ID, mb.ID); f != c.floor {
			t.Errorf("keep %d: stored floor %d, want %d", c.keep, f, c.floor)
		}
		if got, _ := st.Tombstones(a.ID, mb.ID, 0); !slices.Equal(got, c.left) {
			t.Errorf("keep %d: tombstones %v, want %v", c.keep, got, c.left)
		}
	}
	// The mailbox still knows its two messages, and the next expunge
	// leaves a tombstone above the floor.
	if _, err := st.Expunge(a.ID, mb.ID, uids[8:9]); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Tombstones(a.ID, mb.ID, mods[7]); !slices.Equal(got, uids[8:9]) {
		t.Errorf("tombstones after the floor = %v, want %v", got, uids[8:9])
	}
}
