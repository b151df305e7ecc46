package wire

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// CopyCmd is a parsed COPY or MOVE (RFC 9051 6.4.7, 6.4.8).
type CopyCmd struct {
	Set     imap.NumSet
	Mailbox string
}

// ParseCopy parses sequence-set SP mailbox.
func ParseCopy(args []Node, uid bool) (*CopyCmd, error) {
	if len(args) != 2 {
		return nil, Bad("Expected a sequence set and a mailbox")
	}
	set, err := args[0].NumSet(uid)
	if err != nil {
		return nil, err
	}
	mbox, err := args[1].Mailbox()
	if err != nil {
		return nil, err
	}
	return &CopyCmd{Set: set, Mailbox: mbox}, nil
}

// ParseLogin parses LOGIN's userid SP password (RFC 9051 6.2.3).
func ParseLogin(args []Node) (user, pass string, err error) {
	if len(args) != 2 {
		return "", "", Bad("LOGIN takes a user name and a password")
	}
	user, ok1 := args[0].AString()
	pass, ok2 := args[1].AString()
	if !ok1 || !ok2 {
		return "", "", Bad("Invalid user name or password")
	}
	return user, pass, nil
}

// Authenticate is a parsed AUTHENTICATE (RFC 9051 6.2.2, SASL-IR RFC 4959).
type Authenticate struct {
	Mechanism string // upper case
	// Initial is the base64 initial response, still encoded; "=" is an
	// empty one. HasInitial says it was given.
	Initial    string
	HasInitial bool
}

// ParseAuthenticate parses auth-type [SP (base64 / "=")].
func ParseAuthenticate(args []Node) (*Authenticate, error) {
	if len(args) < 1 || len(args) > 2 || args[0].Kind != Atom {
		return nil, Bad("AUTHENTICATE takes a mechanism and an initial response")
	}
	a := &Authenticate{Mechanism: strings.ToUpper(args[0].Value)}
	if len(args) == 2 {
		v := args[1].Value
		if args[1].Kind != Atom || !isBase64(v) {
			return nil, Bad("Invalid initial response")
		}
		a.Initial, a.HasInitial = v, true
	}
	return a, nil
}

func isBase64(s string) bool {
	if s == "=" {
		return true
	}
	pad := 0
	for i := range len(s) {
		switch c := s[i]; {
		case c == '=':
			pad++
		case pad > 0:
			return false
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
		default:
			return false
		}
	}
	return s != "" && pad <= 2 && len(s)%4 == 0
}

// ParseEnable parses ENABLE's capability names (RFC 5161), upper case.
func ParseEnable(args []Node) ([]imap.Cap, error) {
	if len(args) == 0 {
		return nil, Bad("ENABLE takes capability names")
	}
	caps := make([]imap.Cap, len(args))
	for i, a := range args {
		if a.Kind != Atom {
			return nil, Bad("Invalid capability name")
		}
		caps[i] = imap.Cap(strings.ToUpper(a.Value))
	}
	return caps, nil
}

// ParseID parses ID's NIL or list of field-value pairs (RFC 2971 3.3);
// nil for NIL. Values may be NIL (absent from the map).
func ParseID(args []Node) (map[string]string, error) {
	if len(args) != 1 {
		return nil, Bad("ID takes NIL or a list of pairs")
	}
	if args[0].Kind == NIL {
		return nil, nil
	}
	l := args[0].List
	if args[0].Kind != List || len(l)%2 != 0 || len(l) > 60 {
		// RFC 2971 3.3: at most 30 pairs.
		return nil, Bad("ID takes NIL or a list of pairs")
	}
	out := make(map[string]string, len(l)/2)
	for i := 0; i < len(l); i += 2 {
		k, kNil, ok1 := l[i].NString()
		v, vNil, ok2 := l[i+1].NString()
		if !ok1 || !ok2 || kNil || len(k) > 30 || len(v) > 1024 {
			return nil, Bad("Invalid ID field")
		}
		if !vNil {
			out[k] = v
		}
	}
	return out, nil
}

// CreateCmd is a parsed CREATE, with SPECIAL-USE's USE (RFC 6154 3).
type CreateCmd struct {
	Mailbox string
	Use     []imap.MailboxAttr
}

// ParseCreate parses mailbox [SP "(" "USE" SP "(" use-attr *(SP ...) ")" ")"].
func ParseCreate(args []Node) (*CreateCmd, error) {
	if len(args) < 1 || len(args) > 2 {
		return nil, Bad("CREATE takes a mailbox and parameters")
	}
	mbox, err := args[0].Mailbox()
	if err != nil {
		return nil, err
	}
	c := &CreateCmd{Mailbox: mbox}
	if len(args) == 1 {
		return c, nil
	}
	p := args[1].List
	if args[1].Kind != List || len(p) != 2 || !p[0].IsAtom("USE") || p[1].Kind != List {
		return nil, Bad("Unknown CREATE parameter")
	}
	for _, u := range p[1].List {
		f, ok := u.Flag()
		if !ok || !strings.HasPrefix(string(f), `\`) {
			return nil, Bad("Invalid special-use attribute")
		}
		a := imap.MailboxAttr(f)
		for _, known := range specialUse {
			if strings.EqualFold(string(a), string(known)) {
				a = known
			}
		}
		c.Use = append(c.Use, a)
	}
	return c, nil
}

var specialUse = []imap.MailboxAttr{imap.MailboxAttrAll, imap.MailboxAttrArchive, imap.MailboxAttrDrafts,
	imap.MailboxAttrFlagged, imap.MailboxAttrJunk, imap.MailboxAttrSent, imap.MailboxAttrTrash}
