package imapd

import (
	"cmp"
	"net/mail"
	"slices"
	"strings"
	"time"

	"postroom/appliance/imapd/imapmsg"
	"postroom/appliance/imapd/wire"
	"postroom/storage"
)

// cmdSort answers SORT and UID SORT (RFC 5256 3): the messages SEARCH
// would find, ordered by the criteria, ties by sequence number. The sort
// keys come from the envelope storage cached at delivery.
func (c *conn) cmdSort(cmd *wire.Command) error {
	s, err := wire.ParseSort(cmd.Args, cmd.UID)
	if err != nil {
		return err
	}
	switch s.Charset {
	case "UTF-8", "US-ASCII":
	default:
		return no("BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset")
	}
	if s.Return.ReturnSave {
		return bad("", "SAVE is not supported with SORT")
	}
	if s.Return.Update {
		if err := c.updateTagInUse(cmd.Tag); err != nil {
			return err
		}
	}
	impliedAll(&s.Return)
	found, err := c.searchCands(&s.Search)
	if err != nil {
		return err
	}
	keys := make([]sortKey, len(found))
	for i, cd := range found {
		k, err := c.sortKeyOf(cd, s.Criteria)
		if err != nil {
			return err
		}
		keys[i] = k
	}
	slices.SortFunc(keys, func(a, b sortKey) int { return compareSortKeys(s.Criteria, a, b) })
	nums := make([]uint32, len(keys))
	uids := make([]uint32, len(keys))
	for i, k := range keys {
		nums[i], uids[i] = k.seq, k.uid
		if cmd.UID {
			nums[i] = k.uid
		}
	}
	w := c.w
	if ret := s.Return; ret.ESearch {
		if ret.Update {
			c.keepContext(cmd.Tag, cmd.UID, &s.Search, s.Criteria, uids)
		}
		// ESORT (RFC 5267 3.1): MIN and MAX are the first and last in
		// sort order, ALL keeps that order.
		w.Untagged().Atom("ESEARCH").BeginList().Atom("TAG").Quoted(cmd.Tag).EndList()
		if cmd.UID {
			w.Atom("UID")
		}
		all := ret.ReturnAll || !(ret.ReturnMin || ret.ReturnMax || ret.ReturnCount || ret.Partial != nil)
		if len(nums) > 0 {
			if ret.ReturnMin {
				w.Atom("MIN").Number(uint64(nums[0]))
			}
			if ret.ReturnMax {
				w.Atom("MAX").Number(uint64(nums[len(nums)-1]))
			}
			if all {
				w.Atom("ALL").Atom(compactNums(nums))
			}
		}
		if ret.ReturnCount {
			w.Atom("COUNT").Number(uint64(len(nums)))
		}
		if ret.Partial != nil {
			c.writePartial(ret.Partial, nums) // RFC 5267 4.4: in sort order
		}
		w.End()
		return nil
	}
	w.Untagged().Atom("SORT")
	for _, n := range nums {
		w.Number(uint64(n))
	}
	w.End()
	return nil
}

type sortKey struct {
	seq, uid uint32
	vals     []sortVal
}

// sortVal is one criterion's value: a number or a string.
type sortVal struct {
	n int64
	s string
}

func (a sortVal) cmp(b sortVal) int {
	if r := cmp.Compare(a.n, b.n); r != 0 {
		return r
	}
	return strings.Compare(a.s, b.s)
}

func (c *conn) sortKeyOf(cd imapmsg.Candidate, crit []wire.SortCriterion) (sortKey, error) {
	m := cd.Message
	k := sortKey{seq: cd.SeqNum, uid: m.UID}
	var env *storage.Envelope
	needEnv := false
	for _, cr := range crit {
		if cr.Key != "ARRIVAL" && cr.Key != "SIZE" {
			needEnv = true
		}
	}
	if needEnv {
		obj, err := c.srv.st.Object(m.Object)
		if err == nil {
			env = obj.Envelope
		}
	}
	if env == nil {
		env = &storage.Envelope{}
	}
	for _, cr := range crit {
		var v sortVal
		switch cr.Key {
		case "ARRIVAL":
			v.n = m.InternalDate.UnixNano()
		case "SIZE":
			v.n = m.Size
		case "DATE":
			// RFC 5256 3: the sent date, or the internal date without one.
			t, err := mail.ParseDate(env.Date)
			if err != nil {
				t = m.InternalDate
			}
			v.n = t.UTC().Truncate(time.Second).UnixNano()
		case "SUBJECT":
			v.s = baseSubject(env.Subject)
		case "FROM":
			v.s = firstMailbox(env.From, false)
		case "TO":
			v.s = firstMailbox(env.To, false)
		case "CC":
			v.s = firstMailbox(env.Cc, false)
		case "DISPLAYFROM":
			v.s = firstMailbox(env.From, true)
		case "DISPLAYTO":
			v.s = firstMailbox(env.To, true)
		}
		k.vals = append(k.vals, v)
	}
	return k, nil
}

