package storage

import (
	"fmt"
	"maps"
	"slices"
)

// Object records are read once per message by every IMAP SEARCH, FETCH of
// ENVELOPE or BODYSTRUCTURE, and POP3 TOP: on a 100,000-message mailbox a
// header search decodes 100,000 of them. As JSON (version 1, still read)
// the decode was most of a search's time, so they are now written packed
// (strings are a uvarint length and the bytes; counts are uvarints):
//
//	record:   vObjectPacked, size lines (uvarint), sha256 (32 bytes),
//	          refs chunks (uvarint), created (varint Unix ns, 0 = none),
//	          flags (1 byte: 1 = part follows, 2 = envelope follows,
//	          4 = prefix follows, 8 = routes follow), [part] [envelope]
//	          [prefix (string)] [routes]
//	part:     type subtype id description encoding disposition location
//	          md5 (strings), params and disposition params (count, then
//	          key and value strings in key order), language (count +
//	          strings), headerStart bodyStart end lines (uvarint),
//	          children (count + parts), a presence byte (1 = envelope,
//	          2 = enclosed message), [envelope] [part]
//	envelope: date subject messageID (strings), from sender replyTo to cc
//	          bcc (each a count + name mailbox host triples), inReplyTo
//	          (count + strings)
//	routes:   the source routes (Address.Route, rare) of the record's
//	          addresses, kept apart so that a record without one is as
//	          before: count, then per route the address's index in
//	          eachAddress order (uvarint) and the route (string)
const vObjectPacked byte = 2

// maxPartDepth bounds recursion when decoding, so that a corrupt record
// cannot exhaust the stack; the MIME parser stops nesting far earlier.
const maxPartDepth = 256

func encodeObject(rec *objectRecord) []byte {
	e := enc(make([]byte, 0, 256))
	e = append(e, vObjectPacked)
	e = e.uv(uint64(rec.Size)).uv(uint64(rec.Lines))
	e = append(e, rec.SHA256[:]...)
	e = e.uv(uint64(rec.RefCount)).uv(uint64(rec.Chunks)).v(unixNano(rec.Created))
	var flags byte
	if rec.Structure != nil {
		flags |= 1
	}
	if rec.Envelope != nil {
		flags |= 2
	}
	if len(rec.Prefix) > 0 {
		flags |= 4
	}
	var routes enc
	nRoutes := 0
	eachAddress(rec, func(i int, a *Address) {
		if a.Route != "" {
			routes = routes.uv(uint64(i)).str(a.Route)
			nRoutes++
		}
	})
	if nRoutes > 0 {
		flags |= 8
	}
	e = append(e, flags)
	if rec.Structure != nil {
		e = e.part(rec.Structure)
	}
	if rec.Envelope != nil {
		e = e.envelope(rec.Envelope)
	}
	if len(rec.Prefix) > 0 {
		e = e.str(string(rec.Prefix))
	}
	if nRoutes > 0 {
		e = append(e.uv(uint64(nRoutes)), routes...)
	}
	return e
}

// eachAddress calls fn with every address of a record's envelopes (its
// own, then those of enclosed messages, depth first) and its index in
// that order, which the routes of the packed form refer to.
func eachAddress(rec *objectRecord, fn func(i int, a *Address)) {
	i := 0
	env := func(v *Envelope) {
		if v == nil {
			return
		}
		for _, l := range [][]Address{v.From, v.Sender, v.ReplyTo, v.To, v.Cc, v.Bcc} {
			for k := range l {
				fn(i, &l[k])
				i++
			}
		}
	}
	var part func(p *Part, depth int)
	part = func(p *Part, depth int) {
		if p == nil || depth > maxPartDepth {
			return
		}
		for _, c := range p.Children {
			part(c, depth+1)
		}
		env(p.Envelope)
		part(p.Message, depth+1)
	}
	env(rec.Envelope)
	part(rec.Structure, 0)
}

// decodeObject reads either form: packed, or JSON from before it.
func decodeObject(b []byte) (*objectRecord, error) { return decodeObjectOpt(b, true) }

