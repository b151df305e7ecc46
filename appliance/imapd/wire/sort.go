package wire

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Sort is a parsed SORT or UID SORT (RFC 5256 3, ESORT RFC 5267 3).
type Sort struct {
	// Return is ESORT's RETURN options; Return.ESearch says ESORT.
	Return   SearchReturn
	Criteria []SortCriterion
	// Charset is the mandatory charset in upper case.
	Charset string
	Search  imap.SearchCriteria
}

// SortCriterion is one sort key, upper case: ARRIVAL, CC, DATE, FROM,
// SIZE, SUBJECT, TO, and SORT=DISPLAY's DISPLAYFROM and DISPLAYTO.
type SortCriterion struct {
	Key     string
	Reverse bool
}

var sortKeys = map[string]bool{"ARRIVAL": true, "CC": true, "DATE": true, "FROM": true, "SIZE": true,
	"SUBJECT": true, "TO": true, "DISPLAYFROM": true, "DISPLAYTO": true}

// ParseSort parses [RETURN (...)] "(" sort-criterion *(SP ...) ")" SP
// charset 1*(SP search-key).
func ParseSort(args []Node, uid bool) (*Sort, error) {
	s := &Sort{}
	if len(args) > 0 && args[0].IsAtom("RETURN") {
		if len(args) < 2 || args[1].Kind != List {
			return nil, Bad("RETURN needs a list of options")
		}
		if err := s.Return.parse(args[1].List); err != nil {
			return nil, err
		}
		args = args[2:]
	}
	if len(args) < 3 || args[0].Kind != List || len(args[0].List) == 0 {
		return nil, Bad("SORT takes sort criteria, a charset and search keys")
	}
	l := args[0].List
	for i := 0; i < len(l); i++ {
		c := SortCriterion{}
		if l[i].IsAtom("REVERSE") {
			c.Reverse = true
			if i++; i >= len(l) {
				return nil, Bad("REVERSE needs a sort key")
			}
		}
		if l[i].Kind != Atom || !sortKeys[strings.ToUpper(l[i].Value)] {
			return nil, Bad("Unknown sort key")
		}
		c.Key = strings.ToUpper(l[i].Value)
		s.Criteria = append(s.Criteria, c)
	}
	cs, ok := args[1].AString()
	if !ok {
		return nil, Bad("Invalid charset")
	}
	s.Charset = strings.ToUpper(cs)
	c, err := searchKeys(args[2:], uid)
	if err != nil {
		return nil, err
	}
	s.Search = *c
	return s, nil
}

// Thread is a parsed THREAD or UID THREAD (RFC 5256 3).
type Thread struct {
	// Algorithm in upper case: ORDEREDSUBJECT, REFERENCES or another
	// the caller may refuse.
	Algorithm imap.ThreadAlgorithm
	Charset   string
	Search    imap.SearchCriteria
}

// ParseThread parses algorithm SP charset 1*(SP search-key).
func ParseThread(args []Node, uid bool) (*Thread, error) {
	if len(args) < 3 || args[0].Kind != Atom {
		return nil, Bad("THREAD takes an algorithm, a charset and search keys")
	}
	for i := range len(args[0].Value) {
		if !isAtomChar(args[0].Value[i]) {
			return nil, Bad("Invalid thread algorithm")
		}
	}
	cs, ok := args[1].AString()
	if !ok {
		return nil, Bad("Invalid charset")
	}
	c, err := searchKeys(args[2:], uid)
	if err != nil {
		return nil, err
	}
	return &Thread{Algorithm: imap.ThreadAlgorithm(strings.ToUpper(args[0].Value)),
		Charset: strings.ToUpper(cs), Search: *c}, nil
}