// firstMailbox is the sort key of an address list (RFC 5256 3): the
// local part of its first address, or (SORT=DISPLAY, RFC 5957) its
// display name or else its address, compared without case.
func firstMailbox(list []storage.Address, display bool) string {
	if len(list) == 0 {
		return ""
	}
	a := list[0]
	if display {
		if a.Name != "" {
			return strings.ToLower(a.Name)
		}
		return strings.ToLower(a.Mailbox + "@" + a.Host)
	}
	return strings.ToLower(a.Mailbox)
}

// baseSubject is RFC 5256 2.1's base subject, compared without case:
// reply and forward markers ("Re:", "Fwd:", "[fwd: ...]", "(fwd)") and
// leading "[list]" tags removed, white space collapsed.
func baseSubject(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	for {
		prev := s
		for strings.HasSuffix(strings.ToLower(s), "(fwd)") {
			s = strings.TrimSpace(s[:len(s)-len("(fwd)")])
		}
		s = stripLeader(s)
		if l := strings.ToLower(s); strings.HasPrefix(l, "[fwd:") && strings.HasSuffix(s, "]") {
			s = strings.TrimSpace(s[len("[fwd:") : len(s)-1])
		}
		if s == prev {
			break
		}
	}
	return strings.ToLower(s)
}

// stripLeader removes leading "[blob]" tags and "re:", "fw:", "fwd:"
// (each with optional "[blob]" before the colon) from s.
func stripLeader(s string) string {
	for {
		s = strings.TrimSpace(s)
		l := strings.ToLower(s)
		switch {
		case strings.HasPrefix(l, "["):
			end := strings.IndexByte(s, ']')
			if end < 0 || strings.TrimSpace(s[end+1:]) == "" {
				return s
			}
			s = s[end+1:]
			continue
		}
		n := 0
		for _, p := range []string{"re", "fwd", "fw"} {
			if strings.HasPrefix(l, p) {
				n = len(p)
				break
			}
		}
		if n == 0 {
			return s
		}
		rest := strings.TrimLeft(s[n:], " ")
		if strings.HasPrefix(rest, "[") {
			if end := strings.IndexByte(rest, ']'); end >= 0 {
				rest = strings.TrimLeft(rest[end+1:], " ")
			}
		}
		if !strings.HasPrefix(rest, ":") {
			return s
		}
		s = rest[1:]
	}
}

// cmdThread answers THREAD=ORDEREDSUBJECT (RFC 5256 3): the messages
// found, grouped by base subject; each group's earliest message is the
// parent, the others its children in date order; groups in the order of
// their first message's date.
func (c *conn) cmdThread(cmd *wire.Command) error {
	t, err := wire.ParseThread(cmd.Args, cmd.UID)
	if err != nil {
		return err
	}
	if t.Algorithm != "ORDEREDSUBJECT" && t.Algorithm != "REFERENCES" {
		return bad("", "Unsupported thread algorithm")
	}
	switch strings.ToUpper(t.Charset) {
	case "UTF-8", "US-ASCII":
	default:
		return no("BADCHARSET (UTF-8 US-ASCII)", "Unsupported charset")
	}
	found, err := c.searchCands(&t.Search)
	if err != nil {
		return err
	}
	if t.Algorithm == "REFERENCES" {
		return c.cmdThreadReferences(found, cmd.UID)
	}
	crit := []wire.SortCriterion{{Key: "SUBJECT"}, {Key: "DATE"}}
	keys := make([]sortKey, len(found))
	for i, cd := range found {
		if keys[i], err = c.sortKeyOf(cd, crit); err != nil {
			return err
		}
	}
	slices.SortStableFunc(keys, func(a, b sortKey) int {
		if r := a.vals[0].cmp(b.vals[0]); r != 0 {
			return r
		}
		if r := a.vals[1].cmp(b.vals[1]); r != 0 {
			return r
		}
		return cmp.Compare(a.seq, b.seq)
	})
	var groups [][]sortKey
	for i, k := range keys {
		if i == 0 || k.vals[0].s != keys[i-1].vals[0].s {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], k)
	}
	slices.SortStableFunc(groups, func(a, b []sortKey) int {
		if r := a[0].vals[1].cmp(b[0].vals[1]); r != 0 {
			return r
		}
		return cmp.Compare(a[0].seq, b[0].seq)
	})
	num := func(k sortKey) uint64 {
		if cmd.UID {
			return uint64(k.uid)
		}
		return uint64(k.seq)
	}
	w := c.w
	w.Untagged().Atom("THREAD")
	for i, g := range groups {
		if i > 0 {
			w.Adjacent()
		}
		w.BeginList().Number(num(g[0]))
		switch kids := g[1:]; {
		case len(kids) == 1:
			w.Number(num(kids[0]))
		case len(kids) > 1:
			// Several children are siblings, each a thread of its own.
			for j, k := range kids {
				if j > 0 {
					w.Adjacent()
				}
				w.BeginList().Number(num(k)).EndList()
			}
		}
		w.EndList()
	}
	w.End()
	return nil
}
