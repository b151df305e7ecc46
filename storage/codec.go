package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Every stored value starts with a version byte so a later release can read
// older records. Hot records (message meta, mailbox) are packed varints;
// cold ones (account, object structure) are JSON after the version byte.
const (
	vMessage byte = 1
	vMailbox byte = 1
	vAccount byte = 1
	vObject  byte = 1
)

var errCorrupt = errors.New("storage: corrupt record")

type enc []byte

func (e enc) uv(v uint64) enc { return binary.AppendUvarint(e, v) }
func (e enc) v(v int64) enc   { return binary.AppendVarint(e, v) }
func (e enc) str(s string) enc {
	return append(e.uv(uint64(len(s))), s...)
}

type dec struct {
	b   []byte
	err error
	// all, when set, is the whole record as one string (b is a suffix of
	// its bytes): str then returns pieces of it instead of allocating a
	// string each, which was most of decoding an object record.
	all string
}

func (d *dec) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) v() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string {
	n := d.uv()
	if d.err != nil || uint64(len(d.b)) < n {
		d.err = errCorrupt
		return ""
	}
	var s string
	if d.all != "" {
		off := len(d.all) - len(d.b)
		s = d.all[off : off+int(n)]
	} else {
		s = string(d.b[:n])
	}
	d.b = d.b[n:]
	return s
}

func (d *dec) byte1() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errCorrupt
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func encodeMessage(m *Message) []byte {
	e := enc(make([]byte, 0, 48))
	e = append(e, vMessage)
	e = e.uv(uint64(m.Object))
	e = append(e, byte(m.Flags))
	e = e.uv(m.ModSeq).v(unixNano(m.InternalDate)).uv(uint64(m.Size)).v(unixNano(m.POPDownloaded))
	e = e.uv(uint64(len(m.Keywords)))
	for _, k := range m.Keywords {
		e = e.str(k)
	}
	return e
}

func decodeMessage(uid uint32, b []byte) (Message, error) {
	d := dec{b: b}
	if d.byte1() != vMessage {
		return Message{}, fmt.Errorf("message %d: %w", uid, errCorrupt)
	}
	m := Message{UID: uid}
	m.Object = ObjectID(d.uv())
	m.Flags = Flags(d.byte1())
	m.ModSeq = d.uv()
	m.InternalDate = fromUnixNano(d.v())
	m.Size = int64(d.uv())
	m.POPDownloaded = fromUnixNano(d.v())
	n := d.uv()
	if n > 1000 {
		d.err = errCorrupt
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		m.Keywords = append(m.Keywords, d.str())
	}
	if d.err != nil {
		return Message{}, fmt.Errorf("message %d: %w", uid, d.err)
	}
	return m, nil
}

func encodeMailbox(mb *Mailbox) []byte {
	e := enc{vMailbox}
	e = e.str(mb.Name).uv(uint64(mb.UIDValidity)).uv(uint64(mb.UIDNext)).uv(mb.HighestModSeq)
	e = e.str(mb.SpecialUse)
	sub := byte(0)
	if mb.Subscribed {
		sub = 1
	}
	e = append(e, sub)
	e = e.uv(uint64(mb.Messages)).uv(uint64(mb.Unseen)).uv(uint64(mb.Deleted)).uv(uint64(mb.Size))
	return e
}

func decodeMailbox(id MailboxID, b []byte) (Mailbox, error) {
	d := dec{b: b}
	if d.byte1() != vMailbox {
		return Mailbox{}, fmt.Errorf("mailbox %d: %w", id, errCorrupt)
	}
	mb := Mailbox{ID: id}
	mb.Name = d.str()
	mb.UIDValidity = uint32(d.uv())
	mb.UIDNext = uint32(d.uv())
	mb.HighestModSeq = d.uv()
	mb.SpecialUse = d.str()
	mb.Subscribed = d.byte1() == 1
	mb.Messages = uint32(d.uv())
	mb.Unseen = uint32(d.uv())
	mb.Deleted = uint32(d.uv())
	mb.Size = int64(d.uv())
	if d.err != nil {
		return Mailbox{}, fmt.Errorf("mailbox %d: %w", id, d.err)
	}
	return mb, nil
}

// accountRecord is the stored form of an account, with the secret and the
// counters that never leave the package.
type accountRecord struct {
	Name             string    `json:"name"`
	PasswordHash     string    `json:"pw"`
	Addresses        []string  `json:"addrs"`
	Quota            int64     `json:"quota,omitempty"`
	Usage            int64     `json:"usage"`
	Messages         int64     `json:"msgs"`
	Created          time.Time `json:"created"`
	NextUIDValidity  uint32    `json:"nextuidv"`
	LastModSeq       uint64    `json:"modseq"`
	POPRetentionDays int       `json:"popret,omitempty"`
	Admin            bool      `json:"admin,omitempty"`
	WebOnly          bool      `json:"webonly,omitempty"`

	// uidEdits are the message changes countMessage counted in this
	// transaction, which putAccount applies to the UID index (uidindex.go).
	uidEdits []uidEdit
}

func (r *accountRecord) public(id AccountID) Account {
	return Account{
		ID: id, Name: r.Name, Addresses: append([]string(nil), r.Addresses...),
		Quota: r.Quota, Usage: r.Usage, Messages: r.Messages, Created: r.Created,
		POPRetentionDays: r.POPRetentionDays, Admin: r.Admin, PasswordWebOnly: r.WebOnly,
	}
}

// objectRecord is the stored form of an Object.
type objectRecord struct {
	Size      int64     `json:"size"`
	Lines     int64     `json:"lines"`
	SHA256    [32]byte  `json:"sha"`
	RefCount  uint32    `json:"refs"`
	Chunks    uint32    `json:"chunks"`
	Created   time.Time `json:"created"`
	Structure *Part     `json:"part,omitempty"`
	Envelope  *Envelope `json:"env,omitempty"`
	// Prefix is the trace header fields of the messages that reference
	// this object (Return-Path, Authentication-Results, Received), kept
	// beside the body instead of in its chunks: the same body can then be
	// queued with other fields in front (the queue record's own Prefix).
	// Size, Lines and SHA256 are the body's, without it.
	Prefix []byte `json:"prefix,omitempty"`
}

func encodeJSON(version byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte{version}, b...), nil
}

func decodeJSON(version byte, b []byte, v any) error {
	if len(b) == 0 || b[0] != version {
		return errCorrupt
	}
	return json.Unmarshal(b[1:], v)
}

// object is the record as callers see it: the size and lines of a message,
// prefix and body together.
func (rec *objectRecord) object(id ObjectID) Object {
	return Object{ID: id, Size: rec.messageSize(), Lines: rec.Lines + int64(bytes.Count(rec.Prefix, []byte{'\n'})),
		SHA256: rec.SHA256, RefCount: rec.RefCount, Structure: rec.Structure, Envelope: rec.Envelope,
		Prefix: rec.Prefix, loaded: true}
}

// messageSize is the octets of a message that references the object.
func (rec *objectRecord) messageSize() int64 { return int64(len(rec.Prefix)) + rec.Size }
