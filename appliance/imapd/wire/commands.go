package wire

import (
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Store is a parsed STORE or UID STORE (RFC 9051 6.4.6, RFC 7162 3.1.3).
type Store struct {
	Set   imap.NumSet
	Flags imap.StoreFlags
	// Options.UnchangedSince is valid when UnchangedSinceSet: 0 is a
	// real value there ("fail unless never changed").
	Options           imap.StoreOptions
	UnchangedSinceSet bool
}

// ParseStore parses sequence-set [SP store-modifiers] SP store-att-flags.
func ParseStore(args []Node, uid bool) (*Store, error) {
	if len(args) < 3 {
		return nil, Bad("STORE takes a sequence set, an item and flags")
	}
	set, err := args[0].NumSet(uid)
	if err != nil {
		return nil, err
	}
	s := &Store{Set: set}
	i := 1
	if args[i].Kind == List {
		mods := args[i].List
		if len(mods) != 2 || !mods[0].IsAtom("UNCHANGEDSINCE") {
			return nil, Bad("Unknown STORE modifier")
		}
		v, ok := mods[1].Number64()
		if !ok {
			return nil, Bad("Invalid UNCHANGEDSINCE mod-sequence")
		}
		s.Options.UnchangedSince, s.UnchangedSinceSet = v, true
		i++
	}
	if i+1 >= len(args) || args[i].Kind != Atom {
		return nil, Bad("STORE takes a sequence set, an item and flags")
	}
	item := strings.ToUpper(args[i].Value)
	switch {
	case strings.HasPrefix(item, "+"):
		s.Flags.Op, item = imap.StoreFlagsAdd, item[1:]
	case strings.HasPrefix(item, "-"):
		s.Flags.Op, item = imap.StoreFlagsDel, item[1:]
	default:
		s.Flags.Op = imap.StoreFlagsSet
	}
	switch item {
	case "FLAGS":
	case "FLAGS.SILENT":
		s.Flags.Silent = true
	default:
		return nil, Bad("Unknown STORE item")
	}
	rest := args[i+1:]
	if len(rest) == 1 && rest[0].Kind == List {
		if s.Flags.Flags, err = FlagList(rest[0]); err != nil {
			return nil, err
		}
	} else {
		for _, n := range rest {
			f, ok := n.Flag()
			if !ok {
				return nil, Bad("Invalid flag")
			}
			s.Flags.Flags = append(s.Flags.Flags, f)
		}
	}
	if s.Flags.Flags == nil {
		s.Flags.Flags = []imap.Flag{}
	}
	return s, nil
}

// Append is a parsed APPEND (RFC 9051 6.3.12) with MULTIAPPEND (RFC
// 3502), CATENATE (RFC 4469) and UTF8 (RFC 6855) messages.
type Append struct {
	Mailbox  string
	Messages []AppendMessage
}

// AppendMessage is one message of an APPEND.
type AppendMessage struct {
	Flags []imap.Flag
	Time  time.Time // zero when not given
	// Data is the message literal (Binary for literal8); zero Kind when
	// the message is a CATENATE.
	Data Node
	// UTF8 marks RFC 6855's UTF8 (literal8) form.
	UTF8     bool
	Catenate []CatenatePart
}

// CatenatePart is TEXT literal or URL astring (RFC 4469 5).
type CatenatePart struct {
	URL  string
	Text Node
}

// ParseAppend parses mailbox 1*(SP [flag-list SP] [date-time SP] data).
func ParseAppend(args []Node) (*Append, error) {
	if len(args) < 2 {
		return nil, Bad("APPEND takes a mailbox and a message")
	}
	mbox, err := args[0].Mailbox()
	if err != nil {
		return nil, err
	}
	a := &Append{Mailbox: mbox}
	for i := 1; i < len(args); {
		var m AppendMessage
		if args[i].Kind == List {
			if m.Flags, err = FlagList(args[i]); err != nil {
				return nil, err
			}
			i++
		}
		if i < len(args) && args[i].Kind == Quoted {
			t, ok := args[i].DateTime()
			if !ok {
				return nil, Bad("Invalid date-time")
			}
			m.Time = t
			i++
		}
		if i >= len(args) {
			return nil, Bad("APPEND needs a message literal")
		}
		switch d := args[i]; {
		case d.Kind == Literal:
			m.Data = d
			i++
		case d.IsAtom("CATENATE"):
			if i+1 >= len(args) || args[i+1].Kind != List || len(args[i+1].List) == 0 {
				return nil, Bad("CATENATE needs a list of parts")
			}
			if m.Catenate, err = catenateParts(args[i+1].List); err != nil {
				return nil, err
			}
			i += 2
		case d.IsAtom("UTF8"):
			if i+1 >= len(args) || args[i+1].Kind != List || len(args[i+1].List) != 1 ||
				args[i+1].List[0].Kind != Literal || !args[i+1].List[0].Binary {
				return nil, Bad("UTF8 needs a literal8 in parentheses")
			}
			m.Data, m.UTF8 = args[i+1].List[0], true
			i += 2
		default:
			return nil, Bad("APPEND needs a message literal")
		}
		a.Messages = append(a.Messages, m)
	}
	return a, nil
}

func catenateParts(list []Node) ([]CatenatePart, error) {
	var parts []CatenatePart
	for i := 0; i < len(list); i += 2 {
		if i+1 >= len(list) {
			return nil, Bad("Invalid CATENATE part")
		}
		switch k, v := list[i], list[i+1]; {
		case k.IsAtom("TEXT") && v.Kind == Literal:
			parts = append(parts, CatenatePart{Text: v})
		case k.IsAtom("URL"):
			u, ok := v.AString()
			if !ok || u == "" {
				return nil, Bad("Invalid CATENATE URL")
			}
			parts = append(parts, CatenatePart{URL: u})
		default:
			return nil, Bad("Invalid CATENATE part")
		}
	}
	return parts, nil
}

// Select is a parsed SELECT or EXAMINE (RFC 9051 6.3.2, RFC 7162 3.1.8
// and 3.2.5).
type Select struct {
	Mailbox string
	Options imap.SelectOptions
	QResync *QResync
}

// QResync holds SELECT's QRESYNC parameters.
type QResync struct {
	UIDValidity uint32
	ModSeq      uint64
	KnownUIDs   imap.UIDSet // nil when not given
	// SeqMatch pairs known sequence numbers with their UIDs; nil if absent.
	SeqMatch *SeqMatch
}

// SeqMatch is QRESYNC's seq-match-data.
type SeqMatch struct {
	Seqs imap.SeqSet
	UIDs imap.UIDSet
}

// ParseSelect parses mailbox [SP "(" select-param *(SP select-param) ")"].
func ParseSelect(args []Node, examine bool) (*Select, error) {
	if len(args) < 1 || len(args) > 2 {
		return nil, Bad("SELECT takes a mailbox and parameters")
	}
	mbox, err := args[0].Mailbox()
	if err != nil {
		return nil, err
	}
	s := &Select{Mailbox: mbox, Options: imap.SelectOptions{ReadOnly: examine}}
	if len(args) == 1 {
		return s, nil
	}
	if args[1].Kind != List || len(args[1].List) == 0 {
		return nil, Bad("Invalid SELECT parameters")
	}
	ps := args[1].List
	for i := 0; i < len(ps); i++ {
		switch {
		case ps[i].IsAtom("CONDSTORE"):
			s.Options.CondStore = true
		case ps[i].IsAtom("QRESYNC"):
			if i+1 >= len(ps) || ps[i+1].Kind != List || s.QResync != nil {
				return nil, Bad("Invalid QRESYNC parameters")
			}
			i++
			if s.QResync, err = parseQResync(ps[i].List); err != nil {
				return nil, err
			}
		default:
			return nil, Bad("Unknown SELECT parameter")
		}
	}
	return s, nil
}

// parseQResync parses uidvalidity SP mod-sequence-value [SP known-uids]
// [SP seq-match-data].
func parseQResync(l []Node) (*QResync, error) {
	bad := Bad("Invalid QRESYNC parameters")
	if len(l) < 2 || len(l) > 4 {
		return nil, bad
	}
	q := &QResync{}
	v, ok := l[0].Number()
	m, ok2 := l[1].Number64()
	if !ok || !ok2 || v == 0 || m == 0 {
		return nil, bad
	}
	q.UIDValidity, q.ModSeq = v, m
	rest := l[2:]
	if len(rest) > 0 && rest[0].Kind == Atom {
		set, err := uidSetNoStar(rest[0])
		if err != nil {
			return nil, bad
		}
		q.KnownUIDs = set
		rest = rest[1:]
	}
	if len(rest) > 0 {
		sm := rest[0]
		if sm.Kind != List || len(sm.List) != 2 || len(rest) != 1 {
			return nil, bad
		}
		seqs, err1 := uidSetNoStar(sm.List[0])
		uids, err2 := uidSetNoStar(sm.List[1])
		if err1 != nil || err2 != nil {
			return nil, bad
		}
		q.SeqMatch = &SeqMatch{UIDs: uids}
		for _, r := range seqs {
			q.SeqMatch.Seqs = append(q.SeqMatch.Seqs, imap.SeqRange{Start: uint32(r.Start), Stop: uint32(r.Stop)})
		}
	}
	return q, nil
}

// ListCmd is a parsed LIST (RFC 9051 6.3.9, LIST-EXTENDED RFC 5258,
// LIST-STATUS RFC 5819, SPECIAL-USE RFC 6154).
type ListCmd struct {
	Reference string
	Patterns  []string
	Options   imap.ListOptions
	// Extended says selection or return options, or several patterns,
	// were given: the answer follows RFC 5258 (CHILDINFO and so on).
	Extended bool
}

// ParseList parses [SP list-select-opts] SP mailbox SP mbox-or-pat
// [SP list-return-opts].
func ParseList(args []Node) (*ListCmd, error) {
	l := &ListCmd{}
	i := 0
	if len(args) > 0 && args[0].Kind == List {
		l.Extended = true
		if err := l.selectOpts(args[0].List); err != nil {
			return nil, err
		}
		i++
	}
	if len(args)-i < 2 {
		return nil, Bad("LIST takes a reference and a pattern")
	}
	ref, ok := args[i].AString()
	if !ok {
		return nil, Bad("Invalid reference name")
	}
	l.Reference = ref
	pat := args[i+1]
	if pat.Kind == List {
		if len(pat.List) == 0 {
			return nil, Bad("Empty pattern list")
		}
		l.Extended = true
		for _, p := range pat.List {
			s, ok := p.ListMailbox()
			if !ok {
				return nil, Bad("Invalid mailbox pattern")
			}
			l.Patterns = append(l.Patterns, s)
		}
	} else {
		s, ok := pat.ListMailbox()
		if !ok {
			return nil, Bad("Invalid mailbox pattern")
		}
		l.Patterns = []string{s}
	}
	i += 2
	if i < len(args) {
		if !args[i].IsAtom("RETURN") || i+2 != len(args) || args[i+1].Kind != List {
			return nil, Bad("Invalid LIST return options")
		}
		l.Extended = true
		if err := l.returnOpts(args[i+1].List); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *ListCmd) selectOpts(opts []Node) error {
	other := false
	for _, o := range opts {
		switch {
		case o.IsAtom("SUBSCRIBED"):
			l.Options.SelectSubscribed, other = true, true
		case o.IsAtom("REMOTE"):
			l.Options.SelectRemote = true
		case o.IsAtom("RECURSIVEMATCH"):
			l.Options.SelectRecursiveMatch = true
		case o.IsAtom("SPECIAL-USE"):
			l.Options.SelectSpecialUse, other = true, true
		default:
			return Bad("Unknown LIST selection option")
		}
	}
	if l.Options.SelectRecursiveMatch && !other {
		// RFC 5258 3.1: never alone, nor with REMOTE only.
		return Bad("RECURSIVEMATCH needs another selection option")
	}
	return nil
}

func (l *ListCmd) returnOpts(opts []Node) error {
	for i := 0; i < len(opts); i++ {
		switch o := opts[i]; {
		case o.IsAtom("SUBSCRIBED"):
			l.Options.ReturnSubscribed = true
		case o.IsAtom("CHILDREN"):
			l.Options.ReturnChildren = true
		case o.IsAtom("SPECIAL-USE"):
			l.Options.ReturnSpecialUse = true
		case o.IsAtom("STATUS"):
			if i+1 >= len(opts) || l.Options.ReturnStatus != nil {
				return Bad("STATUS needs a list of items")
			}
			i++
			so, err := statusItems(opts[i])
			if err != nil {
				return err
			}
			l.Options.ReturnStatus = so
		default:
			return Bad("Unknown LIST return option")
		}
	}
	return nil
}

// ParseLSub parses LSUB's reference and pattern (RFC 3501 6.3.9).
func ParseLSub(args []Node) (*ListCmd, error) {
	if len(args) != 2 || args[0].Kind == List || args[1].Kind == List {
		return nil, Bad("LSUB takes a reference and a pattern")
	}
	l, err := ParseList(args)
	if err != nil {
		return nil, err
	}
	l.Options.SelectSubscribed = true
	return l, nil
}

// StatusCmd is a parsed STATUS (RFC 9051 6.3.11).
type StatusCmd struct {
	Mailbox string
	Options imap.StatusOptions
}

// ParseStatus parses mailbox SP "(" status-att *(SP status-att) ")".
func ParseStatus(args []Node) (*StatusCmd, error) {
	if len(args) != 2 {
		return nil, Bad("STATUS takes a mailbox and a list of items")
	}
	mbox, err := args[0].Mailbox()
	if err != nil {
		return nil, err
	}
	o, err := statusItems(args[1])
	if err != nil {
		return nil, err
	}
	return &StatusCmd{Mailbox: mbox, Options: *o}, nil
}

func statusItems(n Node) (*imap.StatusOptions, error) {
	if n.Kind != List || len(n.List) == 0 {
		return nil, Bad("STATUS needs a list of items")
	}
	o := &imap.StatusOptions{}
	for _, it := range n.List {
		if it.Kind != Atom {
			return nil, Bad("Unknown STATUS item")
		}
		switch strings.ToUpper(it.Value) {
		case "MESSAGES":
			o.NumMessages = true
		case "RECENT":
			o.NumRecent = true
		case "UIDNEXT":
			o.UIDNext = true
		case "UIDVALIDITY":
			o.UIDValidity = true
		case "UNSEEN":
			o.NumUnseen = true
		case "DELETED":
			o.NumDeleted = true
		case "SIZE":
			o.Size = true
		case "APPENDLIMIT":
			o.AppendLimit = true
		case "DELETED-STORAGE":
			o.DeletedStorage = true
		case "HIGHESTMODSEQ":
			o.HighestModSeq = true
		default:
			return nil, Bad("Unknown STATUS item")
		}
	}
	return o, nil
}
