// Package keys builds and parses every Badger key of the mail store, and no
// other package does. A key is a one-byte family tag followed by big-endian
// fixed-width integers, so that Badger's byte order is numeric order and a
// prefix scan walks a mailbox in UID order; strings only ever end a key.
//
// Families (STYLE.md "Badger key schema"):
//
//	01 name                     store metadata and ID sequences
//	02 acct                     account record
//	03 lower(address)           address -> acct
//	04 lower(domain)            number of addresses in a local domain
//	05 acct id                  app password (id: its public first letters)
//	06 acct                     the account's logins: last login, devices seen
//	10 acct mbox                mailbox record
//	11 acct name                mailbox name -> mbox
//	20 acct mbox uid            message meta
//	21 acct mbox modseq uid     CHANGEDSINCE index
//	22 acct mbox modseq uid     expunge tombstone (QRESYNC VANISHED)
//	23 acct mbox [seg]          mailbox UID index: a header (no seg), then per
//	                            block of UIDs the present, unseen and deleted
//	                            UIDs and keyword counts (storage/uidindex.go)
//	30 obj                      object: size, refcount, cached structure
//	31 obj chunk                body bytes
//	32 obj                      erase queue (refcount reached zero)
//	33 obj                      staged marker (body written, not yet delivered)
//	40 qid                      outbound queue: message (sender, body object, DKIM prefix)
//	41 qid rcpt                 outbound queue: one recipient's delivery state
//	50 yyyymmdd acct            the day's count of new mail by origin, per account
//	                            (acct 0: recipients delivered to other servers)
//	60 sha256(token)            web page session (webui), by its token's hash
//
// Badger reserves keys starting "!badger!". The tag 0x21 is '!', and
// TagModSeq uses it: that is safe because the byte after the tag is the
// top byte of an account id, which is 0 (account ids count up from 1 and
// never reach 1<<56), never 'b'. A new family must keep its second byte
// away from 'b' too, or take another tag; TestNoReservedPrefix checks every
// tag in Tags.
package keys

import (
	"encoding/binary"
	"fmt"
)

// Family tags.
const (
	TagMeta       byte = 0x01
	TagAccount    byte = 0x02
	TagAddress    byte = 0x03
	TagDomain     byte = 0x04
	TagAppPass    byte = 0x05
	TagLogins     byte = 0x06
	TagMailbox    byte = 0x10
	TagMboxName   byte = 0x11
	TagSubscribed byte = 0x12
	TagMessage    byte = 0x20
	TagModSeq     byte = 0x21
	TagTombstone  byte = 0x22
	TagUIDIndex   byte = 0x23
	TagObject     byte = 0x30
	TagChunk      byte = 0x31
	TagErase      byte = 0x32
	TagStaged     byte = 0x33
	TagQueueMsg   byte = 0x40
	TagQueueRcpt  byte = 0x41
	TagDayCount   byte = 0x50
	TagWebSession byte = 0x60
)

// Tags lists every family tag above; a new tag must be added here too
// (TestTagsComplete reads this file to check).
var Tags = []byte{TagMeta, TagAccount, TagAddress, TagDomain, TagAppPass, TagLogins, TagMailbox, TagMboxName, TagSubscribed,
	TagMessage, TagModSeq, TagTombstone, TagUIDIndex, TagObject, TagChunk, TagErase, TagStaged,
	TagQueueMsg, TagQueueRcpt, TagDayCount, TagWebSession}

// Meta keys and sequence names live in family 01.
func Meta(name string) []byte { return append([]byte{TagMeta}, name...) }

func u64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }
func u32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

// Account is 02 acct.
func Account(acct uint64) []byte { return u64([]byte{TagAccount}, acct) }

// AccountPrefix selects every account record.
func AccountPrefix() []byte { return []byte{TagAccount} }

// ParseAccount returns acct from an 02 key.
func ParseAccount(k []byte) (uint64, error) {
	if len(k) != 9 || k[0] != TagAccount {
		return 0, badKey("account", k)
	}
	return binary.BigEndian.Uint64(k[1:]), nil
}

// Address is 03 lower(address); the caller lower-cases.
func Address(addr string) []byte { return append([]byte{TagAddress}, addr...) }

