package wire

import (
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestParseSortThread(t *testing.T) {
	sortArgs := ParseSort
	check(t, "SORT (REVERSE ARRIVAL subject) utf-8 UNSEEN", sortArgs, &Sort{
		Criteria: []SortCriterion{{Key: "ARRIVAL", Reverse: true}, {Key: "SUBJECT"}}, Charset: "UTF-8",
		Search: imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}}, "")
	check(t, "UID SORT RETURN (MIN) (DATE) UTF-8 ALL", sortArgs, &Sort{
		Return:   SearchReturn{ESearch: true, SearchOptions: imap.SearchOptions{ReturnMin: true}},
		Criteria: []SortCriterion{{Key: "DATE"}}, Charset: "UTF-8"}, "")
	check(t, "SORT (DATE) UTF-8", sortArgs, nil, "BAD SORT takes sort criteria, a charset and search keys")
	check(t, "SORT () UTF-8 ALL", sortArgs, nil, "BAD SORT takes sort criteria, a charset and search keys")
	check(t, "SORT (REVERSE) UTF-8 ALL", sortArgs, nil, "BAD REVERSE needs a sort key")
	check(t, "SORT (COLOUR) UTF-8 ALL", sortArgs, nil, "BAD Unknown sort key")
	check(t, "SORT (DATE) (x) ALL", sortArgs, nil, "BAD Invalid charset")
	check(t, "SORT (DATE) UTF-8 FOO", sortArgs, nil, "BAD Unknown search key")
	check(t, "SORT RETURN (FOO) (DATE) UTF-8 ALL", sortArgs, nil, "BAD Unknown RETURN option")
	check(t, "THREAD references utf-8 ALL", ParseThread, &Thread{Algorithm: "REFERENCES", Charset: "UTF-8"}, "")
	check(t, "THREAD REFERENCES UTF-8", ParseThread, nil, "BAD THREAD takes an algorithm, a charset and search keys")
	check(t, `THREAD "REFERENCES" UTF-8 ALL`, ParseThread, nil, "BAD THREAD takes an algorithm, a charset and search keys")
	check(t, `THREAD a%b UTF-8 ALL`, ParseThread, nil, "BAD Invalid thread algorithm")
}

func TestParseSimple(t *testing.T) {
	check(t, "UID MOVE 1:* Trash", ParseCopy, &CopyCmd{Set: imap.UIDSet{{Start: 1, Stop: 0}}, Mailbox: "Trash"}, "")
	check(t, "COPY 1 inbox", ParseCopy, &CopyCmd{Set: imap.SeqSetNum(1), Mailbox: "INBOX"}, "")
	check(t, "COPY 1", ParseCopy, nil, "BAD Expected a sequence set and a mailbox")
	check(t, "COPY 1 (a)", ParseCopy, nil, "BAD Invalid mailbox name")

	auth := noUID(ParseAuthenticate)
	check(t, "AUTHENTICATE plain", auth, &Authenticate{Mechanism: "PLAIN"}, "")
	check(t, "AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==", auth, &Authenticate{Mechanism: "PLAIN", Initial: "AGFsaWNlAHNlY3JldA==", HasInitial: true}, "")
	check(t, "AUTHENTICATE PLAIN =", auth, &Authenticate{Mechanism: "PLAIN", Initial: "=", HasInitial: true}, "")
	check(t, "AUTHENTICATE PLAIN abc", auth, nil, "BAD Invalid initial response")
	check(t, "AUTHENTICATE PLAIN a=bc", auth, nil, "BAD Invalid initial response")
	check(t, `AUTHENTICATE "PLAIN"`, auth, nil, "BAD AUTHENTICATE takes a mechanism and an initial response")

	check(t, "ENABLE condstore QRESYNC", noUID(ParseEnable), []imap.Cap{"CONDSTORE", "QRESYNC"}, "")
	check(t, "ENABLE", noUID(ParseEnable), nil, "BAD ENABLE takes capability names")
	check(t, `ENABLE "X"`, noUID(ParseEnable), nil, "BAD Invalid capability name")

	id := noUID(ParseID)
	check(t, `ID ("name" "sodr" "version" NIL)`, id, map[string]string{"name": "sodr"}, "")
	check(t, `ID NIL`, id, map[string]string(nil), "")
	check(t, `ID ("name")`, id, nil, "BAD ID takes NIL or a list of pairs")
	check(t, `ID (NIL "x")`, id, nil, "BAD Invalid ID field")
	check(t, `ID name x`, id, nil, "BAD ID takes NIL or a list of pairs")

	create := noUID(ParseCreate)
	check(t, `CREATE Archive/2026 (USE (\archive \Important))`, create,
		&CreateCmd{Mailbox: "Archive/2026", Use: []imap.MailboxAttr{imap.MailboxAttrArchive, `\Important`}}, "")
	check(t, `CREATE x (USE (Junk))`, create, nil, "BAD Invalid special-use attribute")
	check(t, `CREATE x (FOO (\Junk))`, create, nil, "BAD Unknown CREATE parameter")

	login := func(a []Node, _ bool) ([2]string, error) {
		u, p, err := ParseLogin(a)
		return [2]string{u, p}, err
	}
	check(t, `LOGIN alice "pa ss"`, login, [2]string{"alice", "pa ss"}, "")
	check(t, `LOGIN alice`, login, [2]string{}, "BAD LOGIN takes a user name and a password")
	check(t, `LOGIN (a) b`, login, [2]string{}, "BAD Invalid user name or password")
}

