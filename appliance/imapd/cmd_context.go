package imapd

import (
	"cmp"
	"fmt"
	"slices"
	"sort"

	"github.com/emersion/go-imap/v2"

	"postroom/appliance/imapd/imapmsg"
	"postroom/appliance/imapd/wire"
	"postroom/storage"
)

// Contexts (RFC 5267 4, CONTEXT=SEARCH and CONTEXT=SORT). A SEARCH or SORT
// with RETURN (UPDATE) leaves an updating context behind: the session
// keeps the result (as UIDs) and tells the client how it changes, in
// unsolicited "* ESEARCH (TAG "t") [UID] REMOVEFROM (...) ADDTO (...)"
// responses, as messages arrive, are expunged, or change flags so that
// they start or stop matching (4.3). Changes made by this session count as
// much as those of others.
//
// Where the updates go, relative to the other responses:
//   - REMOVEFROM for expunged messages before their EXPUNGE (or VANISHED),
//     so that sequence numbers still name them (4.3.4): removeFromView.
//   - ADDTO for new messages after their EXISTS (4.3.3): poll, resync.
//   - Flag changes by others with their FETCH (sendFlagChanges), our own
//     after STORE.
//
// A SEARCH context gives position 0 and its sets in mailbox order (4.3.3
// allows 0 for SEARCH); a SORT context gives the positions in sort order,
// each pair applying to the list as the pairs before it left it (4.3.2).
// Sort keys (envelope, size, arrival) never change once a message is
// stored, so a message keeps its place; the keys of the messages already
// in a SORT result are read back from storage to place a new one (a
// binary search: a few reads), so a context holds 4 or 8 bytes per result,
// never envelopes.
//
// The criteria are fixed when the context is made: "*" and "$" are what
// they stood for then (static), and sequence numbers become the UIDs they
// named, since a message's number changes but the message does not
// (RFC 5267 4.3 as corrected by its errata: the search program is not
// re-evaluated against new sequence numbers).
//
// Contexts end with the selection (they live in selected), with
// CANCELUPDATE (4.3.5), or when the server stops updating one: then
// "* NO [NOUPDATE "t"]" says so (4.3.1), as it does when a command asks
// for more contexts than a session may hold.

// Limits of the contexts a session holds. RFC 5267 4.3.1 asks for at least
// one per client; a phone or desktop uses one or two (a virtual folder).
const (
	// maxUpdateContexts bounds the live updating searches of a session.
	maxUpdateContexts = 5
	// maxContextResults bounds the UIDs all of a session's contexts hold
	// together (400 KB to 800 KB of memory).
	maxContextResults = 100_000
)

// updateContext is one live SEARCH or SORT result (RFC 5267 4.3).
type updateContext struct {
	tag      string
	uid      bool // results are UIDs, else sequence numbers
	criteria imap.SearchCriteria
	sort     []wire.SortCriterion // nil: a SEARCH
	// order is the result as UIDs in result order: ascending for a
	// SEARCH, sort order for a SORT.
	order []uint32
	// members is order ascending, for a SORT (a SEARCH's order is).
	members []uint32
}

func (u *updateContext) ascending() []uint32 {
	if u.sort == nil {
		return u.order
	}
	return u.members
}

func (u *updateContext) has(uid uint32) bool {
	_, ok := slices.BinarySearch(u.ascending(), uid)
	return ok
}

// ctxPair is one context-position and its numbers (RFC 5267 5).
type ctxPair struct {
	pos  uint32
	nums []uint32
}

// impliedAll: RETURN with only CONTEXT and UPDATE asks for no result data
// of its own, yet the client needs the result that the updates change, so
// it is answered as RETURN () is: with ALL (RFC 4731 3.1).
func impliedAll(r *wire.SearchReturn) {
	if (r.Context || r.Update) && !r.ReturnMin && !r.ReturnMax && !r.ReturnAll && !r.ReturnCount &&
		!r.ReturnSave && r.Partial == nil {
		r.ReturnAll = true
	}
}

// updateTagInUse refuses UPDATE under a tag an updating context already
// has (RFC 5267 4.3: BAD), before the command does anything.
func (c *conn) updateTagInUse(tag string) error {
	for _, u := range c.sel.contexts {
		if u.tag == tag {
			return bad("", "Tag reuse: an updating search already uses this tag")
		}
	}
	return nil
}