// decodeObjectOpt is decodeObject that, unless withEnvelope, steps over
// the top-level envelope (and its addresses' routes) without building it:
// a FETCH of body sections needs the structure and the prefix only.
func decodeObjectOpt(b []byte, withEnvelope bool) (*objectRecord, error) {
	rec := &objectRecord{}
	if len(b) > 0 && b[0] == vObject {
		return rec, decodeJSON(vObject, b, rec)
	}
	d := dec{b: b, all: string(b)}
	if d.byte1() != vObjectPacked {
		return nil, errCorrupt
	}
	rec.Size = int64(d.uv())
	rec.Lines = int64(d.uv())
	if len(d.b) < 32 {
		return nil, errCorrupt
	}
	copy(rec.SHA256[:], d.b)
	d.b = d.b[32:]
	rec.RefCount = uint32(d.uv())
	rec.Chunks = uint32(d.uv())
	if n := d.v(); n != 0 {
		rec.Created = fromUnixNano(n).UTC()
	}
	flags := d.byte1()
	if flags&1 != 0 {
		rec.Structure = d.part(0)
	}
	skipped := 0 // addresses of the envelope stepped over
	if flags&2 != 0 {
		if withEnvelope {
			rec.Envelope = d.envelope()
		} else {
			skipped = d.skipEnvelope()
		}
	}
	if flags&4 != 0 {
		rec.Prefix = []byte(d.str())
	}
	if flags&8 != 0 && d.err == nil {
		routes := make(map[int]string)
		for n := d.count(2); n > 0; n-- {
			i := int(d.uv())
			r := d.str()
			if i >= skipped {
				routes[i-skipped] = r
			}
		}
		found := 0
		eachAddress(rec, func(i int, a *Address) {
			if r, ok := routes[i]; ok {
				a.Route = r
				found++
			}
		})
		if found != len(routes) && d.err == nil {
			d.err = errCorrupt // a route for an address the record lacks
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt // trailing bytes: not a record we wrote
	}
	if d.err != nil {
		return nil, d.err
	}
	return rec, nil
}

func (e enc) strs(ss []string) enc {
	e = e.uv(uint64(len(ss)))
	for _, s := range ss {
		e = e.str(s)
	}
	return e
}

func (e enc) params(m map[string]string) enc {
	e = e.uv(uint64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		e = e.str(k).str(m[k])
	}
	return e
}

func (e enc) part(p *Part) enc {
	e = e.str(p.Type).str(p.Subtype).str(p.ID).str(p.Description).str(p.Encoding).
		str(p.Disposition).str(p.Location).str(p.MD5)
	e = e.params(p.Params).params(p.DispParams).strs(p.Language)
	e = e.uv(uint64(p.HeaderStart)).uv(uint64(p.BodyStart)).uv(uint64(p.End)).uv(uint64(p.Lines))
	e = e.uv(uint64(len(p.Children)))
	for _, c := range p.Children {
		e = e.part(c)
	}
	var has byte
	if p.Envelope != nil {
		has |= 1
	}
	if p.Message != nil {
		has |= 2
	}
	e = append(e, has)
	if p.Envelope != nil {
		e = e.envelope(p.Envelope)
	}
	if p.Message != nil {
		e = e.part(p.Message)
	}
	return e
}

func (e enc) addrs(as []Address) enc {
	e = e.uv(uint64(len(as)))
	for _, a := range as {
		e = e.str(a.Name).str(a.Mailbox).str(a.Host)
	}
	return e
}

func (e enc) envelope(v *Envelope) enc {
	e = e.str(v.Date).str(v.Subject).str(v.MessageID)
	for _, l := range [][]Address{v.From, v.Sender, v.ReplyTo, v.To, v.Cc, v.Bcc} {
		e = e.addrs(l)
	}
	return e.strs(v.InReplyTo)
}

// count reads a length and checks it against what is left: every element
// takes at least min bytes, so a corrupt count cannot make a huge slice.
func (d *dec) count(min int) int {
	n := d.uv()
	if d.err == nil && n > uint64(len(d.b)/min) {
		d.err = errCorrupt
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

func (d *dec) strs() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *dec) params() map[string]string {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str()
		m[k] = d.str()
	}
	return m
}

func (d *dec) part(depth int) *Part {
	if depth > maxPartDepth {
		d.err = errCorrupt
	}
	if d.err != nil {
		return nil
	}
	p := &Part{
		Type: d.str(), Subtype: d.str(), ID: d.str(), Description: d.str(), Encoding: d.str(),
		Disposition: d.str(), Location: d.str(), MD5: d.str(),
	}
	p.Params = d.params()
	p.DispParams = d.params()
	p.Language = d.strs()
	p.HeaderStart, p.BodyStart, p.End, p.Lines = int64(d.uv()), int64(d.uv()), int64(d.uv()), int64(d.uv())
	if n := d.count(1); n > 0 {
		p.Children = make([]*Part, n)
		for i := range p.Children {
			p.Children[i] = d.part(depth + 1)
		}
	}
	has := d.byte1()
	if has&1 != 0 {
		p.Envelope = d.envelope()
	}
	if has&2 != 0 {
		p.Message = d.part(depth + 1)
	}
	if d.err != nil {
		return nil
	}
	return p
}

func (d *dec) addrs() []Address {
	n := d.count(3)
	if n == 0 {
		return nil
	}
	out := make([]Address, n)
	for i := range out {
		out[i] = Address{Name: d.str(), Mailbox: d.str(), Host: d.str()}
	}
	return out
}

func (d *dec) envelope() *Envelope {
	v := &Envelope{Date: d.str(), Subject: d.str(), MessageID: d.str()}
	v.From, v.Sender, v.ReplyTo = d.addrs(), d.addrs(), d.addrs()
	v.To, v.Cc, v.Bcc = d.addrs(), d.addrs(), d.addrs()
	v.InReplyTo = d.strs()
	if d.err != nil {
		return nil
	}
	return v
}

// decodeEnvelope reads only the top-level envelope of a packed record,
// stepping over the MIME structure without building it: a header SEARCH
// (SUBJECT, FROM...) over 20,000 messages needs nothing else. The routes
// of its addresses come first in eachAddress order, so indices below the
// envelope's address count are its own. A JSON record is decoded whole.
func decodeEnvelope(b []byte) (*Envelope, error) {
	if len(b) > 0 && b[0] == vObject {
		rec, err := decodeObject(b)
		if err != nil {
			return nil, err
		}
		return rec.Envelope, nil
	}
	d := dec{b: b, all: string(b)}
	if d.byte1() != vObjectPacked {
		return nil, errCorrupt
	}
	d.uv()
	d.uv()
	if len(d.b) < 32 {
		return nil, errCorrupt
	}
	d.b = d.b[32:]
	d.uv()
	d.uv()
	d.v()
	flags := d.byte1()
	if flags&1 != 0 {
		d.skipPart(0)
	}
	if flags&2 == 0 || d.err != nil {
		return nil, d.err
	}
	env := d.envelope()
	if flags&4 != 0 {
		d.skip()
	}
	if flags&8 != 0 && d.err == nil {
		var own []*Address
		for _, l := range [][]Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
			for k := range l {
				own = append(own, &l[k])
			}
		}
		for n := d.count(2); n > 0 && d.err == nil; n-- {
			i, r := d.uv(), d.str()
			if i < uint64(len(own)) {
				own[i].Route = r
			}
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return env, nil
}

// skip steps over a string.
func (d *dec) skip() {
	n := d.uv()
	if d.err != nil || uint64(len(d.b)) < n {
		d.err = errCorrupt
		return
	}
	d.b = d.b[n:]
}

// skipN steps over a count and then per item k strings; it returns the
// count.
func (d *dec) skipN(k int) int {
	n := d.count(k)
	for i := 0; i < n && d.err == nil; i++ {
		for range k {
			d.skip()
		}
	}
	return n
}

// skipPart steps over what part wrote.
func (d *dec) skipPart(depth int) {
	if depth > maxPartDepth {
		d.err = errCorrupt
	}
	for range 8 {
		d.skip()
	}
	d.skipN(2) // params
	d.skipN(2) // disposition params
	d.skipN(1) // language
	for range 4 {
		d.uv()
	}
	for n := d.count(1); n > 0 && d.err == nil; n-- {
		d.skipPart(depth + 1)
	}
	has := d.byte1()
	if has&1 != 0 {
		d.skipEnvelope()
	}
	if has&2 != 0 {
		d.skipPart(depth + 1)
	}
}

// skipEnvelope steps over what envelope wrote and returns the number of
// its addresses.
func (d *dec) skipEnvelope() int {
	for range 3 {
		d.skip()
	}
	n := 0
	for range 6 {
		n += d.skipN(3)
	}
	d.skipN(1)
	return n
}

// objectError names the object in a decoding error.
func objectError(id ObjectID, err error) error { return fmt.Errorf("object %d: %w", id, err) }
