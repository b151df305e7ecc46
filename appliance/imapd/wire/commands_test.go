package wire

import (
	"reflect"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func check[T any](t *testing.T, line string, parse func([]Node, bool) (T, error), want T, bad string) {
	t.Helper()
	t.Run(line, func(t *testing.T) {
		got, err := parseLine(t, line, parse)
		if bad != "" || err != nil {
			if badText(err) != bad {
				t.Fatalf("got %q, want %q", badText(err), bad)
			}
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got  %#v\nwant %#v", got, want)
		}
	})
}

func TestParseStore(t *testing.T) {
	for _, tc := range []struct {
		line string
		want *Store
		bad  string
	}{
		{line: `STORE 1:3 +FLAGS (\Seen \deleted $Junk)`, want: &Store{Set: imap.SeqSet{{Start: 1, Stop: 3}},
			Flags: imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen, imap.FlagDeleted, "$Junk"}}}},
		{line: `UID STORE 7 -flags.silent \Flagged work`, want: &Store{Set: imap.UIDSetNum(7),
			Flags: imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagFlagged, "work"}}}},
		{line: `STORE 1 FLAGS ()`, want: &Store{Set: imap.SeqSetNum(1), Flags: imap.StoreFlags{Op: imap.StoreFlagsSet, Flags: []imap.Flag{}}}},
		{line: `STORE 1 (UNCHANGEDSINCE 0) FLAGS.SILENT (\Seen)`, want: &Store{Set: imap.SeqSetNum(1), UnchangedSinceSet: true,
			Flags: imap.StoreFlags{Op: imap.StoreFlagsSet, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}}},
		{line: `STORE 1 (UNCHANGEDSINCE 320162338) +FLAGS (\Seen)`, want: &Store{Set: imap.SeqSetNum(1), UnchangedSinceSet: true,
			Options: imap.StoreOptions{UnchangedSince: 320162338},
			Flags:   imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}}},
		{line: `STORE 1 +FLAGS`, bad: "BAD STORE takes a sequence set, an item and flags"},
		{line: `STORE 1 +LABELS (a)`, bad: "BAD Unknown STORE item"},
		{line: `STORE 1 +FLAGS ("a")`, bad: "BAD Invalid flag"},
		{line: `STORE 1 +FLAGS (\)`, bad: "BAD Invalid flag"},
		{line: `STORE 1 +FLAGS (a] b)`, bad: "BAD Invalid flag"},
		{line: `STORE 1 (FOO 1) +FLAGS (a)`, bad: "BAD Unknown STORE modifier"},
		{line: `STORE 1 (UNCHANGEDSINCE x) +FLAGS (a)`, bad: "BAD Invalid UNCHANGEDSINCE mod-sequence"},
		{line: `STORE x +FLAGS (a)`, bad: "BAD Invalid sequence set"},
	} {
		check(t, tc.line, ParseStore, tc.want, tc.bad)
	}
}