// keepContext makes an updating context of a result just sent; cr has
// been through static. Over the limits the client is told NOUPDATE and the
// command still succeeds with its other return options (RFC 5267 4.3.1).
func (c *conn) keepContext(tag string, byUID bool, cr *imap.SearchCriteria, sortCrit []wire.SortCriterion, order []uint32) {
	sel := c.sel
	held := 0
	for _, u := range sel.contexts {
		held += len(u.order)
	}
	if len(sel.contexts) >= maxUpdateContexts || held+len(order) > maxContextResults {
		c.noUpdate(tag, "Too many updating searches; this result will not be updated")
		return
	}
	c.seqsToUIDs(cr)
	u := &updateContext{tag: tag, uid: byUID, criteria: *cr, sort: sortCrit, order: slices.Clone(order)}
	if sortCrit != nil {
		u.members = slices.Sorted(slices.Values(order))
	}
	sel.contexts = append(sel.contexts, u)
}

func (c *conn) noUpdate(tag, text string) {
	c.w.Untagged().Atom("NO").BeginCode("NOUPDATE").Quoted(tag).EndCode().Text(text).End()
}

// seqsToUIDs replaces the sequence sets in cr (static already) by the
// UIDs they name now, everywhere in the tree.
func (c *conn) seqsToUIDs(cr *imap.SearchCriteria) {
	v := c.sel.view
	for _, set := range cr.SeqNum {
		var uids []uint32
		for _, r := range set {
			v.eachSeqRange(max(min(r.Start, r.Stop), 1), max(r.Start, r.Stop), func(_, uid uint32) { uids = append(uids, uid) })
		}
		slices.Sort(uids)
		cr.UID = append(cr.UID, compactUIDSet(slices.Compact(uids)))
	}
	cr.SeqNum = nil
	for i := range cr.Not {
		c.seqsToUIDs(&cr.Not[i])
	}
	for i := range cr.Or {
		c.seqsToUIDs(&cr.Or[i][0])
		c.seqsToUIDs(&cr.Or[i][1])
	}
}

// cmdCancelUpdate ends updating contexts by their tags (RFC 5267 4.3.5).
// A tag without a context is no error: the context may have ended with a
// NOUPDATE the client has not read yet.
func (c *conn) cmdCancelUpdate(cmd *wire.Command) error {
	if len(cmd.Args) == 0 {
		return bad("", "CANCELUPDATE needs the tags of searches")
	}
	tags := make([]string, 0, len(cmd.Args))
	for _, a := range cmd.Args {
		t, ok := a.AString()
		if !ok {
			return bad("", "CANCELUPDATE takes quoted tags")
		}
		tags = append(tags, t)
	}
	c.sel.contexts = slices.DeleteFunc(c.sel.contexts, func(u *updateContext) bool { return slices.Contains(tags, u.tag) })
	return nil
}

// dropContext stops updating u and says so (RFC 5267 4.3.1).
func (c *conn) dropContext(u *updateContext, text string) {
	c.sel.contexts = slices.DeleteFunc(c.sel.contexts, func(x *updateContext) bool { return x == u })
	c.noUpdate(u.tag, text)
}

// ctxNum is how the client names uid in u's results.
func (c *conn) ctxNum(u *updateContext, uid uint32) uint32 {
	if u.uid {
		return uid
	}
	return c.sel.view.Seq(uid)
}

// ctxExpunging sends REMOVEFROM for the results among uids (ascending,
// all in the view) before the view loses them.
func (c *conn) ctxExpunging(uids []uint32) {
	for _, u := range c.sel.contexts {
		var gone []uint32
		for _, uid := range uids {
			if u.has(uid) {
				gone = append(gone, uid)
			}
		}
		if len(gone) > 0 {
			c.writeCtxUpdate(u, c.ctxRemove(u, gone), nil)
		}
	}
}

// ctxPendingFlags re-evaluates the contexts for the flag changes by
// others that are about to be sent.
func (c *conn) ctxPendingFlags() {
	sel := c.sel
	if len(sel.contexts) == 0 || len(sel.flags) == 0 {
		return
	}
	msgs := make([]storage.Message, 0, len(sel.flags))
	for _, m := range sel.flags {
		msgs = append(msgs, m)
	}
	c.ctxReevaluate(msgs)
}

