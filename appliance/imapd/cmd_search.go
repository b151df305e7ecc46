package imapd

import (
	"slices"
	"strconv"

	"github.com/emersion/go-imap/v2"

	"postroom/appliance/imapd/imapmsg"
	"postroom/appliance/imapd/wire"
)

// cmdSearch answers SEARCH and UID SEARCH (RFC 9051 6.4.4) with ESEARCH
// results (RFC 4731) and SEARCHRES (RFC 5182). imapmsg evaluates the
// criteria; this side turns "*" and "$" into numbers, picks the candidate
// messages and shapes the answer.
func (c *conn) cmdSearch(cmd *wire.Command) error {
	s, err := wire.ParseSearch(cmd.Args, cmd.UID)
	if err != nil {
		return err
	}
	switch s.Charset {
	case "", "UTF-8", "US-ASCII":
	default:
		return no("BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset")
	}
	if s.Criteria.ModSeq != nil {
		c.enableCondStore() // RFC 7162 3.1.8
	}
	if s.Return.Update {
		if err := c.updateTagInUse(cmd.Tag); err != nil {
			return err
		}
	}
	impliedAll(&s.Return)
	nums, uids, modseq, err := c.search(&s.Criteria, cmd.UID)
	if s.Return.ReturnSave {
		// A failed SEARCH leaves an empty saved result (RFC 5182 2.1).
		c.saved = saveResult(uids, &s.Return.SearchOptions)
	}
	if err != nil {
		return err
	}
	ret := s.Return
	if ret.Update {
		c.keepContext(cmd.Tag, cmd.UID, &s.Criteria, nil, uids)
	}
	w := c.w
	if !ret.ESearch && !c.rev2 {
		w.Untagged().Atom("SEARCH")
		for _, n := range nums {
			w.Number(uint64(n))
		}
		if s.Criteria.ModSeq != nil && len(nums) > 0 {
			// RFC 7162 3.1.5: the highest MODSEQ of the messages found.
			w.BeginList().Atom("MODSEQ").Number(modseq).EndList()
		}
		w.End()
		return nil
	}
	if !ret.ESearch {
		ret.ReturnAll = true
	}
	if ret.ReturnSave && !ret.ReturnMin && !ret.ReturnMax && !ret.ReturnAll && !ret.ReturnCount && ret.Partial == nil {
		// SAVE alone asks for no result (RFC 5182 2.4).
		return nil
	}
	w.Untagged().Atom("ESEARCH").BeginList().Atom("TAG").Quoted(cmd.Tag).EndList()
	if cmd.UID {
		w.Atom("UID")
	}
	if len(nums) > 0 {
		if ret.ReturnMin {
			w.Atom("MIN").Number(uint64(nums[0]))
		}
		if ret.ReturnMax {
			w.Atom("MAX").Number(uint64(nums[len(nums)-1]))
		}
		if ret.ReturnAll {
			w.Atom("ALL").Atom(compactNums(nums))
		}
	}
	if ret.ReturnCount {
		w.Atom("COUNT").Number(uint64(len(nums)))
	}
	if ret.Partial != nil {
		c.writePartial(ret.Partial, nums)
	}
	if s.Criteria.ModSeq != nil && len(nums) > 0 {
		w.Atom("MODSEQ").Number(modseq)
	}
	w.End()
	return nil
}

// search returns the matching messages as the numbers the client asked
// for (sequence numbers or UIDs) and as UIDs, ascending.
func (c *conn) search(criteria *imap.SearchCriteria, byUID bool) (nums, uids []uint32, modseq uint64, err error) {
	found, err := c.searchCands(criteria)
	if err != nil {
		return nil, nil, 0, err
	}
	for _, cd := range found {
		modseq = max(modseq, cd.Message.ModSeq)
		uids = append(uids, cd.Message.UID)
		if byUID {
			nums = append(nums, cd.Message.UID)
		} else {
			nums = append(nums, cd.SeqNum)
		}
	}
	return nums, uids, modseq, nil
}

