package storage

import (
	"errors"
	"strings"
	"time"

	"postroom/storage/internal/mimeparse"
)

// AccountID, MailboxID and ObjectID are the integer identities that every
// key is built from. They are never reused.
type (
	AccountID uint64
	MailboxID uint64
	ObjectID  uint64
)

// Errors callers translate at their protocol edge (SMTP, IMAP, POP3, CLI).
var (
	ErrNotFound        = errors.New("storage: not found")
	ErrUnknownAddress  = errors.New("storage: no account for this address")
	ErrAccountExists   = errors.New("storage: account exists")
	ErrAddressTaken    = errors.New("storage: address belongs to another account")
	ErrAuthFailed      = errors.New("storage: authentication failed")
	ErrNoMailbox       = errors.New("storage: no such mailbox")
	ErrMailboxExists   = errors.New("storage: mailbox exists")
	ErrInvalidName     = errors.New("storage: invalid mailbox name")
	ErrMailboxSpecial  = errors.New("storage: operation not allowed on this mailbox")
	ErrOverQuota       = errors.New("storage: over quota")
	ErrDiskFull        = errors.New("storage: disk nearly full")
	ErrTooLarge        = errors.New("storage: message too large")
	ErrClosed          = errors.New("storage: store closed")
	ErrInvalidPassword = errors.New("storage: password too short")
)

// Delimiter separates the levels of a mailbox name ("Archive/2026").
const Delimiter = '/'

// InboxName is the one mailbox name that is case-insensitive (RFC 9051 5.1).
const InboxName = "INBOX"

// Special-use attributes (RFC 6154) given to the default mailboxes.
const (
	SpecialSent    = `\Sent`
	SpecialDrafts  = `\Drafts`
	SpecialTrash   = `\Trash`
	SpecialJunk    = `\Junk`
	SpecialArchive = `\Archive`
)

// DefaultMailboxes is created for every new account, in this order.
var DefaultMailboxes = []struct{ Name, SpecialUse string }{
	{InboxName, ""},
	{"Sent", SpecialSent},
	{"Drafts", SpecialDrafts},
	{"Trash", SpecialTrash},
	{"Junk", SpecialJunk},
	{"Archive", SpecialArchive},
}

// Account is a person's mail account. Name is the login and primary address.
type Account struct {
	ID        AccountID
	Name      string   // login, lower case, usually the primary address
	Addresses []string // every address delivered here: name, aliases, "@domain" catch-alls
	Quota     int64    // bytes; 0 means unlimited
	Usage     int64    // bytes of every message in every mailbox, counted per reference
	Messages  int64    // messages in every mailbox
	Created   time.Time
	// POPRetentionDays deletes INBOX messages that many days after their
	// first POP3 download; 0 keeps them forever.
	POPRetentionDays int
	// Admin may do what changes the whole box from its web page, such as
	// confirming a factory reset; other accounts only read their mail.
	Admin bool
	// PasswordWebOnly keeps the account's password for the web page:
	// IMAP, POP3 and submission accept only its app passwords.
	PasswordWebOnly bool
	// AppPassword is the name of the app password Authenticate accepted;
	// "" when the account's own password was used, and elsewhere.
	AppPassword string
}

// Mailbox is a folder of one account with its exact counts.
type Mailbox struct {
	ID            MailboxID
	Name          string
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	SpecialUse    string
	Subscribed    bool
	Messages      uint32
	Unseen        uint32
	Deleted       uint32
	Size          int64
}

// Flags is the bit set of IMAP system flags. Keywords travel separately.
type Flags uint8

const (
	FlagSeen Flags = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDeleted
	FlagDraft
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{FlagSeen, `\Seen`}, {FlagAnswered, `\Answered`}, {FlagFlagged, `\Flagged`},
	{FlagDeleted, `\Deleted`}, {FlagDraft, `\Draft`},
}