// AddressPrefix selects every address.
func AddressPrefix() []byte { return []byte{TagAddress} }

// ParseAddress returns the address of an 03 key.
func ParseAddress(k []byte) (string, error) {
	if len(k) < 2 || k[0] != TagAddress {
		return "", badKey("address", k)
	}
	return string(k[1:]), nil
}

// Domain is 04 lower(domain).
func Domain(domain string) []byte { return append([]byte{TagDomain}, domain...) }

// DomainPrefix selects every local domain.
func DomainPrefix() []byte { return []byte{TagDomain} }

// ParseDomain returns the domain of an 04 key.
func ParseDomain(k []byte) (string, error) {
	if len(k) < 2 || k[0] != TagDomain {
		return "", badKey("domain", k)
	}
	return string(k[1:]), nil
}

// Mailbox is 10 acct mbox.
func Mailbox(acct, mbox uint64) []byte { return u64(u64([]byte{TagMailbox}, acct), mbox) }

// MailboxPrefix selects every mailbox of acct.
func MailboxPrefix(acct uint64) []byte { return u64([]byte{TagMailbox}, acct) }

// ParseMailbox returns acct, mbox from a 10 key.
func ParseMailbox(k []byte) (acct, mbox uint64, err error) {
	if len(k) != 17 || k[0] != TagMailbox {
		return 0, 0, badKey("mailbox", k)
	}
	return binary.BigEndian.Uint64(k[1:]), binary.BigEndian.Uint64(k[9:]), nil
}

// MailboxName is 11 acct name.
func MailboxName(acct uint64, name string) []byte {
	return append(u64([]byte{TagMboxName}, acct), name...)
}

// MailboxNamePrefix selects every mailbox name of acct.
func MailboxNamePrefix(acct uint64) []byte { return u64([]byte{TagMboxName}, acct) }

// ParseMailboxName returns acct, name from an 11 key.
func ParseMailboxName(k []byte) (acct uint64, name string, err error) {
	if len(k) < 10 || k[0] != TagMboxName {
		return 0, "", badKey("mailbox name", k)
	}
	return binary.BigEndian.Uint64(k[1:]), string(k[9:]), nil
}

// Message is 20 acct mbox uid.
func Message(acct, mbox uint64, uid uint32) []byte {
	return u32(u64(u64([]byte{TagMessage}, acct), mbox), uid)
}

// MessagePrefix selects every message of a mailbox, in UID order.
func MessagePrefix(acct, mbox uint64) []byte { return u64(u64([]byte{TagMessage}, acct), mbox) }

// MessageAccountPrefix selects every message of an account.
func MessageAccountPrefix(acct uint64) []byte { return u64([]byte{TagMessage}, acct) }

// ParseMessage returns acct, mbox, uid from a 20 key.
func ParseMessage(k []byte) (acct, mbox uint64, uid uint32, err error) {
	if len(k) != 21 || k[0] != TagMessage {
		return 0, 0, 0, badKey("message", k)
	}
	return binary.BigEndian.Uint64(k[1:]), binary.BigEndian.Uint64(k[9:]), binary.BigEndian.Uint32(k[17:]), nil
}

// ModSeq is 21 acct mbox modseq uid.
func ModSeq(acct, mbox, modseq uint64, uid uint32) []byte {
	return u32(u64(u64(u64([]byte{TagModSeq}, acct), mbox), modseq), uid)
}

// ModSeqPrefix selects the CHANGEDSINCE index of a mailbox.
func ModSeqPrefix(acct, mbox uint64) []byte { return u64(u64([]byte{TagModSeq}, acct), mbox) }

// Tombstone is 22 acct mbox modseq uid.
func Tombstone(acct, mbox, modseq uint64, uid uint32) []byte {
	return u32(u64(u64(u64([]byte{TagTombstone}, acct), mbox), modseq), uid)
}

// TombstonePrefix selects the expunge tombstones of a mailbox.
func TombstonePrefix(acct, mbox uint64) []byte {
	return u64(u64([]byte{TagTombstone}, acct), mbox)
}

// TombstoneFloor is the tombstone key with MODSEQ 0 and UID 0, which no
// expunge has (MODSEQs count from 1): it holds the mailbox's pruning floor,
// and goes with the mailbox's tombstones under TombstonePrefix.
func TombstoneFloor(acct, mbox uint64) []byte { return Tombstone(acct, mbox, 0, 0) }