// searchCands returns the messages of the view that match, ascending.
func (c *conn) searchCands(criteria *imap.SearchCriteria) ([]imapmsg.Candidate, error) {
	c.static(criteria)
	v := c.sel.view
	var refs []msgRef
	if len(criteria.UID) > 0 {
		// "UID n:*" is how clients ask for what is new: read only that.
		refs, _ = c.resolve(criteria.UID[0])
	} else {
		v.eachSeqRange(1, v.Len(), func(seq, uid uint32) { refs = append(refs, msgRef{seq, uid}) })
	}
	var found []imapmsg.Candidate
	// Each message is judged alone, so the candidates go in chunks: the
	// records of a 100,000-message mailbox are never all in memory.
	for chunk := range slices.Chunk(refs, loadChunk) {
		items, _, err := c.load(chunk)
		if err != nil {
			return nil, c.fail("search", err)
		}
		cands := make([]imapmsg.Candidate, len(items))
		for i, it := range items {
			cands[i] = imapmsg.Candidate{SeqNum: it.seq, Message: it.m, Recent: c.sel.recent[it.uid]}
		}
		got, err := imapmsg.Search(c.srv.ctx, c.srv.st, criteria, cands)
		if err != nil {
			return nil, c.fail("search", err)
		}
		found = append(found, got...)
	}
	return found, nil
}

// saveResult is what "$" refers to after SEARCH RETURN (SAVE ...): the
// minimum and/or maximum when only those were asked for, else every match
// (RFC 5182 2.4).
func saveResult(uids []uint32, o *imap.SearchOptions) []uint32 {
	if len(uids) == 0 || o.ReturnAll || o.ReturnCount || !(o.ReturnMin || o.ReturnMax) {
		return uids
	}
	var out []uint32
	if o.ReturnMin {
		out = append(out, uids[0])
	}
	if o.ReturnMax && (len(out) == 0 || uids[len(uids)-1] != out[0]) {
		out = append(out, uids[len(uids)-1])
	}
	return out
}

// compactNums writes numbers as a sequence set ("2:6,9"), in their order:
// only ascending runs become ranges.
func compactNums(nums []uint32) string {
	var b []byte
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(nums[i]), 10)
		if j > i {
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(nums[j]), 10)
		}
		i = j + 1
	}
	return string(b)
}

// static replaces "*" and "$" in the criteria's number sets by the
// numbers they stand for in the view, everywhere in the tree.
func (c *conn) static(cr *imap.SearchCriteria) {
	v := c.sel.view
	for i, set := range cr.SeqNum {
		out := make(imap.SeqSet, 0, len(set))
		for _, r := range set {
			if r.Start == 0 {
				r.Start = v.Len()
			}
			if r.Stop == 0 {
				r.Stop = v.Len()
			}
			r.Start, r.Stop = min(r.Start, r.Stop), max(r.Start, r.Stop)
			if r.Stop != 0 {
				out = append(out, r)
			}
		}
		cr.SeqNum[i] = out
	}
	for i, set := range cr.UID {
		if imap.IsSearchRes(set) {
			var inView []uint32
			for _, u := range c.saved {
				if v.Seq(u) != 0 {
					inView = append(inView, u)
				}
			}
			cr.UID[i] = compactUIDSet(inView)
			continue
		}
		out := make(imap.UIDSet, 0, len(set))
		for _, r := range set {
			if r.Start == 0 {
				r.Start = imap.UID(v.Max())
			}
			if r.Stop == 0 {
				r.Stop = imap.UID(v.Max())
			}
			r.Start, r.Stop = min(r.Start, r.Stop), max(r.Start, r.Stop)
			if r.Stop != 0 {
				out = append(out, r)
			}
		}
		cr.UID[i] = out
	}
	for i := range cr.Not {
		c.static(&cr.Not[i])
	}
	for i := range cr.Or {
		c.static(&cr.Or[i][0])
		c.static(&cr.Or[i][1])
	}
}
