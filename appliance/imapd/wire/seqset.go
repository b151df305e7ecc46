package wire

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// ParseNumSet parses a sequence-set (RFC 9051 9): comma-separated numbers
// and ranges, "*" for the last message, or "$" alone for the saved search
// result (RFC 5182), returned as imap.SearchRes(). uid picks an
// imap.UIDSet over an imap.SeqSet. Ranges come back as sent ("*" is 0,
// "5:2" stays reversed): the session resolves them against its view.
func ParseNumSet(s string, uid bool) (imap.NumSet, error) {
	if s == "$" {
		return imap.SearchRes(), nil
	}
	ranges, err := parseRanges(s, true)
	if err != nil {
		return nil, err
	}
	if uid {
		set := make(imap.UIDSet, len(ranges))
		for i, r := range ranges {
			set[i] = imap.UIDRange{Start: imap.UID(r[0]), Stop: imap.UID(r[1])}
		}
		return set, nil
	}
	set := make(imap.SeqSet, len(ranges))
	for i, r := range ranges {
		set[i] = imap.SeqRange{Start: r[0], Stop: r[1]}
	}
	return set, nil
}

// parseRanges parses seq-number / seq-range lists; star allows "*".
func parseRanges(s string, star bool) ([][2]uint32, error) {
	if s == "" {
		return nil, Bad("Invalid sequence set")
	}
	out := make([][2]uint32, 0, strings.Count(s, ",")+1)
	for s != "" {
		var item string
		if i := strings.IndexByte(s, ','); i >= 0 {
			item, s = s[:i], s[i+1:]
			if s == "" {
				return nil, Bad("Invalid sequence set")
			}
		} else {
			item, s = s, ""
		}
		a, b, isRange := strings.Cut(item, ":")
		lo, err := seqNumber(a, star)
		if err != nil {
			return nil, err
		}
		hi := lo
		if isRange {
			if hi, err = seqNumber(b, star); err != nil {
				return nil, err
			}
		}
		switch {
		case lo == 0:
			lo, hi = hi, 0
		case hi != 0 && hi < lo:
			lo, hi = hi, lo
		}
		out = append(out, [2]uint32{lo, hi})
	}
	return out, nil
}

func seqNumber(s string, star bool) (uint32, error) {
	if s == "*" && star {
		return 0, nil
	}
	v, ok := parseNZ(s)
	if !ok {
		return 0, Bad("Invalid sequence set")
	}
	return v, nil
}

// NumSet parses the node as a sequence set (see ParseNumSet).
func (n Node) NumSet(uid bool) (imap.NumSet, error) {
	if n.Kind != Atom {
		return nil, Bad("Invalid sequence set")
	}
	return ParseNumSet(n.Value, uid)
}

// uidSetNoStar parses a uid-set (RFC 4315): ranges without "*" or "$".
func uidSetNoStar(n Node) (imap.UIDSet, error) {
	if n.Kind != Atom {
		return nil, Bad("Invalid UID set")
	}
	ranges, err := parseRanges(n.Value, false)
	if err != nil {
		return nil, Bad("Invalid UID set")
	}
	set := make(imap.UIDSet, len(ranges))
	for i, r := range ranges {
		set[i] = imap.UIDRange{Start: imap.UID(r[0]), Stop: imap.UID(r[1])}
	}
	return set, nil
}
