package storage

import (
	"io"

	"postroom/storage/internal/mimeparse"
)

// MIME helpers for the protocol packages (IMAP FETCH and SEARCH), which
// cannot import storage/internal/mimeparse themselves.

// HeaderField is one field of a header section: Name, raw Value (folding
// included) and Raw, the field exactly as stored with its line break.
type HeaderField = mimeparse.HeaderField

// MaxHeaderRead bounds what ReadHeader reads of one header section.
const MaxHeaderRead = mimeparse.MaxHeaderRead

// ReadHeader returns the fields of part p's header section as stored in r
// (at most MaxHeaderRead bytes, cut at a line break). p must describe r,
// e.g. an Object's Structure and its OpenBody.
func ReadHeader(r io.ReaderAt, p *Part) ([]HeaderField, error) {
	return mimeparse.ReadHeader(r, p)
}

// DecodeHeaderValue turns a raw header field value into UTF-8 text:
// unfolded, trimmed, RFC 2047 encoded words decoded.
func DecodeHeaderValue(s string) string { return mimeparse.DecodeHeaderValue(s) }

// ParseMIME computes the structure and envelope of the message in
// r[0:size], as delivery does; it never fails. For tests and tools that
// work on messages outside the store.
func ParseMIME(r io.ReaderAt, size int64) (*Part, *Envelope) { return mimeparse.Parse(r, size) }
