package wire

import (
	"reflect"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// parseLine reads "tag NAME args" and hands the arguments to parse.
func parseLine[T any](t *testing.T, line string, parse func([]Node, bool) (T, error)) (T, error) {
	t.Helper()
	cmd, err := args(t, "t "+line)
	if err != nil {
		var zero T
		t.Fatalf("reading %q: %v", line, err)
		return zero, err
	}
	return parse(cmd.Args, cmd.UID)
}

func badText(err error) string {
	if ce, ok := err.(*CommandError); ok {
		return string(ce.Status) + " " + ce.Text
	}
	if err == nil {
		return ""
	}
	return "not a CommandError: " + err.Error()
}

func TestParseFetch(t *testing.T) {
	body := func(s imap.FetchItemBodySection) []*imap.FetchItemBodySection {
		return []*imap.FetchItemBodySection{&s}
	}
	for _, tc := range []struct {
		line string
		want *Fetch
		bad  string
	}{
		{line: "FETCH 1:* FLAGS", want: &Fetch{Set: imap.SeqSet{{Start: 1, Stop: 0}}, Options: imap.FetchOptions{Flags: true}}},
		{line: "FETCH 2 ALL", want: &Fetch{Set: imap.SeqSetNum(2),
			Options: imap.FetchOptions{Flags: true, InternalDate: true, RFC822Size: true, Envelope: true}}},
		{line: "FETCH 2 fast", want: &Fetch{Set: imap.SeqSetNum(2),
			Options: imap.FetchOptions{Flags: true, InternalDate: true, RFC822Size: true}}},
		{line: "FETCH 2 FULL", want: &Fetch{Set: imap.SeqSetNum(2),
			Options: imap.FetchOptions{Flags: true, InternalDate: true, RFC822Size: true, Envelope: true,
				BodyStructure: &imap.FetchItemBodyStructure{}}}},
		{line: "UID FETCH 5:7 (FLAGS)", want: &Fetch{Set: imap.UIDSet{{Start: 5, Stop: 7}},
			Options: imap.FetchOptions{Flags: true, UID: true}}},
		{line: "FETCH 1 (UID ENVELOPE INTERNALDATE RFC822.SIZE BODY BODYSTRUCTURE MODSEQ)", want: &Fetch{Set: imap.SeqSetNum(1), BodyToo: true,
			Options: imap.FetchOptions{UID: true, Envelope: true, InternalDate: true, RFC822Size: true,
				BodyStructure: &imap.FetchItemBodyStructure{Extended: true}, ModSeq: true}}},
		{line: "FETCH 1 (BODY BODYSTRUCTURE)", want: &Fetch{Set: imap.SeqSetNum(1), BodyToo: true,
			Options: imap.FetchOptions{BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}}},
		{line: "FETCH 1 (BODYSTRUCTURE BODY)", want: &Fetch{Set: imap.SeqSetNum(1), BodyToo: true,
			Options: imap.FetchOptions{BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}}},
		{line: "FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT)", want: &Fetch{Set: imap.SeqSetNum(1),
			RFC822: true, RFC822Header: true, RFC822Text: true}},
		{line: "FETCH 1 BODY[]", want: &Fetch{Set: imap.SeqSetNum(1), Options: imap.FetchOptions{BodySection: body(imap.FetchItemBodySection{})}}},
		{line: "FETCH 1 BODY.PEEK[]<0.1024>", want: &Fetch{Set: imap.SeqSetNum(1), Options: imap.FetchOptions{BodySection: body(
			imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 0, Size: 1024}})}}},
		{line: "FETCH 1 body[1.2.HEADER]", want: &Fetch{Set: imap.SeqSetNum(1), Options: imap.FetchOptions{BodySection: body(
			imap.FetchItemBodySection{Part: []int{1, 2}, Specifier: imap.PartSpecifierHeader})}}},
		{line: "FETCH 1 BODY[3.TEXT]", want: &Fetch{Set: imap.SeqSetNum(1), Options: imap.FetchOptions{BodySection: body(
			imap.FetchItemBodySection{Part: []int{3}, Specifier: imap.PartSpecifierText})}}},
		{line: "FETCH 1 BODY[2.MIME]", want: &Fetch{Set: imap.SeqSetNum(1), Options: imap.FetchOptions{BodySection: body(
			imap.FetchItemBodySection{Part: []int{2}, Specifier: imap.PartSpecifierMIME})}}},
		{line: "FETCH 1 BODY[4]", want: &Fetch{Set: imap.SeqSetNum(1), Options: imap.FetchOptions{BodySection: body(
			imap.FetchItemBodySection{Part: []int{4}})}}},
		{line: `FETCH 1 BODY.PEEK[HEADER.FIELDS (From "Subject" {2}` + "\r\nTo)]", want: &Fetch{Set: imap.SeqSetNum(1),
			Options: imap.FetchOptions{BodySection: body(imap.FetchItemBodySection{Peek: true,
				Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"From", "Subject", "To"}})}}},
		{line: "FETCH 1 BODY[1.HEADER.FIELDS.NOT (X-A)]<10.20>", want: &Fetch{Set: imap.SeqSetNum(1),
			Options: imap.FetchOptions{BodySection: body(imap.FetchItemBodySection{Part: []int{1},
				Specifier: imap.PartSpecifierHeader, HeaderFieldsNot: []string{"X-A"},
				Partial: &imap.SectionPartial{Offset: 10, Size: 20}})}}},
		{line: "FETCH 1 (BINARY[1.2]<5.10> BINARY.PEEK[] BINARY.SIZE[3])", want: &Fetch{Set: imap.SeqSetNum(1),
			Options: imap.FetchOptions{
				BinarySection: []*imap.FetchItemBinarySection{
					{Part: []int{1, 2}, Partial: &imap.SectionPartial{Offset: 5, Size: 10}}, {Peek: true}},
				BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{3}}}}}},
		{line: "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)", want: &Fetch{Set: imap.UIDSet{{Start: 1, Stop: 0}},
			Options: imap.FetchOptions{Flags: true, UID: true, ModSeq: true, ChangedSince: 12345}, ChangedSinceSet: true, Vanished: true}},
		{line: "FETCH $ FLAGS", want: &Fetch{Set: imap.SearchRes(), Options: imap.FetchOptions{Flags: true}}},

		{line: "FETCH 1", bad: "BAD FETCH takes a sequence set, items and modifiers"},
		{line: "FETCH 0 FLAGS", bad: "BAD Invalid sequence set"},
		{line: "FETCH 1 (FLAGS FOO)", bad: "BAD Unknown FETCH item"},
		{line: "FETCH 1 ()", bad: "BAD Empty FETCH item list"},
		{line: "FETCH 1 (ALL)", bad: "BAD FETCH macro inside a list"},
		{line: `FETCH 1 "FLAGS"`, bad: "BAD Invalid FETCH item"},
		{line: "FETCH 1 BODY[MIME]", bad: "BAD MIME needs a section part"},
		{line: "FETCH 1 BODY[HEADER.FIELDS]", bad: "BAD Missing header list"},
		{line: "FETCH 1 BODY[TEXT (A)]", bad: "BAD Header list without HEADER.FIELDS"},
		{line: "FETCH 1 BODY[HEADER.FIELDS (\"A:B\")]", bad: "BAD Invalid header field name"},
		{line: "FETCH 1 BODY[0]", bad: "BAD Invalid section"},
		{line: "FETCH 1 BODY[1.]", bad: "BAD Invalid section"},
		{line: "FETCH 1 BODY[1..2]", bad: "BAD Invalid section"},
		{line: "FETCH 1 BODY[FOO]", bad: "BAD Invalid section"},
		{line: "FETCH 1 BODY[]<5>", bad: "BAD Invalid partial"},
		{line: "FETCH 1 BODY[]<5.0>", bad: "BAD Invalid partial"},
		{line: "FETCH 1 BODY[]x", bad: "BAD Invalid partial"},
		{line: "FETCH 1 BINARY[1.TEXT]", bad: "BAD Invalid BINARY section"},
		{line: "FETCH 1 BINARY.SIZE[1]<0.5>", bad: "BAD BINARY.SIZE takes no partial"},
		{line: "FETCH 1 RFC822[]", bad: "BAD Unknown FETCH item"},
		{line: "FETCH 1 FLAGS (CHANGEDSINCE 0)", bad: "BAD Invalid CHANGEDSINCE mod-sequence"},
		{line: "FETCH 1 FLAGS (CHANGEDSINCE)", bad: "BAD CHANGEDSINCE needs a mod-sequence"},
		{line: "FETCH 1 FLAGS (CHANGEDSINCE 5 VANISHED)", bad: "BAD VANISHED needs UID FETCH with CHANGEDSINCE"},
		{line: "UID FETCH 1 FLAGS (VANISHED)", bad: "BAD VANISHED needs UID FETCH with CHANGEDSINCE"},
		{line: "FETCH 1 FLAGS (FOO)", bad: "BAD Unknown FETCH modifier"},
		{line: "FETCH 1 FLAGS ()", bad: "BAD Invalid FETCH modifiers"},
	} {
		check(t, tc.line, ParseFetch, tc.want, tc.bad)
	}
}

