package imapd

import (
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"postroom/appliance/imapd/imapmsg"
)

// Search answers SEARCH and UID SEARCH (RFC 9051 6.4.4) with ESEARCH
// results (RFC 4731) and SEARCHRES (RFC 5182). imapmsg evaluates the
// criteria; this side turns "*" and "$" into numbers, picks the candidate
// messages and shapes the answer.
func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	defer s.enter()()
	data, uids, err := s.search(kind, criteria)
	if options.ReturnSave {
		// A failed SEARCH leaves an empty saved result (RFC 5182 2.1).
		s.saved = saveResult(uids, options)
	}
	return data, err
}

func (s *session) search(kind imapserver.NumKind, criteria *imap.SearchCriteria) (*imap.SearchData, []uint32, error) {
	s.static(criteria)
	v := s.sel.view
	var refs []msgRef
	if len(criteria.UID) > 0 {
		// "UID n:*" is how clients ask for what is new: read only that.
		refs, _ = s.resolve(criteria.UID[0])
	} else {
		v.eachSeqRange(1, v.Len(), func(seq, uid uint32) { refs = append(refs, msgRef{seq, uid}) })
	}
	// Each message is judged alone, so the candidates go in chunks: the
	// records of a 100,000-message mailbox are never all in memory.
	var found []imapmsg.Candidate
	for chunk := range slices.Chunk(refs, loadChunk) {
		items, _, err := s.load(chunk)
		if err != nil {
			return nil, nil, s.fail("search", err)
		}
		cands := make([]imapmsg.Candidate, len(items))
		for i, it := range items {
			cands[i] = imapmsg.Candidate{SeqNum: it.seq, Message: it.m}
		}
		got, err := imapmsg.Search(s.srv.ctx, s.srv.st, criteria, cands)
		if err != nil {
			return nil, nil, s.fail("search", err)
		}
		found = append(found, got...)
	}
	uids := make([]uint32, len(found))
	nums := make([]uint32, len(found))
	for i, c := range found {
		uids[i] = c.Message.UID
		nums[i] = c.SeqNum
	}
	if kind == imapserver.NumKindUID {
		nums = uids
	}
	data := &imap.SearchData{Count: uint32(len(nums))}
	if len(nums) > 0 {
		data.Min, data.Max = nums[0], nums[len(nums)-1]
	}
	if kind == imapserver.NumKindUID {
		data.All = compactUIDSet(nums)
	} else {
		data.All = compactSeqSet(nums)
	}
	return data, uids, nil
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

func compactSeqSet(nums []uint32) imap.SeqSet {
	set := imap.SeqSet{}
	for _, n := range nums {
		if k := len(set); k > 0 && set[k-1].Stop+1 == n {
			set[k-1].Stop = n
			continue
		}
		set = append(set, imap.SeqRange{Start: n, Stop: n})
	}
	return set
}

// static replaces "*" and "$" in the criteria's number sets by the
// numbers they stand for in the view, everywhere in the tree.
func (s *session) static(c *imap.SearchCriteria) {
	v := s.sel.view
	for i, set := range c.SeqNum {
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
		c.SeqNum[i] = out
	}
	for i, set := range c.UID {
		if imap.IsSearchRes(set) {
			var inView []uint32
			for _, u := range s.saved {
				if v.Seq(u) != 0 {
					inView = append(inView, u)
				}
			}
			c.UID[i] = compactUIDSet(inView)
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
		c.UID[i] = out
	}
	for i := range c.Not {
		s.static(&c.Not[i])
	}
	for i := range c.Or {
		s.static(&c.Or[i][0])
		s.static(&c.Or[i][1])
	}
}