func TestParseAppend(t *testing.T) {
	appendArgs := noUID(ParseAppend)
	lit := func(v string) Node { return Node{Kind: Literal, Value: v, Size: int64(len(v))} }
	when := time.Date(2026, 12, 6, 9, 5, 0, 0, time.FixedZone("", -(7*3600+30*60)))
	for _, tc := range []struct {
		line string
		want *Append
		bad  string
	}{
		{line: "APPEND inbox {5}\r\nhello", want: &Append{Mailbox: "INBOX", Messages: []AppendMessage{{Data: lit("hello")}}}},
		{line: "APPEND Sent (\\Seen) \" 6-Dec-2026 09:05:00 -0730\" {2}\r\nhi", want: &Append{Mailbox: "Sent",
			Messages: []AppendMessage{{Flags: []imap.Flag{imap.FlagSeen}, Time: when, Data: lit("hi")}}}},
		{line: "APPEND Sent \"06-Dec-2026 09:05:00 -0730\" ~{3}\r\na\x00b", want: &Append{Mailbox: "Sent",
			Messages: []AppendMessage{{Time: when, Data: Node{Kind: Literal, Value: "a\x00b", Size: 3, Binary: true}}}}},
		{line: "APPEND A () {1}\r\nx (\\Draft) {1}\r\ny {1}\r\nz", want: &Append{Mailbox: "A", Messages: []AppendMessage{
			{Flags: []imap.Flag{}, Data: lit("x")}, {Flags: []imap.Flag{imap.FlagDraft}, Data: lit("y")}, {Data: lit("z")}}}},
		{line: "APPEND A CATENATE (URL \"/Drafts;UIDVALIDITY=1/;UID=2\" TEXT {3}\r\nabc)", want: &Append{Mailbox: "A",
			Messages: []AppendMessage{{Catenate: []CatenatePart{{URL: "/Drafts;UIDVALIDITY=1/;UID=2"}, {Text: lit("abc")}}}}}},
		{line: "APPEND A UTF8 (~{2}\r\nhi)", want: &Append{Mailbox: "A",
			Messages: []AppendMessage{{UTF8: true, Data: Node{Kind: Literal, Value: "hi", Size: 2, Binary: true}}}}},
		{line: "APPEND A", bad: "BAD APPEND takes a mailbox and a message"},
		{line: "APPEND A (\\Seen)", bad: "BAD APPEND needs a message literal"},
		{line: `APPEND A "hello"`, bad: "BAD Invalid date-time"},
		{line: `APPEND A "6-Dec-2026 09:05:00 +0000" "x"`, bad: "BAD APPEND needs a message literal"},
		{line: `APPEND A "32-Dec-2026 09:05:00 +0000" {1}` + "\r\nx", bad: "BAD Invalid date-time"},
		{line: `APPEND A "6-Dec-2026 24:05:00 +0000" {1}` + "\r\nx", bad: "BAD Invalid date-time"},
		{line: `APPEND A "6-Dec-2026 09:05:00 0000" {1}` + "\r\nx", bad: "BAD Invalid date-time"},
		{line: `APPEND A ("x") {1}` + "\r\nx", bad: "BAD Invalid flag"},
		{line: `APPEND (a) {1}` + "\r\nx", bad: "BAD Invalid mailbox name"},
		{line: `APPEND A CATENATE ()`, bad: "BAD CATENATE needs a list of parts"},
		{line: `APPEND A CATENATE (TEXT "x")`, bad: "BAD Invalid CATENATE part"},
		{line: `APPEND A CATENATE (URL)`, bad: "BAD Invalid CATENATE part"},
		{line: `APPEND A CATENATE (URL "")`, bad: "BAD Invalid CATENATE URL"},
		{line: "APPEND A UTF8 ({1}\r\nx)", bad: "BAD UTF8 needs a literal8 in parentheses"},
	} {
		check(t, tc.line, appendArgs, tc.want, tc.bad)
	}
}