func noUID[T any](f func([]Node) (T, error)) func([]Node, bool) (T, error) {
	return func(a []Node, _ bool) (T, error) { return f(a) }
}

func TestParseNotify(t *testing.T) {
	notify := noUID(ParseNotify)
	check(t, "NOTIFY NONE", notify, &Notify{None: true}, "")
	check(t, "NOTIFY SET STATUS (selected (messagenew (UID FLAGS) MessageExpunge)) (subtree (Lists inbox) (MailboxName)) (personal NONE)", notify,
		&Notify{Status: true, Groups: []NotifyGroup{
			{Filter: "selected", Events: []NotifyEvent{
				{Name: "MessageNew", Fetch: &Fetch{Options: imap.FetchOptions{UID: true, Flags: true}}}, {Name: "MessageExpunge"}}},
			{Filter: "subtree", Mailboxes: []string{"Lists", "INBOX"}, Events: []NotifyEvent{{Name: "MailboxName"}}},
			{Filter: "personal"}}}, "")
	check(t, "NOTIFY SET (mailboxes Sent (XEvent))", notify,
		&Notify{Groups: []NotifyGroup{{Filter: "mailboxes", Mailboxes: []string{"Sent"}, Events: []NotifyEvent{{Name: "XEvent"}}}}}, "")
	for line, bad := range map[string]string{
		"NOTIFY":                                                  "BAD NOTIFY takes NONE or SET",
		"NOTIFY NONE x":                                           "BAD NOTIFY takes NONE or SET",
		"NOTIFY SET STATUS":                                       "BAD NOTIFY SET needs an event group",
		"NOTIFY SET (selected)":                                   "BAD Invalid event group",
		"NOTIFY SET (somewhere (MailboxName))":                    "BAD Unknown mailbox filter",
		"NOTIFY SET (subtree (MailboxName))":                      "BAD Invalid event group",
		"NOTIFY SET (subtree () (MailboxName))":                   "BAD Invalid event group",
		"NOTIFY SET (selected ())":                                "BAD Invalid event group",
		"NOTIFY SET (selected (MessageNew))":                      "BAD MessageNew and MessageExpunge go together",
		"NOTIFY SET (selected (FlagChange))":                      "BAD MessageNew and MessageExpunge go together",
		"NOTIFY SET (personal (MessageNew (UID) MessageExpunge))": "BAD MessageNew fetch attributes need a selected filter",
		"NOTIFY SET (selected (MessageNew (FOO) MessageExpunge))": "BAD Unknown FETCH item",
		`NOTIFY SET (selected ("MessageNew"))`:                    "BAD Invalid event",
	} {
		check(t, line, notify, nil, bad)
	}
}