// ParseModSeq returns acct, mbox, modseq, uid from a 21 or 22 key.
func ParseModSeq(k []byte) (acct, mbox, modseq uint64, uid uint32, err error) {
	if len(k) != 29 || (k[0] != TagModSeq && k[0] != TagTombstone) {
		return 0, 0, 0, 0, badKey("modseq", k)
	}
	return binary.BigEndian.Uint64(k[1:]), binary.BigEndian.Uint64(k[9:]),
		binary.BigEndian.Uint64(k[17:]), binary.BigEndian.Uint32(k[25:]), nil
}

// UIDIndexHeader is 23 acct mbox: its presence says the mailbox's UID
// index is complete; the segments follow it in key order.
func UIDIndexHeader(acct, mbox uint64) []byte { return u64(u64([]byte{TagUIDIndex}, acct), mbox) }

// UIDIndexSegment is 23 acct mbox seg.
func UIDIndexSegment(acct, mbox uint64, seg uint32) []byte {
	return u32(u64(u64([]byte{TagUIDIndex}, acct), mbox), seg)
}

// UIDIndexAccountPrefix selects the UID indexes of every mailbox of acct.
func UIDIndexAccountPrefix(acct uint64) []byte { return u64([]byte{TagUIDIndex}, acct) }

// ParseUIDIndex returns acct, mbox and, for a segment key, seg with
// isSeg true, from a 23 key.
func ParseUIDIndex(k []byte) (acct, mbox uint64, seg uint32, isSeg bool, err error) {
	if (len(k) != 17 && len(k) != 21) || k[0] != TagUIDIndex {
		return 0, 0, 0, false, badKey("uid index", k)
	}
	acct, mbox = binary.BigEndian.Uint64(k[1:]), binary.BigEndian.Uint64(k[9:])
	if len(k) == 21 {
		return acct, mbox, binary.BigEndian.Uint32(k[17:]), true, nil
	}
	return acct, mbox, 0, false, nil
}

// Object is 30 obj.
func Object(obj uint64) []byte { return u64([]byte{TagObject}, obj) }

// Chunk is 31 obj chunk.
func Chunk(obj uint64, chunk uint32) []byte { return u32(u64([]byte{TagChunk}, obj), chunk) }

// ChunkPrefix selects every chunk of obj, in order.
func ChunkPrefix(obj uint64) []byte { return u64([]byte{TagChunk}, obj) }

// ParseChunk returns obj, chunk from a 31 key.
func ParseChunk(k []byte) (obj uint64, chunk uint32, err error) {
	if len(k) != 13 || k[0] != TagChunk {
		return 0, 0, badKey("chunk", k)
	}
	return binary.BigEndian.Uint64(k[1:]), binary.BigEndian.Uint32(k[9:]), nil
}

// Erase is 32 obj.
func Erase(obj uint64) []byte { return u64([]byte{TagErase}, obj) }

// Staged is 33 obj.
func Staged(obj uint64) []byte { return u64([]byte{TagStaged}, obj) }

// ParseObjectKey returns obj from a 30, 32 or 33 key.
func ParseObjectKey(k []byte) (uint64, error) {
	if len(k) != 9 || (k[0] != TagObject && k[0] != TagErase && k[0] != TagStaged) {
		return 0, badKey("object", k)
	}
	return binary.BigEndian.Uint64(k[1:]), nil
}

// QueueMsg is 40 qid: a message of the outbound queue.
func QueueMsg(qid uint64) []byte { return u64([]byte{TagQueueMsg}, qid) }

// ParseQueueMsg returns qid from a 40 key.
func ParseQueueMsg(k []byte) (uint64, error) {
	if len(k) != 9 || k[0] != TagQueueMsg {
		return 0, badKey("queue message", k)
	}
	return binary.BigEndian.Uint64(k[1:]), nil
}

// QueueRcpt is 41 qid rcpt: recipient number rcpt of queued message qid.
func QueueRcpt(qid uint64, rcpt uint32) []byte { return u32(u64([]byte{TagQueueRcpt}, qid), rcpt) }

