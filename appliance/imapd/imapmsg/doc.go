// Package imapmsg renders stored messages for IMAP FETCH and evaluates
// IMAP SEARCH, on top of the MIME structure and envelope that storage
// computes once at delivery. The session code in appliance/imapd calls it;
// nothing here knows about connections or mailboxes.
//
// Everything reads the stored bytes through an io.ReaderAt and streams:
// a section of a 40 MB message is an io.SectionReader whose length is known
// before the first byte is sent, and SEARCH decodes one body at a time
// through fixed buffers.
//
// The map:
//
//	doc.go        this map, Body and the errors
//	structure.go  ENVELOPE and BODYSTRUCTURE from the cached structure (RFC 9051 7.5.2)
//	section.go    BODY[...] sections: part numbers, HEADER, HEADER.FIELDS (NOT),
//	              TEXT, MIME, partial ranges (RFC 9051 6.4.5)
//	binary.go     BINARY[...] and BINARY.SIZE[...] (RFC 3516)
//	decode.go     tolerant, deterministic base64 and quoted-printable decoders
//	              (RFC 2045 6.7, 6.8) shared by BINARY and SEARCH
//	search.go     SEARCH: the criteria compiled into a tree ordered cheap-first,
//	              evaluated per message with lazily loaded object, header, body
//	              (RFC 9051 6.4.4)
//	text.go       decoded text of a message for BODY/TEXT and the streaming,
//	              case-insensitive substring matcher
package imapmsg

import (
	"errors"
	"io"

	"postroom/storage"
)

// Body is the stored bytes of one message (CRLF line endings), as offsets
// in its storage.Part tree describe them. *storage.Body satisfies it.
type Body interface {
	io.ReaderAt
	Size() int64
}

var _ Body = (*storage.Body)(nil)

// ErrUnknownCTE reports a part whose Content-Transfer-Encoding BINARY
// cannot decode; RFC 3516 4.3 has the server answer NO [UNKNOWN-CTE].
var ErrUnknownCTE = errors.New("imapmsg: unknown content-transfer-encoding")
