package imapmsg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"postroom/storage"
)

// Loader gives Search the cached structure and the bytes of a message;
// *storage.Store satisfies it.
type Loader interface {
	Object(storage.ObjectID) (storage.Object, error)
	OpenObjectBody(storage.Object) *storage.Body
}

var _ Loader = (*storage.Store)(nil)

// EnvelopeLoader is a Loader that also reads an object's envelope alone,
// without decoding its MIME structure: a SUBJECT or FROM search over
// 20,000 messages needs nothing else of them.
type EnvelopeLoader interface {
	Envelope(storage.ObjectID) (*storage.Envelope, error)
}

var _ EnvelopeLoader = (*storage.Store)(nil)

// EnvelopeScanner is a Loader that reads many envelopes faster from one
// snapshot than one by one (storage.ScanEnvelopes); Search opens one at
// its first envelope and closes it at the end.
type EnvelopeScanner interface {
	ScanEnvelopes() (storage.EnvelopeReader, func())
}

var _ EnvelopeScanner = (*storage.Store)(nil)

// Candidate is one message of the selected mailbox that SEARCH looks at.
type Candidate struct {
	SeqNum  uint32
	Message storage.Message
	// Recent says the message is \Recent for the searching session
	// (RFC 3501 2.3.2: session state, not stored).
	Recent bool
}

// Search returns the candidates that match c (RFC 9051 6.4.4), in the
// order given. cands should be the whole mailbox in sequence order: "*" in
// a sequence or UID set means the largest number among them. A SEARCHRES
// "$" (imap.SearchRes) must be replaced by the saved set before the call;
// here it matches nothing.
//
// Keys are checked cheapest first, per message: sequence numbers, UIDs,
// flags, internal date, size and MODSEQ from the metadata in cands; then
// the cached envelope (SENT*, FROM, TO, CC, BCC, SUBJECT); then the stored
// header (other HEADER fields); then the decoded text (BODY, TEXT). An
// object is loaded, and a body opened, only when a key needs it and the
// cheaper keys have not decided already; one body is open at a time, and
// all BODY and TEXT strings are looked for in a single pass over it.
//
// Semantics, where RFC 9051 leaves room:
//   - Strings match case-insensitively as substrings of decoded text:
//     header values RFC 2047 decoded, text parts with base64 or
//     quoted-printable undone and their charset converted to UTF-8 where
//     go-message knows it (the IANA and WHATWG charsets); text in an
//     unknown charset is searched as stored, and bytes that are not UTF-8
//     are read as Latin-1. Only text/* parts and the headers of enclosed
//     messages count as body text. HTML is searched as it reads: without
//     its markup, comments, scripts and styles, entities decoded.
//     Case folding is rune by rune, except that ß and ẞ match "ss".
//   - FROM, TO, CC, BCC and SUBJECT match the envelope fields (RFC 9051:
//     "the envelope structure's FROM field"), each address as
//     `Name <mailbox@host>`; HEADER of any other field, and these with an
//     empty string (which asks whether the field exists), read the header.
//   - BEFORE, ON, SINCE compare the internal date's day in the server's
//     time zone (time.Local); SENT* compare the day of the Date header as
//     written in its own zone, or of the internal date when there is no
//     readable Date header.
//   - \Recent is never set (IMAP4rev2 has no \Recent); keywords match in
//     any case.
//
// A message whose object has vanished meanwhile (expunged and erased) is
// left out. Search stops with ctx's error when ctx ends.
func Search(ctx context.Context, ld Loader, c *imap.SearchCriteria, cands []Candidate) ([]Candidate, error) {
	if c == nil {
		c = &imap.SearchCriteria{}
	}
	q := &query{}
	root := q.compile(c)
	for _, cd := range cands {
		q.maxSeq = max(q.maxSeq, cd.SeqNum)
		q.maxUID = max(q.maxUID, cd.Message.UID)
	}
	st := &msgState{ctx: ctx, ld: ld, q: q}
	defer func() {
		if st.envDone != nil {
			st.envDone()
		}
	}()
	if len(q.bodyNeedles) > 0 || len(q.textNeedles) > 0 {
		st.bodyM = newMatcher(append(slices.Clone(q.bodyNeedles), q.textNeedles...))
		st.headM = newMatcher(q.textNeedles)
		st.scan.buf = make([]byte, 32<<10)
	}
	// Matches are collected as indices and copied once at the end: a
	// growing []Candidate would copy 100,000 records over and over.
	var hits []int32
	for i := range cands {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		st.reset(&cands[i])
		ok, err := root.eval(st)
		st.close()
		switch {
		case errors.Is(err, errVanished), errors.Is(err, storage.ErrNotFound):
			// Expunged and erased while the search ran: not a match.
			continue
		case err != nil:
			return nil, fmt.Errorf("imapmsg: search message uid %d: %w", cands[i].Message.UID, err)
		case ok:
			hits = append(hits, int32(i))
		}
	}
	if len(hits) == 0 {
		return nil, nil
	}
	out := make([]Candidate, len(hits))
	for k, i := range hits {
		out[k] = cands[i]
	}
	return out, nil
}

