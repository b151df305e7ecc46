// Package mimeparse computes, once per stored message, the MIME structure and
// envelope that IMAP FETCH BODYSTRUCTURE/ENVELOPE and section fetches need.
//
// It reads the message through an io.ReaderAt so that a 40 MB message is never
// held whole in memory, records byte offsets of every part's header and body so
// later fetches can read exactly the bytes they need, and never fails: broken
// MIME falls back to a single text/plain part covering the whole body.
//
// The map:
//
//	types.go    Part, Envelope, Address: what is cached per stored object
//	parse.go    Parse: one streaming pass, line by line, through a fixed buffer;
//	            multipart delimiters (RFC 2046 5.1), enclosed messages (5.2),
//	            and the limits (MaxDepth, MaxParts) that bound a hostile message
//	header.go   the header fields Parse keeps, the Envelope built from them,
//	            ReadHeader and DecodeHeaderValue (RFC 2047) for IMAP and POP3
//	params.go   Content-Type and Content-Disposition parameters (RFC 2045,
//	            RFC 2231 continuations and charsets)
//	address.go  tolerant address lists (RFC 5322 3.4) and msg-ids
//
// Every string in Part and Envelope is valid UTF-8 (bytes that are not are read
// as Latin-1), so the JSON cache gives back what was stored.
package mimeparse

// Part is one node of the MIME tree (RFC 9051 7.5.2 BODYSTRUCTURE).
// Offsets are absolute positions in the stored message (CRLF line endings).
type Part struct {
	Type        string            `json:"t"`           // lower case, e.g. "text"
	Subtype     string            `json:"st"`          // lower case, e.g. "plain"
	Params      map[string]string `json:"p,omitempty"` // Content-Type parameters, keys lower case
	ID          string            `json:"id,omitempty"`
	Description string            `json:"d,omitempty"`
	Encoding    string            `json:"e,omitempty"` // Content-Transfer-Encoding, lower case; "" means 7bit
	Disposition string            `json:"dp,omitempty"`
	DispParams  map[string]string `json:"dpp,omitempty"`
	Language    []string          `json:"l,omitempty"`
	Location    string            `json:"loc,omitempty"`
	MD5         string            `json:"md5,omitempty"`

	HeaderStart int64 `json:"hs"` // first byte of this part's header
	BodyStart   int64 `json:"bs"` // first byte after the blank line ending the header
	End         int64 `json:"be"` // one past the last byte of the body
	Lines       int64 `json:"n"`  // lines in the body

	Children []*Part `json:"c,omitempty"` // multipart/*: the parts, in order
	// For message/rfc822 (and message/global): the enclosed message's envelope
	// and its top-level part.
	Envelope *Envelope `json:"env,omitempty"`
	Message  *Part     `json:"m,omitempty"`
}

// Size is the body size in octets.
func (p *Part) Size() int64 { return p.End - p.BodyStart }

// Envelope is RFC 9051 7.5.2 ENVELOPE, header values decoded from RFC 2047
// to UTF-8 where they could be decoded, kept raw where not.
type Envelope struct {
	Date      string    `json:"date,omitempty"` // the Date header as written
	Subject   string    `json:"subj,omitempty"`
	From      []Address `json:"from,omitempty"`
	Sender    []Address `json:"sender,omitempty"`
	ReplyTo   []Address `json:"rt,omitempty"`
	To        []Address `json:"to,omitempty"`
	Cc        []Address `json:"cc,omitempty"`
	Bcc       []Address `json:"bcc,omitempty"`
	InReplyTo []string  `json:"irt,omitempty"` // message ids without angle brackets
	MessageID string    `json:"mid,omitempty"` // without angle brackets
}

// Address is one mailbox of an address list, its fields in the order of
// an ENVELOPE address (RFC 9051 7.5.2: name, adl, mailbox, host).
type Address struct {
	Name string `json:"n,omitempty"`
	// Route is an RFC 822 source route (RFC 5322 4.4 obs-route), the
	// ENVELOPE's at-domain-list: "@a.example,@b.example" for
	// <@a.example,@b.example:user@host>, as Dovecot writes it; mostly "".
	Route   string `json:"r,omitempty"`
	Mailbox string `json:"m,omitempty"` // local part
	Host    string `json:"h,omitempty"`
}
