package wire

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// typed runs the typed parser a command has, if any.
func typed(cmd *Command) (any, error) {
	switch cmd.Name {
	case "FETCH":
		return ParseFetch(cmd.Args, cmd.UID)
	case "SEARCH":
		return ParseSearch(cmd.Args, cmd.UID)
	case "STORE":
		return ParseStore(cmd.Args, cmd.UID)
	case "APPEND":
		return ParseAppend(cmd.Args)
	case "SELECT", "EXAMINE":
		return ParseSelect(cmd.Args, cmd.Name == "EXAMINE")
	case "LIST":
		return ParseList(cmd.Args)
	case "LSUB":
		return ParseLSub(cmd.Args)
	case "STATUS":
		return ParseStatus(cmd.Args)
	case "COPY", "MOVE":
		return ParseCopy(cmd.Args, cmd.UID)
	case "EXPUNGE":
		if len(cmd.Args) > 0 {
			return cmd.Args[0].NumSet(cmd.UID)
		}
	case "SORT":
		return ParseSort(cmd.Args, cmd.UID)
	case "THREAD":
		return ParseThread(cmd.Args, cmd.UID)
	case "LOGIN":
		u, _, err := ParseLogin(cmd.Args)
		return u, err
	case "AUTHENTICATE":
		return ParseAuthenticate(cmd.Args)
	case "ENABLE":
		return ParseEnable(cmd.Args)
	case "ID":
		return ParseID(cmd.Args)
	case "CREATE":
		return ParseCreate(cmd.Args)
	case "NOTIFY":
		return ParseNotify(cmd.Args)
	}
	return nil, nil
}