// cost orders keys: cheaper tiers are evaluated first.
type cost int

const (
	costMeta   cost = iota // the Candidate itself
	costObject             // the cached object record (envelope)
	costHeader             // the stored header
	costBody               // the decoded text
)

type nodeKind int

const (
	nodeAnd nodeKind = iota
	nodeOr
	nodeNot
	nodeLeaf
)

// node is a compiled search key.
type node struct {
	kind nodeKind
	kids []*node
	cost cost
	leaf func(*msgState) (bool, error)
}

func (n *node) eval(st *msgState) (bool, error) {
	switch n.kind {
	case nodeLeaf:
		return n.leaf(st)
	case nodeNot:
		ok, err := n.kids[0].eval(st)
		return !ok, err
	case nodeOr:
		for _, k := range n.kids {
			if ok, err := k.eval(st); ok || err != nil {
				return ok, err
			}
		}
		return false, nil
	}
	for _, k := range n.kids {
		if ok, err := k.eval(st); !ok || err != nil {
			return false, err
		}
	}
	return true, nil
}

// query is a compiled SEARCH: the strings BODY and TEXT look for, folded,
// and what "*" stands for.
type query struct {
	bodyNeedles [][]byte
	textNeedles [][]byte
	maxSeq      uint32
	maxUID      uint32
}

func leaf(c cost, f func(*msgState) (bool, error)) *node {
	return &node{kind: nodeLeaf, cost: c, leaf: f}
}

func meta(f func(m *Candidate) bool) *node {
	return leaf(costMeta, func(st *msgState) (bool, error) { return f(st.cand), nil })
}

// combine makes an AND or OR of kids, cheapest first.
func combine(kind nodeKind, kids []*node) *node {
	slices.SortStableFunc(kids, func(a, b *node) int { return int(a.cost) - int(b.cost) })
	n := &node{kind: kind, kids: kids}
	for _, k := range kids {
		n.cost = max(n.cost, k.cost)
	}
	return n
}

// compile turns criteria into a node: the AND of every key set in c.
func (q *query) compile(c *imap.SearchCriteria) *node {
	var kids []*node
	for _, set := range c.SeqNum {
		kids = append(kids, meta(func(m *Candidate) bool { return inSeqSet(set, m.SeqNum, q.maxSeq) }))
	}
	for _, set := range c.UID {
		kids = append(kids, meta(func(m *Candidate) bool { return inUIDSet(set, m.Message.UID, q.maxUID) }))
	}
	if !c.Since.IsZero() {
		day := civil(c.Since)
		kids = append(kids, meta(func(m *Candidate) bool { return civil(m.Message.InternalDate.In(time.Local)) >= day }))
	}
	if !c.Before.IsZero() {
		day := civil(c.Before)
		kids = append(kids, meta(func(m *Candidate) bool { return civil(m.Message.InternalDate.In(time.Local)) < day }))
	}
	if !c.SentSince.IsZero() {
		day := civil(c.SentSince)
		kids = append(kids, leaf(costObject, func(st *msgState) (bool, error) {
			d, err := st.sentDay()
			return d >= day, err
		}))
	}
	if !c.SentBefore.IsZero() {
		day := civil(c.SentBefore)
		kids = append(kids, leaf(costObject, func(st *msgState) (bool, error) {
			d, err := st.sentDay()
			return d < day, err
		}))
	}
	for _, h := range c.Header {
		kids = append(kids, q.header(h))
	}
	for _, s := range c.Body {
		kids = append(kids, q.text(s, false))
	}
	for _, s := range c.Text {
		kids = append(kids, q.text(s, true))
	}
	for _, f := range c.Flag {
		has := flagTest(f)
		if strings.EqualFold(string(f), `\Recent`) {
			kids = append(kids, meta(func(m *Candidate) bool { return m.Recent }))
			continue
		}
		kids = append(kids, meta(func(m *Candidate) bool { return has(&m.Message) }))
	}
	for _, f := range c.NotFlag {
		has := flagTest(f)
		if strings.EqualFold(string(f), `\Recent`) {
			kids = append(kids, meta(func(m *Candidate) bool { return !m.Recent }))
			continue
		}
		kids = append(kids, meta(func(m *Candidate) bool { return !has(&m.Message) }))
	}
	if c.Larger > 0 {
		kids = append(kids, meta(func(m *Candidate) bool { return m.Message.Size > c.Larger }))
	}
	if c.Smaller > 0 {
		kids = append(kids, meta(func(m *Candidate) bool { return m.Message.Size < c.Smaller }))
	}
	if c.ModSeq != nil {
		// RFC 7162 3.1.5: MODSEQ matches messages whose mod-sequence is
		// at least the value. Private and shared metadata are the same
		// here: flags are per mailbox, not per user.
		ms := c.ModSeq.ModSeq
		kids = append(kids, meta(func(m *Candidate) bool { return m.Message.ModSeq >= ms }))
	}
	for i := range c.Not {
		k := q.compile(&c.Not[i])
		kids = append(kids, &node{kind: nodeNot, kids: []*node{k}, cost: k.cost})
	}
	for i := range c.Or {
		kids = append(kids, combine(nodeOr, []*node{q.compile(&c.Or[i][0]), q.compile(&c.Or[i][1])}))
	}
	return combine(nodeAnd, kids)
}

