package imapd

import (
	"sort"

	"postroom/storage"
)

// uidView is the selected mailbox as the client knows it: the UIDs its
// sequence numbers stand for (RFC 9051 2.3.1.2), ascending. It is stored as
// runs of consecutive UIDs, because a mailbox is mostly unbroken runs: a
// 100,000-message INBOX with a few hundred expunged messages is a few
// hundred runs, not 400 KB per idle client.
type uidView struct {
	runs []uidRun
	ends []uint32 // ends[i]: messages in runs[0..i], so the last is Len
}

type uidRun struct{ first, n uint32 }

func (r uidRun) last() uint32 { return r.first + r.n - 1 }

// newUIDView builds a view from ascending UIDs.
func newUIDView(uids []uint32) *uidView {
	v := &uidView{}
	for _, u := range uids {
		v.push(u)
	}
	return v
}

// newUIDViewRuns builds a view from ascending runs of UIDs, as storage's
// UID index gives them to SELECT.
func newUIDViewRuns(runs []storage.UIDRange) *uidView {
	v := &uidView{runs: make([]uidRun, 0, len(runs)), ends: make([]uint32, 0, len(runs))}
	for _, r := range runs {
		if k := len(v.runs); k > 0 && v.runs[k-1].last()+1 == r.First {
			v.runs[k-1].n += r.Last - r.First + 1
			v.ends[k-1] += r.Last - r.First + 1
			continue
		}
		v.runs = append(v.runs, uidRun{r.First, r.Last - r.First + 1})
		v.ends = append(v.ends, v.Len()+r.Last-r.First+1)
	}
	return v
}

// Len is the number of messages, the client's EXISTS.
func (v *uidView) Len() uint32 {
	if len(v.ends) == 0 {
		return 0
	}
	return v.ends[len(v.ends)-1]
}

// Max is the highest UID, 0 when empty.
func (v *uidView) Max() uint32 {
	if len(v.runs) == 0 {
		return 0
	}
	return v.runs[len(v.runs)-1].last()
}

// push appends a UID above Max.
func (v *uidView) push(uid uint32) {
	if k := len(v.runs); k > 0 && v.runs[k-1].last()+1 == uid {
		v.runs[k-1].n++
		v.ends[k-1]++
		return
	}
	v.runs = append(v.runs, uidRun{uid, 1})
	v.ends = append(v.ends, v.Len()+1)
}

// before is the number of messages in the runs before run i.
func (v *uidView) before(i int) uint32 {
	if i == 0 {
		return 0
	}
	return v.ends[i-1]
}

// UID returns the UID of sequence number seq (1-based), 0 if out of range.
func (v *uidView) UID(seq uint32) uint32 {
	if seq == 0 || seq > v.Len() {
		return 0
	}
	i := sort.Search(len(v.ends), func(i int) bool { return v.ends[i] >= seq })
	return v.runs[i].first + (seq - v.before(i) - 1)
}

// Seq returns the sequence number of uid, 0 if the view lacks it.
func (v *uidView) Seq(uid uint32) uint32 {
	i := v.runOf(uid)
	if i < 0 {
		return 0
	}
	return v.before(i) + uid - v.runs[i].first + 1
}

// runOf is the index of the run holding uid, or -1.
func (v *uidView) runOf(uid uint32) int {
	i := sort.Search(len(v.runs), func(i int) bool { return v.runs[i].last() >= uid })
	if i == len(v.runs) || v.runs[i].first > uid {
		return -1
	}
	return i
}

// eachUIDRange calls fn for every message with lo <= UID <= hi, ascending.
func (v *uidView) eachUIDRange(lo, hi uint32, fn func(seq, uid uint32)) {
	i := sort.Search(len(v.runs), func(i int) bool { return v.runs[i].last() >= lo })
	for ; i < len(v.runs) && v.runs[i].first <= hi; i++ {
		r := v.runs[i]
		a, b := max(r.first, lo), min(r.last(), hi)
		seq := v.before(i) + a - r.first + 1
		for u := a; ; u++ {
			fn(seq, u)
			seq++
			if u == b {
				break
			}
		}
	}
}

// eachSeqRange calls fn for sequence numbers lo..hi (within 1..Len).
func (v *uidView) eachSeqRange(lo, hi uint32, fn func(seq, uid uint32)) {
	hi = min(hi, v.Len())
	if lo == 0 || lo > hi {
		return
	}
	i := sort.Search(len(v.ends), func(i int) bool { return v.ends[i] >= lo })
	seq := lo
	for ; i < len(v.runs) && seq <= hi; i++ {
		r := v.runs[i]
		for u := r.first + (seq - v.before(i) - 1); u <= r.last() && seq <= hi; u++ {
			fn(seq, u)
			seq++
		}
	}
}

// remove takes the given UIDs (ascending, each in the view) out of the view
// in one pass, calling fn with each one's sequence number at the moment of
// its removal, as successive EXPUNGE responses must give it (RFC 9051
// 7.5.1: each EXPUNGE renumbers the messages after it).
func (v *uidView) remove(uids []uint32, fn func(seq uint32)) {
	if len(uids) == 0 {
		return
	}
	var runs []uidRun
	var removed uint32
	seqBase := uint32(0)
	k := 0
	for _, r := range v.runs {
		cur := r
		for k < len(uids) && uids[k] <= r.last() {
			u := uids[k]
			k++
			if u < cur.first {
				continue // not in the view: the caller's mistake, ignore
			}
			fn(seqBase + (u - r.first) + 1 - removed)
			removed++
			if u > cur.first {
				runs = append(runs, uidRun{cur.first, u - cur.first})
			}
			cur = uidRun{u + 1, cur.last() - u}
		}
		if cur.n > 0 {
			runs = append(runs, cur)
		}
		seqBase += r.n
	}
	v.runs = runs
	v.ends = v.ends[:0]
	var total uint32
	for _, r := range runs {
		total += r.n
		v.ends = append(v.ends, total)
	}
}
