package imapstress

import (
	"fmt"
	"slices"
	"strings"
)

// msg is what a client was told of one message in its view. A message
// announced by EXISTS is unknown (uid 0) until a FETCH names its UID.
type msg struct {
	uid   uint32
	flags []string // nil until a FETCH FLAGS
	// own is the client's own keyword ($StressN), which no other client
	// touches: -1 not yet seen, else 0 or 1. Once seen, the server must
	// keep it as the client last stored it.
	own  int8
	size int64 // RFC822.SIZE, -1 until fetched
}

func (m *msg) has(flag string) bool {
	return slices.ContainsFunc(m.flags, func(f string) bool { return strings.EqualFold(f, flag) })
}

// view is the selected mailbox as the server has described it to this
// session (RFC 9051 7.4.1, 7.5.1): sequence numbers are positions in msgs.
type view struct {
	name     string
	readOnly bool
	msgs     []*msg
	flags    map[string]bool // keywords announced by FLAGS
	anyKw    bool            // PERMANENTFLAGS has \*: new keywords may be stored
}

// failure is one counted error: kind groups it in the report, detail is the
// first instance's words.
type failure struct {
	kind   string
	detail string
	// fatal failures leave the connection in a state the client cannot
	// trust (a broken stream or a view that disagrees with the server),
	// so it reconnects; others resynchronise by selecting again.
	fatal bool
	// allowed: a refusal the RFC permits here (see Result.Allowed).
	allowed bool
}

func (f *failure) Error() string { return f.kind + ": " + f.detail }

func inconsistent(kind, format string, args ...any) *failure {
	return &failure{kind: "inconsistent: " + kind, detail: fmt.Sprintf(format, args...), fatal: true}
}

func (v *view) known() []*msg {
	var out []*msg
	for _, m := range v.msgs {
		if m.uid != 0 {
			out = append(out, m)
		}
	}
	return out
}

func (v *view) byUID(uid uint32) (int, *msg) {
	for i, m := range v.msgs {
		if m.uid == uid {
			return i, m
		}
	}
	return -1, nil
}

func (v *view) unknown() int {
	n := 0
	for _, m := range v.msgs {
		if m.uid == 0 || m.flags == nil {
			n++
		}
	}
	return n
}

// exists applies "* n EXISTS": the count never falls without EXPUNGE.
func (v *view) exists(n uint32) error {
	if int(n) < len(v.msgs) {
		return inconsistent("exists-decreased", "EXISTS %d after %d messages with no EXPUNGE between", n, len(v.msgs))
	}
	for len(v.msgs) < int(n) {
		v.msgs = append(v.msgs, &msg{own: -1, size: -1})
	}
	return nil
}

// expunge applies "* n EXPUNGE": n must name a message of the view, and
// every later message moves down by one.
func (v *view) expunge(n uint32) (*msg, error) {
	if n == 0 || int(n) > len(v.msgs) {
		return nil, inconsistent("expunge-range", "EXPUNGE %d with %d messages in view", n, len(v.msgs))
	}
	m := v.msgs[n-1]
	v.msgs = slices.Delete(v.msgs, int(n-1), int(n))
	return m, nil
}

// setUID records the UID a FETCH gave for sequence number n: a known UID
// never changes, and UIDs ascend with sequence numbers (RFC 9051 2.3.1.1).
func (v *view) setUID(n int, uid uint32) error {
	m := v.msgs[n-1]
	if m.uid != 0 {
		if m.uid != uid {
			return inconsistent("uid-changed", "message %d had UID %d, now FETCH says UID %d", n, m.uid, uid)
		}
		return nil
	}
	if uid == 0 {
		return inconsistent("uid-zero", "FETCH %d gave UID 0", n)
	}
	for i := n - 2; i >= 0; i-- {
		if u := v.msgs[i].uid; u != 0 {
			if u >= uid {
				return inconsistent("uid-order", "message %d has UID %d but earlier message %d has UID %d", n, uid, i+1, u)
			}
			break
		}
	}
	for i := n; i < len(v.msgs); i++ {
		if u := v.msgs[i].uid; u != 0 {
			if u <= uid {
				return inconsistent("uid-order", "message %d has UID %d but later message %d has UID %d", n, uid, i+1, u)
			}
			break
		}
	}
	m.uid = uid
	return nil
}

// seqSet writes sequence numbers or UIDs as an IMAP sequence set, runs
// joined by ':'.
func seqSet(ns []uint32) string {
	ns = slices.Clone(ns)
	slices.Sort(ns)
	ns = slices.Compact(ns)
	var b strings.Builder
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if i == j {
			fmt.Fprintf(&b, "%d", ns[i])
		} else {
			fmt.Fprintf(&b, "%d:%d", ns[i], ns[j])
		}
		i = j + 1
	}
	return b.String()
}

// parseSet reads a sequence set without '*' (as in COPYUID) in its order.
func parseSet(s string) ([]uint32, error) {
	var out []uint32
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, ok := atoi(lo)
		if !ok {
			return nil, fmt.Errorf("bad set %q", s)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		b, ok := atoi(hi)
		if d := int64(b) - int64(a); !ok || d > 100000 || d < -100000 {
			return nil, fmt.Errorf("bad set %q", s)
		}
		if a <= b {
			for u := a; u <= b; u++ {
				out = append(out, u)
			}
		} else {
			for u := a; u >= b; u-- {
				out = append(out, u)
			}
		}
	}
	return out, nil
}

func atoi(s string) (uint32, bool) {
	return val{kind: 'a', s: s}.num()
}