// envelopeFields are the HEADER keys answered from the cached envelope.
var envelopeFields = map[string]func(*storage.Envelope) string{
	"from":    func(e *storage.Envelope) string { return addressText(e.From) },
	"to":      func(e *storage.Envelope) string { return addressText(e.To) },
	"cc":      func(e *storage.Envelope) string { return addressText(e.Cc) },
	"bcc":     func(e *storage.Envelope) string { return addressText(e.Bcc) },
	"subject": func(e *storage.Envelope) string { return e.Subject },
}

// header compiles HEADER name string, and FROM, TO, CC, BCC, SUBJECT,
// which go-imap passes as HEADER too.
func (q *query) header(h imap.SearchCriteriaHeaderField) *node {
	needle := foldString(h.Value)
	if get, ok := envelopeFields[strings.ToLower(h.Key)]; ok && h.Value != "" {
		return leaf(costObject, func(st *msgState) (bool, error) {
			env, err := st.envelope()
			if err != nil || env == nil {
				return false, err
			}
			return containsFolded(get(env), needle, &st.scratch), nil
		})
	}
	return leaf(costHeader, func(st *msgState) (bool, error) {
		fields, err := st.header()
		if err != nil {
			return false, err
		}
		for _, f := range fields {
			if !strings.EqualFold(f.Name, h.Key) {
				continue
			}
			// RFC 9051 6.4.4: an empty string matches every message
			// that has the field.
			if len(needle) == 0 || containsFolded(storage.DecodeHeaderValue(f.Value), needle, &st.scratch) {
				return true, nil
			}
		}
		return false, nil
	})
}

// text compiles BODY string (withHeader false) and TEXT string.
func (q *query) text(s string, withHeader bool) *node {
	needle := foldString(s)
	if len(needle) == 0 {
		return meta(func(*Candidate) bool { return true })
	}
	if !withHeader {
		i := len(q.bodyNeedles)
		q.bodyNeedles = append(q.bodyNeedles, needle)
		return leaf(costBody, func(st *msgState) (bool, error) {
			if err := st.scanText(); err != nil {
				return false, err
			}
			return st.bodyM.found[i], nil
		})
	}
	i := len(q.textNeedles)
	q.textNeedles = append(q.textNeedles, needle)
	return leaf(costBody, func(st *msgState) (bool, error) {
		if err := st.scanText(); err != nil {
			return false, err
		}
		return st.headM.found[i] || st.bodyM.found[len(q.bodyNeedles)+i], nil
	})
}

// addressText renders an address list for FROM/TO/CC/BCC matching.
func addressText(list []storage.Address) string {
	var b strings.Builder
	for _, a := range list {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		switch {
		case a.Host == "" && a.Mailbox != "": // group start (RFC 9051 7.5.2)
			b.WriteString(a.Mailbox + ":")
		case a.Host == "": // group end
			b.WriteString(";")
		case a.Name != "":
			b.WriteString(a.Name + " <" + a.Mailbox + "@" + a.Host + ">")
		default:
			b.WriteString(a.Mailbox + "@" + a.Host)
		}
	}
	return b.String()
}

// flagTest compiles a flag name (RFC 9051 2.3.2) into a test.
func flagTest(f imap.Flag) func(*storage.Message) bool {
	if bits, kw := storage.ParseFlags([]string{string(f)}); bits != 0 {
		return func(m *storage.Message) bool { return m.Flags&bits != 0 }
	} else if len(kw) == 1 {
		return func(m *storage.Message) bool {
			for _, k := range m.Keywords {
				if strings.EqualFold(k, kw[0]) {
					return true
				}
			}
			return false
		}
	}
	// \Recent, or another system flag nobody sets.
	return func(*storage.Message) bool { return false }
}

// inSeqSet reports n in set, "*" being last (RFC 9051 9: seq-range is
// unordered, and "*" is the largest number in use).
func inSeqSet(set imap.SeqSet, n, last uint32) bool {
	for _, r := range set {
		if inRange(r.Start, r.Stop, n, last) {
			return true
		}
	}
	return false
}

