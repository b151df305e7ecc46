package imapd

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkView compares a uidView with the plain list of UIDs it stands for.
func checkView(t *testing.T, v *uidView, want []uint32) {
	t.Helper()
	if v.Len() != uint32(len(want)) {
		t.Fatalf("Len %d, want %d", v.Len(), len(want))
	}
	var maxUID uint32
	if len(want) > 0 {
		maxUID = want[len(want)-1]
	}
	if v.Max() != maxUID {
		t.Fatalf("Max %d, want %d", v.Max(), maxUID)
	}
	for i, u := range want {
		seq := uint32(i + 1)
		if v.UID(seq) != u || v.Seq(u) != seq {
			t.Fatalf("seq %d: UID %d, Seq(%d) = %d; want UID %d", seq, v.UID(seq), u, v.Seq(u), u)
		}
	}
	if v.UID(0) != 0 || v.UID(v.Len()+1) != 0 || v.Seq(maxUID+1) != 0 {
		t.Fatal("out-of-range lookups must give 0")
	}
	var got []uint32
	v.eachSeqRange(1, v.Len(), func(seq, uid uint32) {
		if seq != uint32(len(got)+1) {
			t.Fatalf("eachSeqRange: seq %d out of order", seq)
		}
		got = append(got, uid)
	})
	if !slices.Equal(got, want) && len(want) > 0 {
		t.Fatalf("eachSeqRange gave %v, want %v", got, want)
	}
}

// FuzzUIDView runs random pushes and removals against a plain slice.
func FuzzUIDView(f *testing.F) {
	f.Add([]byte{1, 1, 1, 5, 1, 0x82, 0x80, 3})
	f.Add([]byte{10, 10, 10, 0x81, 0x81, 0x81, 2, 0x80})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, ops []byte) {
		v := newUIDView(nil)
		var model []uint32
		next := uint32(1)
		for _, op := range ops {
			if op&0x80 == 0 {
				next += uint32(op % 4) // gaps of 0..3
				v.push(next)
				model = append(model, next)
				next++
				continue
			}
			if len(model) == 0 {
				continue
			}
			// Remove every k-th message, k from the op, in one call.
			k := int(op&0x7f)%len(model) + 1
			var gone []uint32
			var keep []uint32
			for i, u := range model {
				if i%k == 0 {
					gone = append(gone, u)
				} else {
					keep = append(keep, u)
				}
			}
			var seqs []uint32
			v.remove(gone, func(seq uint32) { seqs = append(seqs, seq) })
			// Successive EXPUNGE numbers: each as of the moment before.
			for i, u := range gone {
				if want := uint32(slices.Index(model, u)+1) - uint32(i); seqs[i] != want {
					t.Fatalf("EXPUNGE %d for UID %d, want %d", seqs[i], u, want)
				}
			}
			model = keep
		}
		checkView(t, v, model)
		// UID ranges: every message with lo <= UID <= hi, in order.
		if len(model) > 0 {
			lo, hi := model[0]+1, model[len(model)-1]
			var got, want []uint32
			v.eachUIDRange(lo, hi, func(seq, uid uint32) {
				if v.UID(seq) != uid {
					t.Fatalf("eachUIDRange: seq %d is UID %d, not %d", seq, v.UID(seq), uid)
				}
				got = append(got, uid)
			})
			for _, u := range model {
				if u >= lo && u <= hi {
					want = append(want, u)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("eachUIDRange(%d,%d) = %v, want %v", lo, hi, got, want)
			}
		}
	})
}

// patternRegexp is the obvious, slow meaning of a LIST pattern.
func patternRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?s)^")
	for _, r := range p {
		switch r {
		case '*':
			b.WriteString(".*")
		case '%':
			b.WriteString("[^/]*")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func TestMatchPattern(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "a/b/c", true},
		{"%", "a/b", false},
		{"%", "a", true},
		{"a/%", "a/b", true},
		{"a/%", "a/b/c", false},
		{"a/*", "a/b/c", true},
		{"*c", "a/b/c", true},
		{"%c", "a/b/c", false},
		{"a%b", "axxb", true},
		{"a%b", "ax/xb", false},
		{"", "", true},
		{"", "a", false},
		{"Work/*/2026", "Work/Projects/2026", true},
	} {
		if got := matchPattern(c.pattern, c.name); got != c.want {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

// FuzzMatchPattern checks the linear matcher against regular expressions.
func FuzzMatchPattern(f *testing.F) {
	f.Add("*a*%b", "xa/yb")
	f.Add("%/%", "a/b")
	f.Add("INBOX*", "INBOX/x")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if len(pattern) > 64 || len(name) > 64 || !utf8.ValidString(pattern) || !utf8.ValidString(name) {
			return // regexp reads invalid UTF-8 as U+FFFD; mailbox names are valid
		}
		want := patternRegexp(pattern).MatchString(name)
		if got := matchPattern(pattern, name); got != want {
			t.Fatalf("matchPattern(%q, %q) = %v, regexp says %v", pattern, name, got, want)
		}
	})
}
