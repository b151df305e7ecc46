// Package wire is the wire layer of Postroom's own IMAP engine (issue
// #11): reading commands, parsing their arguments into typed values and
// writing responses, written from RFC 9051, RFC 3501 and each
// extension's RFC. It knows nothing of sessions, mailboxes or storage:
// appliance/imapd is the engine built on it.
//
// # Reading
//
// Reader.ReadCommand reads one command from a bufio.Reader: tag, name
// ("UID FETCH" is Name FETCH with UID set) and arguments as Nodes: atoms,
// NIL, quoted strings (escapes removed), literals ({n}, {n+}, ~{n},
// ~{n+}: RFC 9051 4.3, RFC 7888, RFC 3516) and parenthesised lists.
// Bytes over 0x7F in atoms and quoted strings are passed through: whether
// they are allowed (UTF8=ACCEPT, RFC 6855) and how a mailbox name is
// decoded (modified UTF-7, RFC 3501 5.1.3) is the session's to judge.
// FETCH items keep their section in one atom: BODY[HEADER.FIELDS (A B)]
// is the atom "BODY[HEADER.FIELDS]" with A and B in its List.
//
// Every command is bounded (Options): bytes outside literals, one
// literal's size, nesting, nodes. Errors come in two kinds:
//
//   - *CommandError: the command is rejected (BAD for syntax, NO for a
//     refused literal such as NO [TOOBIG]) and has been consumed to its
//     end, non-synchronising literals included, so pipelined commands
//     behind it are read as they were sent. A synchronising literal the
//     client was not told to send ends the command.
//   - anything else (IsFatal): the connection must close, after a BYE if
//     it can still carry one.
//
// A quoted string ends at its line: a missing quote is answered BAD at
// once, never by waiting for more input. Before a literal is read,
// Options.Literal sees its size and the arguments so far, so the server
// can refuse it (NO [TOOBIG], [TRYCREATE], [OVERQUOTA]) before the client
// sends it, or stream it to storage rather than memory; Options.Continue
// sends "+" for a synchronising literal that is accepted. ReadLine reads
// AUTHENTICATE's responses and IDLE's DONE.
//
// # Typed parsers
//
// Over the Nodes, for the commands whose grammar is hard: ParseNumSet
// (sequence sets with "*" and "$"), ParseFetch (items, macros, sections,
// partials, BINARY, MODSEQ, CHANGEDSINCE, VANISHED), ParseSearch (every
// RFC 9051 key, RFC 3501's NEW/OLD/RECENT, MODSEQ, CHARSET, RETURN with
// PARTIAL and CONTEXT), ParseStore (UNCHANGEDSINCE), ParseAppend
// (MULTIAPPEND, CATENATE, UTF8), ParseSelect (CONDSTORE, QRESYNC),
// ParseList/ParseLSub (LIST-EXTENDED, LIST-STATUS, SPECIAL-USE),
// ParseStatus, ParseSort/ParseThread (RFC 5256, ESORT), ParseNotify (RFC
// 5465), and the small ones: ParseCopy (COPY, MOVE), ParseLogin,
// ParseAuthenticate (SASL-IR), ParseEnable, ParseID, ParseCreate (USE).
// Their results use go-imap's imap types where they fit, as appliance/imapd
// and imapmsg already consume them; what those types cannot say is a
// field beside them (Fetch.RFC822, Store.UnchangedSinceSet,
// Search.Return.Partial). Node's methods (AString, Mailbox, ListMailbox,
// NString, Number, Flag, Date, DateTime) serve the other commands.
//
// # Writing
//
// Writer builds responses into a buffer flushed once per command (the
// write cork): tagged and untagged status, atoms, numbers, strings as
// quoted or literal by content, literal8 for BINARY, NIL, lists, response
// codes, date-time with a space-padded day. BodySectionName,
// BinarySectionName and BinarySizeName give a FETCH response's item names
// ("BODY[1.HEADER.FIELDS (From)]<0>"). Node, Command and Fetch.String
// write parsed input back, which the fuzz tests use for parse-write-parse
// round trips.
//
// # The engine this is the first part of
//
//	wire (this)   commands in, responses out; no state
//	conn          per connection: greeting, the read loop, the state machine
//	              (not authenticated, authenticated, selected, logout; RFC
//	              9051 3), IDLE, STARTTLS, COMPRESS=DEFLATE, AUTHENTICATE,
//	              deadlines, authguard and the admission limits, shutdown
//	              within its grace with every writer released
//	commands      one handler per command over storage: the session view
//	              pinned until EXPUNGE is sent, FLAGS on new keywords,
//	              \Recent, CONDSTORE/QRESYNC, MOVE/COPY into the selected
//	              mailbox, MULTIAPPEND/CATENATE, SORT/THREAD, ESORT,
//	              CONTEXT, PARTIAL, NOTIFY, QUOTA, ID, UNSELECT
//	responses     FETCH data (ENVELOPE with source routes, BODYSTRUCTURE,
//	              sections and BINARY from imapmsg), ESEARCH, LIST with
//	              CHILDINFO and \NonExistent, STATUS, VANISHED
//
// conn, commands and responses are appliance/imapd's conn.go, cmd_*.go,
// state.go and respond.go.
package wire