// ctxReevaluate checks messages of the view that are new or changed
// against every context and sends what starts or stops matching.
func (c *conn) ctxReevaluate(msgs []storage.Message) {
	sel := c.sel
	if len(sel.contexts) == 0 || len(msgs) == 0 {
		return
	}
	cands := make([]imapmsg.Candidate, 0, len(msgs))
	for _, m := range msgs {
		if seq := sel.view.Seq(m.UID); seq != 0 {
			cands = append(cands, imapmsg.Candidate{SeqNum: seq, Message: m, Recent: sel.recent[m.UID]})
		}
	}
	slices.SortFunc(cands, func(a, b imapmsg.Candidate) int { return cmp.Compare(a.Message.UID, b.Message.UID) })
	for _, u := range slices.Clone(sel.contexts) {
		got, err := imapmsg.Search(c.srv.ctx, c.srv.st, &u.criteria, cands)
		if err != nil {
			c.fail("search update", err)
			c.dropContext(u, "This result can no longer be updated")
			continue
		}
		match := make(map[uint32]bool, len(got))
		for _, cd := range got {
			match[cd.Message.UID] = true
		}
		var added []storage.Message
		var gone []uint32
		for _, cd := range cands {
			uid := cd.Message.UID
			switch in := u.has(uid); {
			case match[uid] && !in:
				added = append(added, cd.Message)
			case !match[uid] && in:
				gone = append(gone, uid)
			}
		}
		if len(added) == 0 && len(gone) == 0 {
			continue
		}
		if held := c.ctxHeld(); held+len(added)-len(gone) > maxContextResults {
			c.dropContext(u, "This result grew too large to be updated")
			continue
		}
		removed := c.ctxRemove(u, gone)
		inserted, err := c.ctxInsert(u, added)
		if err != nil {
			c.fail("sort update", err)
			c.dropContext(u, "This result can no longer be updated")
			continue
		}
		c.writeCtxUpdate(u, removed, inserted)
	}
}

func (c *conn) ctxHeld() int {
	n := 0
	for _, u := range c.sel.contexts {
		n += len(u.order)
	}
	return n
}

// ctxRemove takes gone (ascending UIDs, all in u) out of u and returns
// the REMOVEFROM pairs, numbered as the view is now.
func (c *conn) ctxRemove(u *updateContext, gone []uint32) []ctxPair {
	if len(gone) == 0 {
		return nil
	}
	if u.sort == nil {
		nums := make([]uint32, len(gone))
		for i, uid := range gone {
			nums[i] = c.ctxNum(u, uid)
		}
		u.order = slices.DeleteFunc(u.order, func(uid uint32) bool { _, ok := slices.BinarySearch(gone, uid); return ok })
		return []ctxPair{{0, nums}}
	}
	// A run of neighbours in sort order is one pair; each pair's position
	// counts the results before it that are still there.
	var pairs []ctxPair
	removed := 0
	prev := -2
	for i, uid := range u.order {
		if _, ok := slices.BinarySearch(gone, uid); !ok {
			continue
		}
		if i == prev+1 && len(pairs) > 0 {
			p := &pairs[len(pairs)-1]
			p.nums = append(p.nums, c.ctxNum(u, uid))
		} else {
			pairs = append(pairs, ctxPair{uint32(i - removed + 1), []uint32{c.ctxNum(u, uid)}})
		}
		prev = i
		removed++
	}
	isGone := func(uid uint32) bool { _, ok := slices.BinarySearch(gone, uid); return ok }
	u.order = slices.DeleteFunc(u.order, isGone)
	u.members = slices.DeleteFunc(u.members, isGone)
	return pairs
}

// ctxInsert puts added (ascending UIDs, none in u) into u and returns the
// ADDTO pairs.
func (c *conn) ctxInsert(u *updateContext, added []storage.Message) ([]ctxPair, error) {
	if len(added) == 0 {
		return nil, nil
	}
	if u.sort == nil {
		nums := make([]uint32, len(added))
		for i, m := range added {
			nums[i] = c.ctxNum(u, m.UID)
			pos, _ := slices.BinarySearch(u.order, m.UID)
			u.order = slices.Insert(u.order, pos, m.UID)
		}
		return []ctxPair{{0, nums}}, nil
	}
	keys := &sortKeys{c: c, crit: u.sort, known: make(map[uint32]sortKey)}
	newKeys := make([]sortKey, len(added))
	for i, m := range added {
		k, err := c.sortKeyOf(imapmsg.Candidate{SeqNum: c.sel.view.Seq(m.UID), Message: m}, u.sort)
		if err != nil {
			return nil, err
		}
		newKeys[i] = k
	}
	slices.SortFunc(newKeys, func(a, b sortKey) int { return compareSortKeys(u.sort, a, b) })
	var pairs []ctxPair
	for _, nk := range newKeys {
		// The first result that sorts after the new one is its place.
		at := sort.Search(len(u.order), func(i int) bool {
			k := keys.of(u.order[i])
			return keys.err != nil || compareSortKeys(u.sort, k, nk) > 0
		})
		if keys.err != nil {
			return nil, keys.err
		}
		u.order = slices.Insert(u.order, at, nk.uid)
		mpos, _ := slices.BinarySearch(u.members, nk.uid)
		u.members = slices.Insert(u.members, mpos, nk.uid)
		keys.known[nk.uid] = nk
		pos := uint32(at + 1)
		if k := len(pairs); k > 0 && pairs[k-1].pos+uint32(len(pairs[k-1].nums)) == pos {
			pairs[k-1].nums = append(pairs[k-1].nums, c.ctxNum(u, nk.uid))
			continue
		}
		pairs = append(pairs, ctxPair{pos, []uint32{c.ctxNum(u, nk.uid)}})
	}
	return pairs, nil
}

