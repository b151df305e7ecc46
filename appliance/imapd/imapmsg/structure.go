package imapmsg

import (
	"math"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"postroom/storage"
)

// Envelope converts a cached envelope to go-imap's (RFC 9051 7.5.2).
//
// storage keeps Subject and display names decoded to UTF-8; go-imap
// (imapserver/fetch.go writeEnvelope) encodes them again with RFC 2047
// Q-encoding whenever they are not plain ASCII, which every client
// understands with or without UTF8=ACCEPT. What go-imap cannot carry is a
// Date header it cannot parse: imap.Envelope.Date is a time.Time, so such a
// date goes out as NIL rather than as the string written.
func Envelope(e *storage.Envelope) *imap.Envelope {
	if e == nil {
		return &imap.Envelope{}
	}
	out := &imap.Envelope{
		Date:      parseDate(e.Date),
		Subject:   e.Subject,
		From:      addresses(e.From),
		Sender:    addresses(e.Sender),
		ReplyTo:   addresses(e.ReplyTo),
		To:        addresses(e.To),
		Cc:        addresses(e.Cc),
		Bcc:       addresses(e.Bcc),
		InReplyTo: e.InReplyTo,
		MessageID: e.MessageID,
	}
	return out
}

func addresses(in []storage.Address) []imap.Address {
	if len(in) == 0 {
		return nil
	}
	out := make([]imap.Address, len(in))
	for i, a := range in {
		out[i] = imap.Address{Name: a.Name, Mailbox: a.Mailbox, Host: a.Host}
	}
	return out
}

// parseDate reads a Date header value (RFC 5322 3.3, with net/mail's
// tolerance of the obsolete forms); the zero time when it cannot.
func parseDate(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := mail.ParseDate(s)
	if err != nil {
		// A trailing comment other than the "(UTC)" net/mail knows, or
		// a day name it rejects: retry without them.
		if i := strings.IndexByte(s, '('); i > 0 {
			if t, err = mail.ParseDate(strings.TrimSpace(s[:i])); err == nil {
				return t
			}
		}
		return time.Time{}
	}
	return t
}

// BodyStructure converts a cached MIME tree to go-imap's (RFC 9051 7.5.2).
// With extended, every part (enclosed messages' parts too) carries its
// extension data, as go-imap requires when it writes BODYSTRUCTURE; pass
// extended whenever the client asked for BODYSTRUCTURE: go-imap leaves the
// extension data out itself when it writes BODY.
//
// go-imap beta.8 always writes body-fld-md5 as NIL, so Content-MD5 (kept
// by storage) cannot reach the client.
func BodyStructure(p *storage.Part, extended bool) imap.BodyStructure {
	if p == nil {
		p = &storage.Part{Type: "text", Subtype: "plain"}
	}
	if p.Type == "multipart" && len(p.Children) > 0 {
		mp := &imap.BodyStructureMultiPart{Subtype: p.Subtype}
		mp.Children = make([]imap.BodyStructure, len(p.Children))
		for i, c := range p.Children {
			mp.Children[i] = BodyStructure(c, extended)
		}
		if extended {
			mp.Extended = &imap.BodyStructureMultiPartExt{
				Params:      p.Params,
				Disposition: disposition(p),
				Language:    p.Language,
				Location:    p.Location,
			}
		}
		return mp
	}
	sp := &imap.BodyStructureSinglePart{
		Type:        p.Type,
		Subtype:     p.Subtype,
		Params:      p.Params,
		ID:          p.ID,
		Description: p.Description,
		Encoding:    p.Encoding,
		Size:        clamp32(p.Size()),
	}
	if p.Type == "multipart" {
		// Not produced by storage (a multipart without parts is parsed as
		// text), but go-imap panics on a multipart without children.
		sp.Type, sp.Subtype, sp.Params = "text", "plain", nil
	}
	switch {
	case p.Message != nil && p.Type == "message":
		sp.MessageRFC822 = &imap.BodyStructureMessageRFC822{
			Envelope:      Envelope(p.Envelope),
			BodyStructure: BodyStructure(p.Message, extended),
			NumLines:      p.Lines,
		}
	case sp.Type == "text":
		sp.Text = &imap.BodyStructureText{NumLines: p.Lines}
	}
	if extended {
		sp.Extended = &imap.BodyStructureSinglePartExt{
			Disposition: disposition(p),
			Language:    p.Language,
			Location:    p.Location,
		}
	}
	return sp
}

func disposition(p *storage.Part) *imap.BodyStructureDisposition {
	if p.Disposition == "" {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: p.Disposition, Params: p.DispParams}
}

// clamp32 fits a size into body-fld-octets (a number, RFC 9051 9: 32 bits).
func clamp32(n int64) uint32 {
	switch {
	case n < 0:
		return 0
	case n > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(n)
}