// ParseFlags splits IMAP flag names into system flag bits and keywords.
// System flags match case-insensitively; keywords keep their spelling.
func ParseFlags(names []string) (Flags, []string) {
	var f Flags
	var kw []string
outer:
	for _, n := range names {
		for _, fn := range flagNames {
			if strings.EqualFold(n, fn.name) {
				f |= fn.f
				continue outer
			}
		}
		if strings.HasPrefix(n, `\`) {
			continue // unknown system flag (\Recent is session state): ignore
		}
		kw = appendKeyword(kw, n)
	}
	return f, kw
}

// Names returns the IMAP names of the set bits.
func (f Flags) Names() []string {
	var out []string
	for _, fn := range flagNames {
		if f&fn.f != 0 {
			out = append(out, fn.name)
		}
	}
	return out
}

// Message is the metadata of one message in one mailbox.
type Message struct {
	UID          uint32
	Object       ObjectID
	Flags        Flags
	Keywords     []string
	ModSeq       uint64
	InternalDate time.Time
	Size         int64 // octets, CRLF line endings
	// POPDownloaded is when POP3 first sent this message (RETR or TOP of the
	// whole message); zero when it never did.
	POPDownloaded time.Time
}

// AllFlags returns system flags and keywords as IMAP flag names.
func (m Message) AllFlags() []string {
	return append(m.Flags.Names(), m.Keywords...)
}

// Part and Envelope are the cached MIME structure computed once at delivery.
type (
	Part     = mimeparse.Part
	Envelope = mimeparse.Envelope
	Address  = mimeparse.Address
)

// Object describes stored message bytes shared by every copy of a message:
// the trace header fields of its delivery (Prefix) and then the body, which
// the outbound queue may share with other fields in front.
type Object struct {
	ID        ObjectID
	Size      int64     // octets of Prefix and body, as a message has them
	Lines     int64     // CRLF-terminated lines, for IMAP and POP3 TOP
	SHA256    [32]byte  // of the body without Prefix
	RefCount  uint32    // messages and queued messages together
	Structure *Part     // top-level MIME part; never nil once a mailbox has it
	Envelope  *Envelope // top-level envelope; never nil once a mailbox has it
	Prefix    []byte    // header fields stored before the body; may be nil
	// loaded: read from the object record, so Prefix is known; an Object
	// made by a caller (ID and Size) has its prefix read on first use.
	loaded bool
}

// Recipient is one target of a Deliver call.
type Recipient struct {
	Account AccountID
	Mailbox string // "" means INBOX
	Flags   Flags
	// Origin, when set, replaces the Delivery's for this recipient: the
	// sender's own copy of a submission is OriginSentCopy.
	Origin Origin
}

// Origin says where a new message came from, so that the status can count
// mail received and sent and tell a bounce from a delivery, and IMAP can
// tell both from a user's own COPY, MOVE or APPEND. It travels in every
// EventAdded.
type Origin uint8

const (
	OriginUnknown     Origin = iota // not a new message, or not said
	OriginInbound                   // from another server (SMTP, port 25)
	OriginSubmission                // a local user's message to a local recipient
	OriginSentCopy                  // the submitter's own copy (Submission.SentCopy)
	OriginBounce                    // our report that a message could not be delivered
	OriginDelayNotice               // our report that a message is still waiting
	OriginAppend                    // IMAP APPEND (or an import)
	OriginCopy                      // IMAP COPY
	OriginMove                      // IMAP MOVE
)

func (o Origin) String() string {
	switch o {
	case OriginInbound:
		return "inbound"
	case OriginSubmission:
		return "submission"
	case OriginSentCopy:
		return "sent-copy"
	case OriginBounce:
		return "bounce"
	case OriginDelayNotice:
		return "delay-notice"
	case OriginAppend:
		return "append"
	case OriginCopy:
		return "copy"
	case OriginMove:
		return "move"
	}
	return "unknown"
}

// Delivery is one message for one or more accounts.
type Delivery struct {
	Recipients   []Recipient
	InternalDate time.Time // zero means now
	// MaxSize bounds the body (after CRLF normalisation) in place of the
	// store's limit, so SMTP can allow for the headers it adds; 0 means the
	// store's limit.
	MaxSize int64
	// Quota refuses the message with ErrOverQuota when it would take every
	// recipient over its quota; nothing is stored then. When only some are
	// full, all get it: one SMTP reply answers for every recipient, and
	// refusing would refuse the others' mail too. The full ones are then
	// over quota and refuse the next message at RCPT. Bounces to our own
	// senders leave it off: a DSN must not be refused for a full INBOX.
	Quota bool
	// Origin marks the events of this delivery (see Origin).
	Origin Origin
}

// Delivered says where a message landed.
type Delivered struct {
	Account     AccountID
	Mailbox     MailboxID
	UIDValidity uint32
	UID         uint32
}

// FlagOp is how SetFlags combines the given flags with the current ones.
type FlagOp int

const (
	FlagsAdd FlagOp = iota
	FlagsRemove
	FlagsReplace
)

// EventKind says what changed.
type EventKind int

const (
	EventAdded EventKind = iota + 1
	EventFlags
	EventExpunged
	EventMailboxCreated
	EventMailboxDeleted
	EventMailboxRenamed
	EventMailboxSubscribed
)

func (k EventKind) String() string {
	switch k {
	case EventAdded:
		return "added"
	case EventFlags:
		return "flags"
	case EventExpunged:
		return "expunged"
	case EventMailboxCreated:
		return "mailbox-created"
	case EventMailboxDeleted:
		return "mailbox-deleted"
	case EventMailboxRenamed:
		return "mailbox-renamed"
	case EventMailboxSubscribed:
		return "mailbox-subscribed"
	}
	return "unknown"
}

// Event is one change, published after it is durable and before the
// account's writer lock is released, so one account's events arrive in
// commit (MODSEQ) order. Message events carry the message as it is now;
// mailbox events carry the mailbox name (and for a rename, the old name in
// OldName).
type Event struct {
	Kind    EventKind
	Account AccountID
	Mailbox MailboxID
	Name    string
	OldName string
	Message Message // for added, flags; for expunged the message as it was, with the expunge's MODSEQ
	// Origin says where an added message came from; OriginUnknown for
	// every other kind.
	Origin Origin
}

func appendKeyword(kw []string, k string) []string {
	for _, x := range kw {
		if x == k {
			return kw
		}
	}
	return append(kw, k)
}
