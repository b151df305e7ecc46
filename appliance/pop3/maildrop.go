package pop3

import (
	"fmt"
	"strconv"
	"time"

	"postroom/storage"
)

// Maildrop is the storage this package consumes; *storage.Store satisfies it.
// It is declared here, by its consumer (STYLE convention 1).
type Maildrop interface {
	// Authenticate checks a login; called through authguard.Guard.
	Authenticate(login, password string) (storage.Account, error)
	Accounts() ([]storage.Account, error)
	AccountByID(id storage.AccountID) (storage.Account, error)
	Mailbox(acct storage.AccountID, name string) (storage.Mailbox, error)
	Messages(acct storage.AccountID, mbox storage.MailboxID) ([]storage.Message, error)
	Object(id storage.ObjectID) (storage.Object, error)
	// OpenObjectBody reads a body whose size is known (the snapshot has
	// it), without decoding the object record.
	OpenObjectBody(obj storage.Object) *storage.Body
	// Pin keeps bodies readable after an expunge until unpin is called.
	Pin(ids ...storage.ObjectID) (unpin func())
	// Expunge removes exactly the given UIDs, skipping missing ones, and
	// tells IMAP sessions.
	Expunge(acct storage.AccountID, mbox storage.MailboxID, uids []uint32) ([]uint32, error)
	// MarkPOPDownloaded sets \Seen and the first-download time.
	MarkPOPDownloaded(acct storage.AccountID, mbox storage.MailboxID, uids []uint32, at time.Time) error
}

var _ Maildrop = (*storage.Store)(nil)

// snapMsg is one message of a snapshot, small on purpose: a session over a
// 100,000-message INBOX holds 100,000 of them.
type snapMsg struct {
	uid     uint32
	deleted bool // DELE'd in this session
	// downloaded: the store has POPDownloaded and \Seen, or this session
	// has queued marking them.
	downloaded bool
	obj        storage.ObjectID
	size       int64
}

// snapshot is INBOX as it was at login (RFC 1939 section 4: the message
// numbers stay fixed for the whole session).
type snapshot struct {
	acct        storage.Account
	mbox        storage.MailboxID
	uidValidity uint32
	msgs        []snapMsg
	unpin       func()

	// count and size of the messages not marked deleted (STAT, LIST).
	count int
	size  int64
}

// loadSnapshot reads INBOX's message records (not bodies) and pins the
// bodies, so that RETR of a message IMAP expunges later still works.
func loadSnapshot(st Maildrop, acct storage.Account) (*snapshot, error) {
	mb, err := st.Mailbox(acct.ID, storage.InboxName)
	if err != nil {
		return nil, fmt.Errorf("pop3: open INBOX of %s: %w", acct.Name, err)
	}
	list, err := st.Messages(acct.ID, mb.ID)
	if err != nil {
		return nil, fmt.Errorf("pop3: list INBOX of %s: %w", acct.Name, err)
	}
	sn := &snapshot{acct: acct, mbox: mb.ID, uidValidity: mb.UIDValidity, msgs: make([]snapMsg, len(list))}
	ids := make([]storage.ObjectID, len(list))
	for i, m := range list {
		sn.msgs[i] = snapMsg{
			uid: m.UID, obj: m.Object, size: m.Size,
			downloaded: !m.POPDownloaded.IsZero() && m.Flags&storage.FlagSeen != 0,
		}
		ids[i] = m.Object
		sn.size += m.Size
	}
	sn.count = len(list)
	sn.unpin = st.Pin(ids...)
	return sn, nil
}

// msg returns message number n (1-based) if it exists and is not deleted.
func (sn *snapshot) msg(n int) (*snapMsg, string) {
	if n < 1 || n > len(sn.msgs) {
		return nil, "no such message"
	}
	m := &sn.msgs[n-1]
	if m.deleted {
		return nil, "message " + strconv.Itoa(n) + " already deleted"
	}
	return m, ""
}

func (sn *snapshot) dele(m *snapMsg) {
	m.deleted = true
	sn.count--
	sn.size -= m.size
}

// reset undoes every DELE (RSET, RFC 1939 section 5).
func (sn *snapshot) reset() {
	for i := range sn.msgs {
		sn.msgs[i].deleted = false
	}
	sn.count = len(sn.msgs)
	sn.size = 0
	for _, m := range sn.msgs {
		sn.size += m.size
	}
}

// deletedUIDs lists the UIDs marked with DELE, ascending.
func (sn *snapshot) deletedUIDs() []uint32 {
	var out []uint32
	for _, m := range sn.msgs {
		if m.deleted {
			out = append(out, m.uid)
		}
	}
	return out
}

// appendUIDL appends the unique-id of a message: UIDVALIDITY and UID as
// 8 hex digits each. It never changes for a message and is never reused
// (RFC 1939 section 7 UIDL: 1 to 70 characters of 0x21..0x7E).
func appendUIDL(b []byte, uidValidity, uid uint32) []byte {
	const hex = "0123456789abcdef"
	v := uint64(uidValidity)<<32 | uint64(uid)
	for i := 60; i >= 0; i -= 4 {
		b = append(b, hex[v>>uint(i)&0xf])
	}
	return b
}
