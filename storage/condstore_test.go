package storage_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"postroom/storage"
	"postroom/storage/storagetest"
)

// TestSetFlagsUnchangedSince: a conditional STORE (RFC 7162 3.1.3) leaves
// a message changed since the given MODSEQ alone and names it; the MODSEQ
// is compared where the write happens, so of many writers racing with the
// same MODSEQ exactly one wins, on any schedule.
func TestSetFlagsUnchangedSince(t *testing.T) {
	st := storagetest.Open(t)
	a := storagetest.Account(t, st, "a@example.test")
	for i := 0; i < 3; i++ {
		deliver(t, st, fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i), a.ID)
	}
	in := inbox(t, st, a.ID)
	m1, err := st.Message(a.ID, in.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	since := m1.ModSeq
	// UID 2 changes after since: left alone, named; 1 and 3 change.
	if _, err := st.SetFlags(a.ID, in.ID, []uint32{2}, storage.FlagsAdd, storage.FlagDraft, nil); err != nil {
		t.Fatal(err)
	}
	m3, _ := st.Message(a.ID, in.ID, 3)
	since = max(since, m3.ModSeq)
	got, modified, err := st.SetFlagsUnchangedSince(a.ID, in.ID, []uint32{1, 2, 3, 99}, storage.FlagsAdd, storage.FlagFlagged, nil, since)
	if err != nil || !slices.Equal(modified, []uint32{2}) || len(got) != 2 || got[0].UID != 1 || got[1].UID != 3 {
		t.Fatalf("conditional store: %v, modified %v, changed %+v", err, modified, got)
	}
	if m2, _ := st.Message(a.ID, in.ID, 2); m2.Flags&storage.FlagFlagged != 0 {
		t.Errorf("the modified message was changed: %+v", m2)
	}
	// UNCHANGEDSINCE 0 fails for every message (RFC 7162 3.1.3).
	if got, modified, _ := st.SetFlagsUnchangedSince(a.ID, in.ID, []uint32{1, 2}, storage.FlagsAdd, storage.FlagSeen, nil, 0); len(got) != 0 || !slices.Equal(modified, []uint32{1, 2}) {
		t.Errorf("UNCHANGEDSINCE 0: changed %+v, modified %v", got, modified)
	}

	// Ten writers, one MODSEQ, each setting its own keyword.
	m1, _ = st.Message(a.ID, in.ID, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, modified, err := st.SetFlagsUnchangedSince(a.ID, in.ID, []uint32{1}, storage.FlagsAdd, 0, []string{fmt.Sprintf("$w%d", i)}, m1.ModSeq)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case len(got) == 1 && len(modified) == 0:
				wins++
			case len(got) == 0 && slices.Equal(modified, []uint32{1}):
			default:
				t.Errorf("writer %d: changed %+v, modified %v", i, got, modified)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d writers won the same MODSEQ; want 1", wins)
	}
	if m, _ := st.Message(a.ID, in.ID, 1); len(m.Keywords) != 1 {
		t.Errorf("keywords %v: want exactly the winner's", m.Keywords)
	}
}
