package wire

import (
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Search is a parsed SEARCH or UID SEARCH (RFC 9051 6.4.4).
type Search struct {
	// Charset is the CHARSET argument in upper case, "" if none. Which
	// charsets exist (NO [BADCHARSET]) is the caller's call.
	Charset  string
	Return   SearchReturn
	Criteria imap.SearchCriteria
}

// SearchReturn holds the RETURN options (RFC 4731, RFC 5182, RFC 5267,
// RFC 9394).
type SearchReturn struct {
	// ESearch says RETURN was given: the answer is ESEARCH. "RETURN ()"
	// means ALL (RFC 4731 3.1).
	ESearch bool
	imap.SearchOptions
	// Partial is RETURN (PARTIAL n:m) (RFC 9394).
	Partial *PartialRange
	// Context and Update are RFC 5267's CONTEXT and UPDATE.
	Context, Update bool
}

// PartialRange is a PARTIAL range, Low <= High; FromEnd counts from the
// last result ("-1:-100" is the last 100).
type PartialRange struct {
	Low, High uint32
	FromEnd   bool
}

// maxSearchDepth bounds NOT/OR/parenthesis nesting in a SEARCH.
const maxSearchDepth = 64

// ParseSearch parses SEARCH's arguments: [RETURN (...)] [CHARSET astring]
// 1*search-key. Every RFC 9051 key is known, plus RFC 3501's NEW, OLD and
// RECENT (as \Recent flag tests) and RFC 7162's MODSEQ. Keys the go-imap
// type has no field for are put in its terms: ON d is SINCE d BEFORE d+1,
// NEW is \Recent and not \Seen, SMALLER 0 is NOT ALL, "$" is
// imap.SearchRes() in Criteria.UID.
func ParseSearch(args []Node, uid bool) (*Search, error) {
	s := &Search{}
	i := 0
	if i < len(args) && args[i].IsAtom("RETURN") {
		if i+1 >= len(args) || args[i+1].Kind != List {
			return nil, Bad("RETURN needs a list of options")
		}
		if err := s.Return.parse(args[i+1].List); err != nil {
			return nil, err
		}
		i += 2
	}
	if i < len(args) && args[i].IsAtom("CHARSET") {
		if i+1 >= len(args) {
			return nil, Bad("CHARSET needs a charset")
		}
		cs, ok := args[i+1].AString()
		if !ok {
			return nil, Bad("Invalid charset")
		}
		s.Charset = strings.ToUpper(cs)
		i += 2
	}
	c, err := searchKeys(args[i:], uid)
	if err != nil {
		return nil, err
	}
	s.Criteria = *c
	return s, nil
}

// searchKeys parses 1*search-key, ANDed.
func searchKeys(args []Node, uid bool) (*imap.SearchCriteria, error) {
	if len(args) == 0 {
		return nil, Bad("Missing search key")
	}
	c := &imap.SearchCriteria{}
	p := searchParser{args: args, uid: uid}
	for p.i < len(p.args) {
		if err := p.key(c, 0); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (r *SearchReturn) parse(opts []Node) error {
	r.ESearch = true
	if len(opts) == 0 {
		r.ReturnAll = true
		return nil
	}
	for i := 0; i < len(opts); i++ {
		o := opts[i]
		switch {
		case o.IsAtom("MIN"):
			r.ReturnMin = true
		case o.IsAtom("MAX"):
			r.ReturnMax = true
		case o.IsAtom("ALL"):
			r.ReturnAll = true
		case o.IsAtom("COUNT"):
			r.ReturnCount = true
		case o.IsAtom("SAVE"):
			r.ReturnSave = true
		case o.IsAtom("CONTEXT"):
			r.Context = true
		case o.IsAtom("UPDATE"):
			r.Update = true
		case o.IsAtom("PARTIAL"):
			if i+1 >= len(opts) {
				return Bad("PARTIAL needs a range")
			}
			i++
			pr, ok := parsePartialRange(opts[i])
			if !ok {
				return Bad("Invalid PARTIAL range")
			}
			r.Partial = pr
		default:
			return Bad("Unknown RETURN option")
		}
	}
	if r.Partial != nil && r.ReturnAll {
		return Bad("PARTIAL and ALL are exclusive") // RFC 9394 3.1
	}
	return nil
}

// parsePartialRange parses nz-number ":" nz-number or their "-" forms
// (RFC 9394 3.1).
func parsePartialRange(n Node) (*PartialRange, bool) {
	if n.Kind != Atom {
		return nil, false
	}
	a, b, ok := strings.Cut(n.Value, ":")
	if !ok {
		return nil, false
	}
	neg := strings.HasPrefix(a, "-")
	if neg != strings.HasPrefix(b, "-") {
		return nil, false
	}
	lo, ok1 := parseNZ(strings.TrimPrefix(a, "-"))
	hi, ok2 := parseNZ(strings.TrimPrefix(b, "-"))
	if !ok1 || !ok2 || (neg && (a[1:] == "" || b[1:] == "")) {
		return nil, false
	}
	return &PartialRange{Low: min(lo, hi), High: max(lo, hi), FromEnd: neg}, true
}

type searchParser struct {
	args []Node
	i    int
	uid  bool
}

func (p *searchParser) next(what string) (Node, error) {
	if p.i >= len(p.args) {
		return Node{}, Bad("%s needs an argument", what)
	}
	n := p.args[p.i]
	p.i++
	return n, nil
}

func (p *searchParser) astring(what string) (string, error) {
	n, err := p.next(what)
	if err != nil {
		return "", err
	}
	s, ok := n.AString()
	if !ok {
		return "", Bad("Invalid %s argument", what)
	}
	return s, nil
}

func (p *searchParser) date(what string) (time.Time, error) {
	n, err := p.next(what)
	if err != nil {
		return time.Time{}, err
	}
	t, ok := n.Date()
	if !ok {
		return time.Time{}, Bad("Invalid date")
	}
	return t, nil
}

// key parses one search-key into c (keys at one level are ANDed).
func (p *searchParser) key(c *imap.SearchCriteria, depth int) error {
	if depth > maxSearchDepth {
		return Bad("Search too deeply nested")
	}
	n := p.args[p.i]
	p.i++
	if n.Kind == List {
		if len(n.List) == 0 {
			return Bad("Empty search key list")
		}
		sub := searchParser{args: n.List, uid: p.uid}
		for sub.i < len(sub.args) {
			if err := sub.key(c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind != Atom || n.Value == "" {
		return Bad("Invalid search key")
	}
	if c0 := n.Value[0]; c0 >= '0' && c0 <= '9' || c0 == '*' || c0 == '$' {
		set, err := n.NumSet(false)
		if err != nil {
			return err
		}
		if imap.IsSearchRes(set) {
			c.UID = append(c.UID, imap.SearchRes())
		} else {
			c.SeqNum = append(c.SeqNum, set.(imap.SeqSet))
		}
		return nil
	}
	name := strings.ToUpper(n.Value)
	if f, ok := flagKeys[name]; ok {
		if f.not {
			c.NotFlag = append(c.NotFlag, f.flag)
		} else {
			c.Flag = append(c.Flag, f.flag)
		}
		return nil
	}
	switch name {
	case "ALL":
	case "NEW":
		c.Flag = append(c.Flag, FlagRecent)
		c.NotFlag = append(c.NotFlag, imap.FlagSeen)
	case "KEYWORD", "UNKEYWORD":
		n, err := p.next(name)
		if err != nil {
			return err
		}
		f, ok := n.Flag()
		if !ok || strings.HasPrefix(string(f), `\`) {
			return Bad("Invalid keyword")
		}
		if name == "KEYWORD" {
			c.Flag = append(c.Flag, f)
		} else {
			c.NotFlag = append(c.NotFlag, f)
		}
	case "BCC", "CC", "FROM", "SUBJECT", "TO":
		v, err := p.astring(name)
		if err != nil {
			return err
		}
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: headerName[name], Value: v})
	case "HEADER":
		k, err := p.astring(name)
		if err != nil {
			return err
		}
		v, err := p.astring(name)
		if err != nil {
			return err
		}
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: k, Value: v})
	case "BODY":
		v, err := p.astring(name)
		if err != nil {
			return err
		}
		c.Body = append(c.Body, v)
	case "TEXT":
		v, err := p.astring(name)
		if err != nil {
			return err
		}
		c.Text = append(c.Text, v)
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE":
		t, err := p.date(name)
		if err != nil {
			return err
		}
		dateKey(c, name, t)
	case "LARGER", "SMALLER":
		n, err := p.next(name)
		if err != nil {
			return err
		}
		v, ok := n.Number64()
		if !ok {
			return Bad("Invalid size")
		}
		if name == "LARGER" {
			c.Larger = max(c.Larger, int64(v))
		} else if v == 0 {
			c.Not = append(c.Not, imap.SearchCriteria{}) // nothing is smaller than 0
		} else if c.Smaller == 0 || int64(v) < c.Smaller {
			c.Smaller = int64(v)
		}
	case "UID":
		n, err := p.next(name)
		if err != nil {
			return err
		}
		set, err := n.NumSet(true)
		if err != nil {
			return err
		}
		c.UID = append(c.UID, set.(imap.UIDSet))
	case "NOT":
		if p.i >= len(p.args) {
			return Bad("NOT needs a search key")
		}
		var sub imap.SearchCriteria
		if err := p.key(&sub, depth+1); err != nil {
			return err
		}
		c.Not = append(c.Not, sub)
	case "OR":
		var pair [2]imap.SearchCriteria
		for k := range pair {
			if p.i >= len(p.args) {
				return Bad("OR needs two search keys")
			}
			if err := p.key(&pair[k], depth+1); err != nil {
				return err
			}
		}
		c.Or = append(c.Or, pair)
	case "MODSEQ":
		return p.modseq(c)
	default:
		return Bad("Unknown search key")
	}
	return nil
}

var headerName = map[string]string{"BCC": "Bcc", "CC": "Cc", "FROM": "From", "SUBJECT": "Subject", "TO": "To"}

type flagKey struct {
	flag imap.Flag
	not  bool
}

var flagKeys = map[string]flagKey{
	"ANSWERED": {imap.FlagAnswered, false}, "UNANSWERED": {imap.FlagAnswered, true},
	"DELETED": {imap.FlagDeleted, false}, "UNDELETED": {imap.FlagDeleted, true},
	"DRAFT": {imap.FlagDraft, false}, "UNDRAFT": {imap.FlagDraft, true},
	"FLAGGED": {imap.FlagFlagged, false}, "UNFLAGGED": {imap.FlagFlagged, true},
	"SEEN": {imap.FlagSeen, false}, "UNSEEN": {imap.FlagSeen, true},
	"RECENT": {FlagRecent, false}, "OLD": {FlagRecent, true},
}

// dateKey narrows c's date window; only the day counts (RFC 9051 6.4.4).
func dateKey(c *imap.SearchCriteria, name string, t time.Time) {
	later := func(cur *time.Time, t time.Time) {
		if cur.IsZero() || t.After(*cur) {
			*cur = t
		}
	}
	earlier := func(cur *time.Time, t time.Time) {
		if cur.IsZero() || t.Before(*cur) {
			*cur = t
		}
	}
	next := t.AddDate(0, 0, 1)
	switch name {
	case "SINCE":
		later(&c.Since, t)
	case "BEFORE":
		earlier(&c.Before, t)
	case "ON":
		later(&c.Since, t)
		earlier(&c.Before, next)
	case "SENTSINCE":
		later(&c.SentSince, t)
	case "SENTBEFORE":
		earlier(&c.SentBefore, t)
	case "SENTON":
		later(&c.SentSince, t)
		earlier(&c.SentBefore, next)
	}
}

// modseq parses "MODSEQ" [SP entry-name SP entry-type-req] SP
// mod-sequence-valzer (RFC 7162 3.1.5).
func (p *searchParser) modseq(c *imap.SearchCriteria) error {
	n, err := p.next("MODSEQ")
	if err != nil {
		return err
	}
	m := &imap.SearchCriteriaModSeq{}
	if n.Kind == Quoted {
		if !strings.HasPrefix(strings.ToLower(n.Value), "/flags/") || len(n.Value) == len("/flags/") {
			return Bad("Invalid MODSEQ entry name")
		}
		m.MetadataName = n.Value
		t, err := p.next("MODSEQ")
		if err != nil {
			return err
		}
		switch {
		case t.IsAtom("priv"):
			m.MetadataType = imap.SearchCriteriaMetadataPrivate
		case t.IsAtom("shared"):
			m.MetadataType = imap.SearchCriteriaMetadataShared
		case t.IsAtom("all"):
			m.MetadataType = imap.SearchCriteriaMetadataAll
		default:
			return Bad("Invalid MODSEQ entry type")
		}
		if n, err = p.next("MODSEQ"); err != nil {
			return err
		}
	}
	v, ok := n.Number64()
	if !ok {
		return Bad("Invalid MODSEQ value")
	}
	m.ModSeq = v
	if c.ModSeq != nil && c.ModSeq.ModSeq > v {
		m.ModSeq = c.ModSeq.ModSeq // both must hold: keep the larger floor
	}
	c.ModSeq = m
	return nil
}