func inUIDSet(set imap.UIDSet, uid, last uint32) bool {
	for _, r := range set {
		if inRange(uint32(r.Start), uint32(r.Stop), uid, last) {
			return true
		}
	}
	return false
}

func inRange(a, b, n, last uint32) bool {
	if a == 0 {
		a = last
	}
	if b == 0 {
		b = last
	}
	if a > b {
		a, b = b, a
	}
	return a <= n && n <= b
}

// civil is the calendar day of t in t's location, as a comparable number.
func civil(t time.Time) int {
	y, m, d := t.Date()
	return y*10000 + int(m)*100 + d
}

// errVanished marks a message whose object is gone: not a match, not an
// error.
var errVanished = errors.New("imapmsg: message vanished")

// msgState is what is known about the candidate being evaluated; each
// piece is loaded at most once, on first need.
type msgState struct {
	ctx context.Context
	ld  Loader
	q   *query

	cand    *Candidate
	env     *storage.Envelope // when read alone (envelope)
	gotEnv  bool
	envs    EnvelopeLoader // how envelopes are read alone, once known
	envDone func()         // closes envs when it is a scan
	obj     *storage.Object
	objBuf  storage.Object
	body    *storage.Body
	fields  []storage.HeaderField
	gotHdr  bool
	scanned bool
	scratch []byte

	bodyM, headM *matcher
	scan         textScan
}

func (st *msgState) reset(c *Candidate) {
	st.cand, st.obj, st.fields, st.gotHdr, st.scanned = c, nil, nil, false, false
	st.env, st.gotEnv = nil, false
}

func (st *msgState) close() {
	if st.body != nil {
		st.body.Close()
		st.body = nil
	}
}

func (st *msgState) object() (*storage.Object, error) {
	if st.obj != nil {
		return st.obj, nil
	}
	o, err := st.ld.Object(st.cand.Message.Object)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errVanished
	}
	if err != nil {
		return nil, err
	}
	if o.Structure == nil {
		o.Structure = &storage.Part{Type: "text", Subtype: "plain", End: o.Size}
	}
	st.objBuf = o
	st.obj = &st.objBuf
	return st.obj, nil
}

// envelope is the object's envelope, read alone when nothing has needed
// the whole object yet.
func (st *msgState) envelope() (*storage.Envelope, error) {
	if st.obj != nil {
		return st.obj.Envelope, nil
	}
	if st.gotEnv {
		return st.env, nil
	}
	if st.envs == nil {
		if sc, ok := st.ld.(EnvelopeScanner); ok {
			st.envs, st.envDone = sc.ScanEnvelopes()
		} else if el, ok := st.ld.(EnvelopeLoader); ok {
			st.envs = el
		}
	}
	if st.envs == nil {
		obj, err := st.object()
		if err != nil {
			return nil, err
		}
		return obj.Envelope, nil
	}
	env, err := st.envs.Envelope(st.cand.Message.Object)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errVanished
	}
	if err != nil {
		return nil, err
	}
	st.env, st.gotEnv = env, true
	return env, nil
}

func (st *msgState) openBody() (*storage.Body, *storage.Object, error) {
	obj, err := st.object()
	if err != nil {
		return nil, nil, err
	}
	if st.body == nil {
		st.body = st.ld.OpenObjectBody(*obj)
	}
	return st.body, obj, nil
}

func (st *msgState) header() ([]storage.HeaderField, error) {
	if st.gotHdr {
		return st.fields, nil
	}
	b, obj, err := st.openBody()
	if err != nil {
		return nil, err
	}
	if st.fields, err = storage.ReadHeader(b, obj.Structure); err != nil {
		return nil, err
	}
	st.gotHdr = true
	return st.fields, nil
}

// sentDay is the day of the Date header, or of the internal date.
func (st *msgState) sentDay() (int, error) {
	env, err := st.envelope()
	if err != nil {
		return 0, err
	}
	if env != nil {
		if t := parseDate(env.Date); !t.IsZero() {
			return civil(t), nil
		}
	}
	return civil(st.cand.Message.InternalDate.In(time.Local)), nil
}

// scanText looks for every BODY and TEXT string in one pass: the top-level
// header for TEXT, then the body text for both.
func (st *msgState) scanText() error {
	if st.scanned {
		return nil
	}
	b, obj, err := st.openBody()
	if err != nil {
		return err
	}
	st.bodyM.reset()
	st.headM.reset()
	st.scan.ctx, st.scan.b = st.ctx, b
	if len(st.q.textNeedles) > 0 {
		if err := st.scan.header(obj.Structure, st.headM); err != nil && err != errAllFound {
			return err
		}
	}
	if err := st.scan.body(obj.Structure, st.bodyM); err != nil && err != errAllFound {
		return err
	}
	st.scanned = true
	return nil
}
