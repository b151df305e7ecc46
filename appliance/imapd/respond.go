package imapd

import (
	"math"
	"mime"
	"slices"
	"strings"

	"postroom/storage"
)

// Writing ENVELOPE and BODYSTRUCTURE (RFC 9051 7.5.2) from the structure
// storage cached at delivery. The Date goes out as it was written, not
// reparsed; text that is not ASCII goes out as RFC 2047 words unless the
// client enabled UTF8=ACCEPT (RFC 6855 3), which every client reads.

// headerText is an nstring of header text for the envelope.
func (c *conn) headerText(s string) {
	if s == "" {
		c.w.NIL()
		return
	}
	if !c.utf8 && !isASCII(s) {
		s = mime.QEncoding.Encode("utf-8", s)
	}
	c.w.String(s)
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func (c *conn) nstring(s string) {
	if s == "" {
		c.w.NIL()
		return
	}
	c.w.String(s)
}

// writeEnvelope writes an ENVELOPE's parenthesised list.
func (c *conn) writeEnvelope(e *storage.Envelope) {
	w := c.w
	if e == nil {
		e = &storage.Envelope{}
	}
	w.BeginList()
	c.nstring(e.Date)
	c.headerText(e.Subject)
	from := e.From
	sender, replyTo := e.Sender, e.ReplyTo
	// RFC 9051 7.5.2: Sender and Reply-To default to From.
	if len(sender) == 0 {
		sender = from
	}
	if len(replyTo) == 0 {
		replyTo = from
	}
	for _, list := range [][]storage.Address{from, sender, replyTo, e.To, e.Cc, e.Bcc} {
		c.writeAddresses(list)
	}
	if len(e.InReplyTo) == 0 {
		w.NIL()
	} else {
		w.String("<" + strings.Join(e.InReplyTo, "> <") + ">")
	}
	if e.MessageID == "" {
		w.NIL()
	} else {
		w.String("<" + e.MessageID + ">")
	}
	w.EndList()
}

// writeAddresses writes an address list, NIL when empty. A group's start
// is a mailbox without a host, its end an empty address (RFC 9051 7.5.2).
func (c *conn) writeAddresses(list []storage.Address) {
	w := c.w
	if len(list) == 0 {
		w.NIL()
		return
	}
	w.BeginList()
	for _, a := range list {
		w.BeginList()
		c.headerText(a.Name)
		c.nstring(a.Route) // adl: an RFC 822 source route, "@a,@b"
		c.nstring(a.Mailbox)
		c.nstring(a.Host)
		w.EndList()
	}
	w.EndList()
}

// writeBodyStructure writes BODY (extended false) or BODYSTRUCTURE.
func (c *conn) writeBodyStructure(p *storage.Part, extended bool, depth int) {
	w := c.w
	if p == nil {
		p = &storage.Part{Type: "text", Subtype: "plain"}
	}
	if p.Type == "multipart" && len(p.Children) > 0 && depth < 100 {
		w.BeginList()
		for _, ch := range p.Children {
			w.Adjacent()
			c.writeBodyStructure(ch, extended, depth+1)
		}
		w.String(p.Subtype)
		if extended {
			c.writeParams(p.Params)
			c.writeDisposition(p)
			c.writeLanguage(p.Language)
			c.nstring(p.Location)
		}
		w.EndList()
		return
	}
	typ, sub, params := p.Type, p.Subtype, p.Params
	if typ == "multipart" || typ == "" {
		typ, sub, params = "text", "plain", nil
	}
	w.BeginList()
	w.String(typ).String(sub)
	c.writeParams(params)
	c.nstring(p.ID)
	c.headerText(p.Description)
	enc := p.Encoding
	if enc == "" {
		enc = "7bit"
	}
	w.String(enc)
	w.Number(uint64(clamp32(p.Size())))
	switch {
	case p.Message != nil && typ == "message" && depth < 100:
		c.writeEnvelope(p.Envelope)
		c.writeBodyStructure(p.Message, extended, depth+1)
		w.Number(uint64(clamp32(p.Lines)))
	case typ == "text":
		w.Number(uint64(clamp32(p.Lines)))
	}
	if extended {
		c.nstring(p.MD5)
		c.writeDisposition(p)
		c.writeLanguage(p.Language)
		c.nstring(p.Location)
	}
	w.EndList()
}

func (c *conn) writeParams(params map[string]string) {
	w := c.w
	if len(params) == 0 {
		w.NIL()
		return
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w.BeginList()
	for _, k := range keys {
		w.String(k)
		c.headerText(params[k])
	}
	w.EndList()
}

func (c *conn) writeDisposition(p *storage.Part) {
	if p.Disposition == "" {
		c.w.NIL()
		return
	}
	c.w.BeginList().String(p.Disposition)
	c.writeParams(p.DispParams)
	c.w.EndList()
}

func (c *conn) writeLanguage(langs []string) {
	switch len(langs) {
	case 0:
		c.w.NIL()
	case 1:
		c.w.String(langs[0])
	default:
		c.w.BeginList()
		for _, l := range langs {
			c.w.String(l)
		}
		c.w.EndList()
	}
}

// clamp32 fits a size into a number (RFC 9051 9: 32 bits).
func clamp32(n int64) uint32 {
	switch {
	case n < 0:
		return 0
	case n > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(n)
}