func TestParseNumSet(t *testing.T) {
	for _, tc := range []struct {
		in   string
		uid  bool
		want imap.NumSet
		bad  bool
	}{
		{in: "1", want: imap.SeqSet{{Start: 1, Stop: 1}}},
		{in: "1:3,5,7:*", want: imap.SeqSet{{Start: 1, Stop: 3}, {Start: 5, Stop: 5}, {Start: 7, Stop: 0}}},
		{in: "*:4", want: imap.SeqSet{{Start: 4, Stop: 0}}},
		{in: "9:2", uid: true, want: imap.UIDSet{{Start: 2, Stop: 9}}},
		{in: "*:*", want: imap.SeqSet{{Start: 0, Stop: 0}}},
		{in: "*", uid: true, want: imap.UIDSet{{Start: 0, Stop: 0}}},
		{in: "4294967295", want: imap.SeqSet{{Start: 4294967295, Stop: 4294967295}}},
		{in: "$", want: imap.SearchRes()},
		{in: "", bad: true}, {in: "0", bad: true}, {in: "01", bad: true}, {in: "1,", bad: true},
		{in: ",1", bad: true}, {in: "1:", bad: true}, {in: "1::2", bad: true}, {in: "4294967296", bad: true},
		{in: "$,1", bad: true}, {in: "1:$", bad: true}, {in: "a", bad: true}, {in: "-1", bad: true}, {in: "1:2:3", bad: true},
	} {
		got, err := ParseNumSet(tc.in, tc.uid)
		if tc.bad {
			if badText(err) != "BAD Invalid sequence set" {
				t.Errorf("%q: got %v, want BAD Invalid sequence set", tc.in, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) || imap.IsSearchRes(got) != imap.IsSearchRes(tc.want) {
			t.Errorf("%q: got %v %v, want %v", tc.in, got, err, tc.want)
		}
	}
}