func TestParseSelect(t *testing.T) {
	for _, tc := range []struct {
		line string
		want *Select
		bad  string
	}{
		{line: "SELECT Inbox", want: &Select{Mailbox: "INBOX"}},
		{line: `SELECT "Sent Items" (CONDSTORE)`, want: &Select{Mailbox: "Sent Items", Options: imap.SelectOptions{CondStore: true}}},
		{line: "SELECT A (QRESYNC (67890007 20050715194045000 41,43:211,214:541))", want: &Select{Mailbox: "A",
			QResync: &QResync{UIDValidity: 67890007, ModSeq: 20050715194045000,
				KnownUIDs: imap.UIDSet{{Start: 41, Stop: 41}, {Start: 43, Stop: 211}, {Start: 214, Stop: 541}}}}},
		{line: "SELECT A (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))",
			want: &Select{Mailbox: "A", QResync: &QResync{UIDValidity: 67890007, ModSeq: 90060115194045000,
				KnownUIDs: imap.UIDSet{{Start: 1, Stop: 29997}},
				SeqMatch: &SeqMatch{Seqs: imap.SeqSet{{Start: 5000, Stop: 5000}, {Start: 7500, Stop: 7500}, {Start: 9000, Stop: 9000}, {Start: 9990, Stop: 9999}},
					UIDs: imap.UIDSet{{Start: 15000, Stop: 15000}, {Start: 22500, Stop: 22500}, {Start: 27000, Stop: 27000},
						{Start: 29970, Stop: 29970}, {Start: 29973, Stop: 29973}, {Start: 29976, Stop: 29976}, {Start: 29979, Stop: 29979},
						{Start: 29982, Stop: 29982}, {Start: 29985, Stop: 29985}, {Start: 29988, Stop: 29988}, {Start: 29991, Stop: 29991},
						{Start: 29994, Stop: 29994}, {Start: 29997, Stop: 29997}}}}}},
		{line: "SELECT A (QRESYNC (1 2) CONDSTORE)", want: &Select{Mailbox: "A", Options: imap.SelectOptions{CondStore: true},
			QResync: &QResync{UIDValidity: 1, ModSeq: 2}}},
		{line: "SELECT", bad: "BAD SELECT takes a mailbox and parameters"},
		{line: "SELECT A ()", bad: "BAD Invalid SELECT parameters"},
		{line: "SELECT A (FOO)", bad: "BAD Unknown SELECT parameter"},
		{line: "SELECT A (QRESYNC)", bad: "BAD Invalid QRESYNC parameters"},
		{line: "SELECT A (QRESYNC (0 2))", bad: "BAD Invalid QRESYNC parameters"},
		{line: "SELECT A (QRESYNC (1 0))", bad: "BAD Invalid QRESYNC parameters"},
		{line: "SELECT A (QRESYNC (1 2 1:*))", bad: "BAD Invalid QRESYNC parameters"},
		{line: "SELECT A (QRESYNC (1 2 1:5 (1:2)))", bad: "BAD Invalid QRESYNC parameters"},
		{line: "SELECT A (QRESYNC (1 2) QRESYNC (1 2))", bad: "BAD Invalid QRESYNC parameters"},
	} {
		check(t, tc.line, ParseSelect, tc.want, tc.bad)
	}
	got, err := parseLine(t, "EXAMINE A", ParseSelect)
	if err != nil || got.Options.ReadOnly {
		// The parse function gets uid=false; EXAMINE is the caller's flag.
		t.Fatal(got, err)
	}
	if s, _ := ParseSelect([]Node{{Kind: Atom, Value: "A"}}, true); !s.Options.ReadOnly {
		t.Error("examine not read-only")
	}
}

func TestParseList(t *testing.T) {
	list, lsub := noUID(ParseList), noUID(ParseLSub)
	for _, tc := range []struct {
		line string
		want *ListCmd
		bad  string
	}{
		{line: `LIST "" *`, want: &ListCmd{Patterns: []string{"*"}}},
		{line: `LIST ~/Mail/ %`, want: &ListCmd{Reference: "~/Mail/", Patterns: []string{"%"}}},
		{line: `LIST "" "a b/%"`, want: &ListCmd{Patterns: []string{"a b/%"}}},
		{line: `LIST "" a!#$&'+,-.:;<=>?@^_` + "`|}~]", want: &ListCmd{Patterns: []string{"a!#$&'+,-.:;<=>?@^_`|}~]"}}},
		{line: `LIST (SUBSCRIBED RECURSIVEMATCH) "" ("INBOX" Drafts %/x)`, want: &ListCmd{Extended: true,
			Patterns: []string{"INBOX", "Drafts", "%/x"},
			Options:  imap.ListOptions{SelectSubscribed: true, SelectRecursiveMatch: true}}},
		{line: `LIST () "" % RETURN (CHILDREN SUBSCRIBED SPECIAL-USE STATUS (MESSAGES UNSEEN))`, want: &ListCmd{Extended: true,
			Patterns: []string{"%"},
			Options: imap.ListOptions{ReturnChildren: true, ReturnSubscribed: true, ReturnSpecialUse: true,
				ReturnStatus: &imap.StatusOptions{NumMessages: true, NumUnseen: true}}}},
		{line: `LIST (SPECIAL-USE REMOTE) "" *`, want: &ListCmd{Extended: true, Patterns: []string{"*"},
			Options: imap.ListOptions{SelectSpecialUse: true, SelectRemote: true}}},
		{line: `LIST ""`, bad: "BAD LIST takes a reference and a pattern"},
		{line: `LIST (FOO) "" *`, bad: "BAD Unknown LIST selection option"},
		{line: `LIST (RECURSIVEMATCH) "" *`, bad: "BAD RECURSIVEMATCH needs another selection option"},
		{line: `LIST (REMOTE RECURSIVEMATCH) "" *`, bad: "BAD RECURSIVEMATCH needs another selection option"},
		{line: `LIST "" * RETURN (FOO)`, bad: "BAD Unknown LIST return option"},
		{line: `LIST "" * RETURN CHILDREN`, bad: "BAD Invalid LIST return options"},
		{line: `LIST "" * EXTRA (x)`, bad: "BAD Invalid LIST return options"},
		{line: `LIST "" * RETURN (STATUS)`, bad: "BAD STATUS needs a list of items"},
		{line: `LIST "" * RETURN (STATUS (FOO))`, bad: "BAD Unknown STATUS item"},
		{line: `LIST "" ()`, bad: "BAD Empty pattern list"},
		{line: `LIST "" a\b`, bad: "BAD Invalid mailbox pattern"},
		{line: `LIST a% *`, bad: "BAD Invalid reference name"},
	} {
		check(t, tc.line, list, tc.want, tc.bad)
	}
	check(t, `LSUB "" %`, lsub, &ListCmd{Patterns: []string{"%"}, Options: imap.ListOptions{SelectSubscribed: true}}, "")
	check(t, `LSUB (SUBSCRIBED) "" %`, lsub, nil, "BAD LSUB takes a reference and a pattern")
}