// The client commands of the RFCs' examples, as sent (a literal's bytes
// follow its line). Each must read and parse.
var rfcExamples = []string{
	// RFC 9051 6
	"a002 NOOP", "A023 LOGOUT", "a001 login SMITH SESAME", "A142 SELECT INBOX", "A932 EXAMINE blurdybloop",
	"A003 CREATE owatagusiam/", "A683 RENAME blurdybloop sarasoop", "A002 SUBSCRIBE #news.comp.mail.mime",
	`A101 LIST "" ""`, `A102 LIST #news.comp.mail.misc ""`, `A103 LIST /usr/staff/jones ""`, `A202 LIST ~/Mail/ %`,
	`A682 LIST "" *`, `A042 STATUS blurdybloop (UIDNEXT MESSAGES)`,
	"A003 APPEND saved-messages (\\Seen) {310}\r\n" + strings.Repeat("x", 310),
	`A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"`,
	`A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"`,
	`A284 SEARCH TEXT "string not in mailbox"`,
	"A285 SEARCH CHARSET UTF-8 TEXT {12}\r\n\xd0\x96\xd0\xb0\xd1\x80\xd0\xba\xd0\xbe\xd0\xb5",
	"A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])", `A003 STORE 2:4 +FLAGS (\Deleted)`,
	"A003 COPY 2:4 MEETING", "A999 UID FETCH 4827313:4828442 FLAGS", "a UID MOVE 42:69 foo",
	"A202 EXPUNGE", "A003 UID EXPUNGE 3000:3002", "a1 ENABLE IMAP4rev2", "A001 AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=",
	"a ENABLE UTF8=ACCEPT", "A341 CLOSE", "A342 UNSELECT", "a IDLE", "a1 NAMESPACE",
	// RFC 3501 6.4.4, 6.4.5
	`A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"`, "A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
	"a FETCH 1 (RFC822.HEADER RFC822.TEXT)", "a SEARCH NEW OLD RECENT", `a LSUB "#news." "comp.mail.*"`,
	// RFC 7162
	`a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\Deleted)`,
	"s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)", `a SEARCH MODSEQ "/flags/\\draft" all 620162338`,
	"a FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)", "a SELECT INBOX (CONDSTORE)", "A142 STATUS blurdybloop (HIGHESTMODSEQ)",
	"A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
	"A03 SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541))",
	"B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))",
	"t UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
	// RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE
	`A01 LIST "" % RETURN (CHILDREN)`, `A02 LIST (SUBSCRIBED RECURSIVEMATCH) "" % RETURN (CHILDREN)`,
	`A03 LIST (REMOTE) "" *`, `A04 LIST "" ("INBOX" "Drafts" "Sent/%")`,
	`A05 LIST (SUBSCRIBED REMOTE) "" * RETURN (CHILDREN)`, `A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))`,
	`t1 LIST (SPECIAL-USE) "" *`, `t3 LIST "" % RETURN (SPECIAL-USE)`,
	// RFC 3502 MULTIAPPEND
	"A003 APPEND saved-messages (\\Seen) {3}\r\nabc (\\Seen) \" 1-Jul-2002 22:35:00 -0700\" {2}\r\nde",
	// RFC 4469 CATENATE
	"A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER\" TEXT {4}\r\n\r\n\r\n URL \"/Drafts;UIDVALIDITY=385759045/;UID=30\")",
	// RFC 3516 BINARY
	"t3 UID FETCH 1 (BINARY.PEEK[2.3]<0.1024> BINARY.SIZE[2.3])", "A003 APPEND Drafts (\\Seen) ~{3}\r\na\x00b",
	// RFC 9394 PARTIAL, RFC 5267 CONTEXT, RFC 5182 SEARCHRES
	"A01 UID SEARCH RETURN (PARTIAL 1:500) UNDELETED UNKEYWORD $Junk", "A02 SEARCH RETURN (PARTIAL -1:-100) UNDELETED",
	"B01 UID SEARCH RETURN (CONTEXT UPDATE MIN MAX) UNDELETED", "A282 SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994",
	"A283 FETCH $ (UID INTERNALDATE FLAGS RFC822.SIZE)", "A284 SEARCH $ SMALLER 4096",
	// RFC 2971 ID, RFC 4978 COMPRESS, RFC 9208 QUOTA
	`a023 ID ("name" "sodr" "version" "19.34" "vendor" "Pink Floyd Music Limited")`, "a ID NIL",
	"a COMPRESS DEFLATE", `G0001 GETQUOTAROOT INBOX`, `G0002 GETQUOTA ""`,
	// RFC 5256 SORT, THREAD, RFC 5267 ESORT, RFC 6154 CREATE USE, RFC 4959 SASL-IR
	"A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994", "A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
	"A284 SORT (SUBJECT) US-ASCII OR FROM mark SENTBEFORE 1-Feb-2000", "A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000",
	"A284 THREAD REFERENCES US-ASCII TEXT \"gewp\"", "A301 UID SORT RETURN (COUNT MIN) (DATE) UTF-8 UNDELETED",
	`t1 CREATE "Important Messages" (USE (\Important))`, "a AUTHENTICATE PLAIN =",
	// RFC 5465 NOTIFY
	"a NOTIFY SET STATUS (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge)) (subtree Lists (MessageNew MessageExpunge MailboxName))",
	"a NOTIFY SET (selected (MessageExpunge MessageNew FlagChange)) (personal (MessageNew FlagChange MessageExpunge))",
	"a NOTIFY SET (mailboxes (INBOX Drafts) (MessageNew MessageExpunge)) (inboxes NONE)", "a NOTIFY NONE",
}

func TestRFCExamples(t *testing.T) {
	for _, ex := range rfcExamples {
		in := ex + "\r\n"
		s := readAll(t, in, Options{})
		if !errors.Is(s.fatal, io.EOF) || len(s.out) != 1 || strings.Contains(s.out[0], " BAD ") {
			t.Errorf("%q: read %q (%v)", ex, s.out, s.fatal)
			continue
		}
		cmd, err := NewReader(bufioReader(in), Options{Continue: func() error { return nil }}).ReadCommand()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := typed(cmd); err != nil {
			t.Errorf("%q: %v", ex, err)
		}
	}
}
