package storage

import "testing"

// TestPrunesAt: an Expunge prunes its mailbox when its MODSEQs reach a
// multiple of pruneEvery, so pruning runs about once per pruneEvery
// changes of the account, however the expunges are batched.
func TestPrunesAt(t *testing.T) {
	for _, c := range []struct {
		lo, hi uint64
		want   bool
	}{
		{0, 0, false}, // nothing expunged
		{1, 1, false},
		{pruneEvery - 1, pruneEvery - 1, false},
		{pruneEvery, pruneEvery, true},
		{pruneEvery - 1, pruneEvery, true},
		{pruneEvery + 1, 2*pruneEvery - 1, false},
		{pruneEvery - 5, 3 * pruneEvery, true},
	} {
		if got := prunesAt(c.lo, c.hi); got != c.want {
			t.Errorf("prunesAt(%d, %d) = %v, want %v", c.lo, c.hi, got, c.want)
		}
	}
}