// sortKeys reads the sort keys of results back from storage, once each.
type sortKeys struct {
	c     *conn
	crit  []wire.SortCriterion
	known map[uint32]sortKey
	err   error
}

func (k *sortKeys) of(uid uint32) sortKey {
	if key, ok := k.known[uid]; ok || k.err != nil {
		return key
	}
	// Read directly, not through load: load may drain the watcher, and
	// this runs while poll sends what it drained. A message another
	// session expunged still sorts by its ghost (sort keys never change).
	c := k.c
	msgs, err := c.srv.st.MessagesInRanges(c.acct, c.sel.id, []storage.UIDRange{{First: uid, Last: uid}})
	var m storage.Message
	switch g, ghost := c.sel.expunged[uid]; {
	case err == nil && len(msgs) == 1:
		m = msgs[0]
	case ghost:
		m, err = g, nil
	case err == nil:
		err = fmt.Errorf("imapd: sort result UID %d is gone", uid)
	}
	if err != nil {
		k.err = err
		return sortKey{}
	}
	key, err := c.sortKeyOf(imapmsg.Candidate{SeqNum: c.sel.view.Seq(uid), Message: m}, k.crit)
	if err != nil {
		k.err = err
		return sortKey{}
	}
	k.known[uid] = key
	return key
}

// writeCtxUpdate writes one ESEARCH with u's REMOVEFROM and ADDTO pairs,
// removals first, in the order the client must apply them (RFC 5267
// 4.3.2).
func (c *conn) writeCtxUpdate(u *updateContext, removed, added []ctxPair) {
	w := c.w
	w.Untagged().Atom("ESEARCH").BeginList().Atom("TAG").Quoted(u.tag).EndList()
	if u.uid {
		w.Atom("UID")
	}
	for _, item := range []struct {
		name  string
		pairs []ctxPair
	}{{"REMOVEFROM", removed}, {"ADDTO", added}} {
		if len(item.pairs) == 0 {
			continue
		}
		w.Atom(item.name).BeginList()
		for _, p := range item.pairs {
			w.Number(uint64(p.pos)).Atom(compactNums(p.nums))
		}
		w.EndList()
	}
	w.End()
}

// compareSortKeys orders two messages by SORT criteria (RFC 5256 3), ties
// by UID, which is the order of sequence numbers.
func compareSortKeys(crit []wire.SortCriterion, a, b sortKey) int {
	for i, cr := range crit {
		r := a.vals[i].cmp(b.vals[i])
		if cr.Reverse {
			r = -r
		}
		if r != 0 {
			return r
		}
	}
	return cmp.Compare(a.uid, b.uid)
}

// writePartial writes RETURN (PARTIAL lo:hi)'s answer (RFC 9394 3.1, RFC
// 5267 4.4): the results at positions Low..High of nums (counted from
// the end when FromEnd), in their order, NIL when there are none.
func (c *conn) writePartial(p *wire.PartialRange, nums []uint32) {
	w := c.w
	w.Atom("PARTIAL").BeginList()
	lo, hi := int(p.Low)-1, int(p.High)
	if p.FromEnd {
		lo, hi = len(nums)-int(p.High), len(nums)-int(p.Low)+1
		w.Atom(fmt.Sprintf("-%d:-%d", p.Low, p.High))
	} else {
		w.Atom(fmt.Sprintf("%d:%d", p.Low, p.High))
	}
	lo, hi = max(lo, 0), min(hi, len(nums))
	if lo >= hi {
		w.NIL()
	} else {
		w.Atom(compactNums(nums[lo:hi]))
	}
	w.EndList()
}