func TestParseStatus(t *testing.T) {
	status := noUID(ParseStatus)
	check(t, "STATUS inbox (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE APPENDLIMIT DELETED-STORAGE HIGHESTMODSEQ)", status,
		&StatusCmd{Mailbox: "INBOX", Options: imap.StatusOptions{NumMessages: true, NumRecent: true, UIDNext: true,
			UIDValidity: true, NumUnseen: true, NumDeleted: true, Size: true, AppendLimit: true, DeletedStorage: true, HighestModSeq: true}}, "")
	check(t, "STATUS A ()", status, nil, "BAD STATUS needs a list of items")
	check(t, "STATUS A MESSAGES", status, nil, "BAD STATUS needs a list of items")
	check(t, "STATUS A (FOO)", status, nil, "BAD Unknown STATUS item")
	check(t, "STATUS A", status, nil, "BAD STATUS takes a mailbox and a list of items")
}

func TestNodeHelpers(t *testing.T) {
	cmd, err := args(t, `t X NIL "nil" {2}`+"\r\nab"+` 42 4294967296 \SEEN $Fwd a%`)
	if err != nil {
		t.Fatal(err)
	}
	a := cmd.Args
	if s, ok := a[0].AString(); !ok || s != "NIL" {
		t.Errorf("NIL as astring: %q %v", s, ok)
	}
	if _, isNil, ok := a[0].NString(); !isNil || !ok {
		t.Error("NIL as nstring")
	}
	if s, isNil, ok := a[1].NString(); isNil || !ok || s != "nil" {
		t.Error(`"nil" as nstring`)
	}
	if s, ok := a[2].AString(); !ok || s != "ab" {
		t.Error("literal astring")
	}
	if v, ok := a[3].Number(); !ok || v != 42 {
		t.Error("number")
	}
	if _, ok := a[4].Number(); ok {
		t.Error("number over 32 bits")
	}
	if v, ok := a[4].Number64(); !ok || v != 4294967296 {
		t.Error("number64")
	}
	if f, ok := a[5].Flag(); !ok || f != imap.FlagSeen {
		t.Errorf("flag %q", f)
	}
	if f, ok := a[6].Flag(); !ok || f != "$Fwd" {
		t.Errorf("keyword %q", f)
	}
	if _, ok := a[7].AString(); ok {
		t.Error("a% is not an astring")
	}
	if s, ok := a[7].ListMailbox(); !ok || s != "a%" {
		t.Error("a% is a list-mailbox")
	}
	if _, ok := (Node{Kind: Atom, Value: "9223372036854775808"}).Number64(); ok {
		t.Error("number64 over 63 bits")
	}
}