// QueueRcptPrefix selects the recipients of qid, in order.
func QueueRcptPrefix(qid uint64) []byte { return u64([]byte{TagQueueRcpt}, qid) }

// ParseQueueRcpt returns qid, rcpt from a 41 key.
func ParseQueueRcpt(k []byte) (qid uint64, rcpt uint32, err error) {
	if len(k) != 13 || k[0] != TagQueueRcpt {
		return 0, 0, badKey("queue recipient", k)
	}
	return binary.BigEndian.Uint64(k[1:]), binary.BigEndian.Uint32(k[9:]), nil
}

// Prefix is a one-byte family prefix for whole-family scans.
func Prefix(tag byte) []byte { return []byte{tag} }

func badKey(family string, k []byte) error {
	return fmt.Errorf("keys: malformed %s key %x", family, k)
}

// DayCount is 50 day acct: day is the local date as yyyymmdd, so that days
// sort in order and one prefix selects a day.
func DayCount(day uint32, acct uint64) []byte { return u64(u32([]byte{TagDayCount}, day), acct) }

// DayCountPrefix selects every count of one day.
func DayCountPrefix(day uint32) []byte { return u32([]byte{TagDayCount}, day) }

// DayCountFamily selects every day's counts.
func DayCountFamily() []byte { return []byte{TagDayCount} }

// ParseDayCount returns day and acct from a 50 key.
func ParseDayCount(k []byte) (day uint32, acct uint64, err error) {
	if len(k) != 13 || k[0] != TagDayCount {
		return 0, 0, badKey("day count", k)
	}
	return binary.BigEndian.Uint32(k[1:]), binary.BigEndian.Uint64(k[5:]), nil
}

// WebSession is 60 id: id is the SHA-256 of a web session's token, so the
// store never holds a token that would let its reader log in.
func WebSession(id [32]byte) []byte { return append([]byte{TagWebSession}, id[:]...) }

// WebSessionFamily selects every web session.
func WebSessionFamily() []byte { return []byte{TagWebSession} }

// ParseWebSession returns the id from a 60 key.
func ParseWebSession(k []byte) (id [32]byte, err error) {
	if len(k) != 33 || k[0] != TagWebSession {
		return id, badKey("web session", k)
	}
	copy(id[:], k[1:])
	return id, nil
}

// AppPassword is 05 acct id: id is the app password's public part (its
// first letters, which say which of the account's app passwords a login
// means, so that one hash is checked instead of all of them).
func AppPassword(acct uint64, id string) []byte { return append(u64([]byte{TagAppPass}, acct), id...) }

// AppPasswordPrefix selects every app password of acct.
func AppPasswordPrefix(acct uint64) []byte { return u64([]byte{TagAppPass}, acct) }

// ParseAppPassword returns acct and id from an 05 key.
func ParseAppPassword(k []byte) (acct uint64, id string, err error) {
	if len(k) < 10 || k[0] != TagAppPass {
		return 0, "", badKey("app password", k)
	}
	return binary.BigEndian.Uint64(k[1:]), string(k[9:]), nil
}

// Logins is 06 acct: the account's last login and the devices it was seen
// from, one record per account.
func Logins(acct uint64) []byte { return u64([]byte{TagLogins}, acct) }

// ParseLogins returns acct from an 06 key.
func ParseLogins(k []byte) (uint64, error) {
	if len(k) != 9 || k[0] != TagLogins {
		return 0, badKey("logins", k)
	}
	return binary.BigEndian.Uint64(k[1:]), nil
}

// Subscribed is 12 acct name: an IMAP subscription (RFC 9051 6.3.7), kept
// apart from the mailbox record so that it outlives DELETE and may name a
// mailbox that does not exist.
func Subscribed(acct uint64, name string) []byte {
	return append(u64([]byte{TagSubscribed}, acct), name...)
}

// SubscribedPrefix selects an account's subscriptions.
func SubscribedPrefix(acct uint64) []byte { return u64([]byte{TagSubscribed}, acct) }

// ParseSubscribed returns acct and the name from a 12 key.
func ParseSubscribed(k []byte) (acct uint64, name string, err error) {
	if len(k) < 10 || k[0] != TagSubscribed {
		return 0, "", badKey("subscription", k)
	}
	return binary.BigEndian.Uint64(k[1:]), string(k[9:]), nil
}
