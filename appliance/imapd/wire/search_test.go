package wire

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestParseSearch(t *testing.T) {
	deep := "SEARCH " + strings.Repeat("NOT ", 70) + "ALL"
	for _, tc := range []struct {
		line string
		want *Search
		bad  string
	}{
		{line: "SEARCH ALL", want: &Search{}},
		{line: "SEARCH ANSWERED UNANSWERED DELETED UNDELETED DRAFT UNDRAFT FLAGGED UNFLAGGED SEEN UNSEEN",
			want: &Search{Criteria: imap.SearchCriteria{
				Flag:    []imap.Flag{imap.FlagAnswered, imap.FlagDeleted, imap.FlagDraft, imap.FlagFlagged, imap.FlagSeen},
				NotFlag: []imap.Flag{imap.FlagAnswered, imap.FlagDeleted, imap.FlagDraft, imap.FlagFlagged, imap.FlagSeen}}}},
		{line: "SEARCH NEW OLD RECENT", want: &Search{Criteria: imap.SearchCriteria{
			Flag: []imap.Flag{FlagRecent, FlagRecent}, NotFlag: []imap.Flag{imap.FlagSeen, FlagRecent}}}},
		{line: "SEARCH KEYWORD $Junk UNKEYWORD work", want: &Search{Criteria: imap.SearchCriteria{
			Flag: []imap.Flag{"$Junk"}, NotFlag: []imap.Flag{"work"}}}},
		{line: `SEARCH FROM alice TO "Bob B" CC {3}` + "\r\ncar BCC d SUBJECT e HEADER X-Spam yes",
			want: &Search{Criteria: imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{
				{Key: "From", Value: "alice"}, {Key: "To", Value: "Bob B"}, {Key: "Cc", Value: "car"},
				{Key: "Bcc", Value: "d"}, {Key: "Subject", Value: "e"}, {Key: "X-Spam", Value: "yes"}}}}},
		{line: `SEARCH BODY x TEXT "y z"`, want: &Search{Criteria: imap.SearchCriteria{Body: []string{"x"}, Text: []string{"y z"}}}},
		{line: `SEARCH SINCE 1-Feb-2026 BEFORE "10-feb-2026" SENTSINCE 2-Mar-2026 SENTBEFORE 5-Mar-2026`,
			want: &Search{Criteria: imap.SearchCriteria{Since: day(2026, 2, 1), Before: day(2026, 2, 10),
				SentSince: day(2026, 3, 2), SentBefore: day(2026, 3, 5)}}},
		{line: "SEARCH ON 28-Feb-2026 SENTON 31-Dec-2026", want: &Search{Criteria: imap.SearchCriteria{
			Since: day(2026, 2, 28), Before: day(2026, 3, 1), SentSince: day(2026, 12, 31), SentBefore: day(2027, 1, 1)}}},
		{line: "SEARCH SINCE 1-Jan-2026 SINCE 5-Jan-2026 BEFORE 9-Jan-2026 BEFORE 7-Jan-2026",
			want: &Search{Criteria: imap.SearchCriteria{Since: day(2026, 1, 5), Before: day(2026, 1, 7)}}},
		{line: "SEARCH LARGER 100 LARGER 50 SMALLER 500 SMALLER 900", want: &Search{Criteria: imap.SearchCriteria{Larger: 100, Smaller: 500}}},
		{line: "SEARCH SMALLER 0", want: &Search{Criteria: imap.SearchCriteria{Not: []imap.SearchCriteria{{}}}}},
		{line: "SEARCH 1:5,7 UID 9:*", want: &Search{Criteria: imap.SearchCriteria{
			SeqNum: []imap.SeqSet{{{Start: 1, Stop: 5}, {Start: 7, Stop: 7}}}, UID: []imap.UIDSet{{{Start: 9, Stop: 0}}}}}},
		{line: "SEARCH $", want: &Search{Criteria: imap.SearchCriteria{UID: []imap.UIDSet{imap.SearchRes()}}}},
		{line: "SEARCH NOT SEEN OR FLAGGED (DELETED DRAFT)", want: &Search{Criteria: imap.SearchCriteria{
			Not: []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagSeen}}},
			Or: [][2]imap.SearchCriteria{{{Flag: []imap.Flag{imap.FlagFlagged}},
				{Flag: []imap.Flag{imap.FlagDeleted, imap.FlagDraft}}}}}}},
		{line: "SEARCH OR OR SEEN DRAFT NOT 3", want: &Search{Criteria: imap.SearchCriteria{
			Or: [][2]imap.SearchCriteria{{
				{Or: [][2]imap.SearchCriteria{{{Flag: []imap.Flag{imap.FlagSeen}}, {Flag: []imap.Flag{imap.FlagDraft}}}}},
				{Not: []imap.SearchCriteria{{SeqNum: []imap.SeqSet{imap.SeqSetNum(3)}}}}}}}}},
		{line: "SEARCH MODSEQ 620162338", want: &Search{Criteria: imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: 620162338}}}},
		{line: `SEARCH MODSEQ "/flags/\\draft" all 620162338`, want: &Search{Criteria: imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{
			ModSeq: 620162338, MetadataName: `/flags/\draft`, MetadataType: imap.SearchCriteriaMetadataAll}}}},
		{line: "SEARCH CHARSET utf-8 SUBJECT \"Gr\xc3\xbc\xc3\x9fe\"", want: &Search{Charset: "UTF-8", Criteria: imap.SearchCriteria{
			Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "Gr\xc3\xbc\xc3\x9fe"}}}}},
		{line: "SEARCH RETURN () ALL", want: &Search{Return: SearchReturn{ESearch: true, SearchOptions: imap.SearchOptions{ReturnAll: true}}}},
		{line: "UID SEARCH RETURN (MIN MAX COUNT SAVE) CHARSET US-ASCII SEEN", want: &Search{Charset: "US-ASCII",
			Return:   SearchReturn{ESearch: true, SearchOptions: imap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true, ReturnSave: true}},
			Criteria: imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}}},
		{line: "SEARCH RETURN (PARTIAL -1:-100 COUNT) ALL", want: &Search{Return: SearchReturn{ESearch: true,
			SearchOptions: imap.SearchOptions{ReturnCount: true}, Partial: &PartialRange{Low: 1, High: 100, FromEnd: true}}}},
		{line: "SEARCH RETURN (PARTIAL 50:1 CONTEXT UPDATE) ALL", want: &Search{Return: SearchReturn{ESearch: true,
			Partial: &PartialRange{Low: 1, High: 50}, Context: true, Update: true}}},

		{line: "SEARCH", bad: "BAD Missing search key"},
		{line: "SEARCH CHARSET UTF-8", bad: "BAD Missing search key"},
		{line: "SEARCH FOO", bad: "BAD Unknown search key"},
		{line: "SEARCH FROM", bad: "BAD FROM needs an argument"},
		{line: "SEARCH FROM (a)", bad: "BAD Invalid FROM argument"},
		{line: "SEARCH HEADER X", bad: "BAD HEADER needs an argument"},
		{line: "SEARCH SINCE 1-Foo-2026", bad: "BAD Invalid date"},
		{line: "SEARCH SINCE 31-Feb-2026", bad: "BAD Invalid date"},
		{line: "SEARCH SINCE 2026-02-01", bad: "BAD Invalid date"},
		{line: "SEARCH LARGER x", bad: "BAD Invalid size"},
		{line: "SEARCH LARGER -1", bad: "BAD Invalid size"},
		{line: "SEARCH UID x", bad: "BAD Invalid sequence set"},
		{line: "SEARCH 0", bad: "BAD Invalid sequence set"},
		{line: "SEARCH NOT", bad: "BAD NOT needs a search key"},
		{line: "SEARCH OR SEEN", bad: "BAD OR needs two search keys"},
		{line: "SEARCH ()", bad: "BAD Empty search key list"},
		{line: `SEARCH "SEEN"`, bad: "BAD Invalid search key"},
		{line: `SEARCH KEYWORD \Seen`, bad: "BAD Invalid keyword"},
		{line: `SEARCH KEYWORD "a b"`, bad: "BAD Invalid keyword"},
		{line: "SEARCH MODSEQ x", bad: "BAD Invalid MODSEQ value"},
		{line: `SEARCH MODSEQ "/other/x" all 5`, bad: "BAD Invalid MODSEQ entry name"},
		{line: `SEARCH MODSEQ "/flags/x" some 5`, bad: "BAD Invalid MODSEQ entry type"},
		{line: "SEARCH RETURN ALL", bad: "BAD RETURN needs a list of options"},
		{line: "SEARCH RETURN (FOO) ALL", bad: "BAD Unknown RETURN option"},
		{line: "SEARCH RETURN (PARTIAL 1:-5) ALL", bad: "BAD Invalid PARTIAL range"},
		{line: "SEARCH RETURN (PARTIAL 0:5) ALL", bad: "BAD Invalid PARTIAL range"},
		{line: "SEARCH RETURN (PARTIAL) ALL", bad: "BAD PARTIAL needs a range"},
		{line: "SEARCH RETURN (PARTIAL 1:5 ALL) ALL", bad: "BAD PARTIAL and ALL are exclusive"},
		{line: "SEARCH CHARSET", bad: "BAD CHARSET needs a charset"},
		{line: deep, bad: "BAD Search too deeply nested"},
	} {
		check(t, tc.line, ParseSearch, tc.want, tc.bad)
	}
}
