package imapd

import (
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"postroom/storage"
)

const delim = string(storage.Delimiter)

// specialUses are the RFC 6154 attributes storage accepts, by lower-case
// spelling (clients vary the case).
var specialUses = map[string]string{}

func init() {
	for _, a := range []string{storage.SpecialSent, storage.SpecialDrafts, storage.SpecialTrash,
		storage.SpecialJunk, storage.SpecialArchive, `\All`, `\Flagged`} {
		specialUses[strings.ToLower(a)] = a
	}
}

// Create makes a mailbox (RFC 9051 6.3.4), with a special-use attribute
// if asked (RFC 6154 CREATE-SPECIAL-USE). A trailing delimiter only
// announces children to come, so it is dropped.
func (s *session) Create(name string, options *imap.CreateOptions) error {
	name = strings.TrimSuffix(name, delim)
	var use string
	if options != nil {
		switch len(options.SpecialUse) {
		case 0:
		case 1:
			var ok bool
			if use, ok = specialUses[strings.ToLower(string(options.SpecialUse[0]))]; !ok {
				return &imap.Error{Type: imap.StatusResponseTypeNo, Code: "USEATTR", Text: "Unsupported special-use attribute"}
			}
		default:
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: "USEATTR", Text: "One special-use attribute per mailbox"}
		}
	}
	if _, err := s.srv.st.CreateMailbox(s.acct, name, use); err != nil {
		return s.fail("create", err)
	}
	return nil
}

// Delete removes a mailbox and its messages; its children stay (RFC 9051
// 6.3.5). A session that has it selected sees every message expunged.
func (s *session) Delete(name string) error {
	defer s.enter()()
	if err := s.srv.st.DeleteMailbox(s.acct, name); err != nil {
		return s.fail("delete", err)
	}
	return nil
}

// Rename renames a mailbox and its children; renaming INBOX moves its
// messages (RFC 9051 6.3.6).
func (s *session) Rename(mailbox, newName string, _ *imap.RenameOptions) error {
	defer s.enter()()
	if err := s.srv.st.RenameMailbox(s.acct, mailbox, strings.TrimSuffix(newName, delim)); err != nil {
		return s.fail("rename", err)
	}
	return nil
}

// Subscribe and Unsubscribe (RFC 9051 6.3.7, 6.3.8) work on existing
// mailboxes only: storage keeps the flag on the mailbox.
func (s *session) Subscribe(mailbox string) error { return s.subscribe(mailbox, true) }

func (s *session) Unsubscribe(mailbox string) error { return s.subscribe(mailbox, false) }

func (s *session) subscribe(mailbox string, on bool) error {
	if err := s.srv.st.SetSubscribed(s.acct, mailbox, on); err != nil {
		return s.fail("subscribe", err)
	}
	return nil
}

// Status answers from the mailbox's exact counters (RFC 9051 6.3.11,
// STATUS=SIZE RFC 8438); only DELETED-STORAGE needs the messages.
func (s *session) Status(mailbox string, options *imap.StatusOptions) (*imap.StatusData, error) {
	mb, err := s.srv.st.Mailbox(s.acct, mailbox)
	if err != nil {
		return nil, s.fail("status", err)
	}
	data := s.statusData(mb)
	if options.DeletedStorage {
		msgs, err := s.srv.st.Messages(s.acct, mb.ID)
		if err != nil {
			return nil, s.fail("status", err)
		}
		var n int64
		for _, m := range msgs {
			if m.Flags&storage.FlagDeleted != 0 {
				n += m.Size
			}
		}
		data.DeletedStorage = &n
	}
	return data, nil
}

// statusData fills every item go-imap may write; it writes those asked for.
func (s *session) statusData(mb storage.Mailbox) *imap.StatusData {
	var zero uint32
	limit := s.AppendLimit()
	size := mb.Size
	var deleted int64
	return &imap.StatusData{
		Mailbox:        mb.Name,
		NumMessages:    &mb.Messages,
		NumRecent:      &zero, // no \Recent: RFC 9051 removed it
		UIDNext:        imap.UID(mb.UIDNext),
		UIDValidity:    mb.UIDValidity,
		NumUnseen:      &mb.Unseen,
		NumDeleted:     &mb.Deleted,
		Size:           &size,
		AppendLimit:    &limit,
		DeletedStorage: &deleted,
	}
}

// maxPattern bounds a LIST pattern; matching costs its length times the
// name's.
const maxPattern = 1024

// List answers LIST and LSUB (RFC 9051 6.3.9, LIST-EXTENDED RFC 5258,
// LIST-STATUS RFC 5819, SPECIAL-USE RFC 6154) from one read of the
// account's mailboxes.
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) == 0 {
		// An empty pattern asks for the delimiter (RFC 9051 6.3.9).
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: storage.Delimiter})
	}
	mbs, err := s.srv.st.Mailboxes(s.acct)
	if err != nil {
		return s.fail("list", err)
	}
	var pats []string
	for _, p := range patterns {
		p = canonicalPattern(ref + p)
		if len(p) > maxPattern {
			return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Pattern too long"}
		}
		pats = append(pats, p)
	}
	extended := s.ic.EnabledCaps().Has(imap.CapIMAP4rev2)
	t := newTree(mbs)
	for _, name := range t.names {
		matched, pct := matchAny(pats, name)
		if !matched {
			continue
		}
		data, ok := s.listEntry(t, name, options, pct, extended)
		if !ok {
			continue
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

// listEntry builds one LIST response, or says the name is not listed. pct
// says a pattern ending in "%" matched the name.
func (s *session) listEntry(t *tree, name string, o *imap.ListOptions, pct, extended bool) (*imap.ListData, bool) {
	mb, exists := t.boxes[name]
	data := &imap.ListData{Delim: storage.Delimiter, Mailbox: name}
	var selected bool
	switch {
	case o.SelectSubscribed:
		selected = exists && mb.Subscribed
	case o.SelectSpecialUse:
		selected = exists && mb.SpecialUse != ""
	default:
		selected = exists
	}
	if !selected {
		switch {
		case o.SelectRecursiveMatch && t.subscribedBelow[name]:
			// RFC 5258 3.5: the parent of a match, with CHILDINFO.
			data.ChildInfo = &imap.ListDataChildInfo{Subscribed: true}
			if !exists {
				data.Attrs = append(data.Attrs, imap.MailboxAttrNonExistent)
			}
		case pct && !exists && !o.SelectSubscribed && !o.SelectSpecialUse:
			// RFC 3501 6.3.8: "%" also returns levels of the hierarchy
			// that are not mailboxes themselves.
			data.Attrs = append(data.Attrs, nonexistent(extended))
		case pct && o.SelectSubscribed && !o.SelectRecursiveMatch && t.subscribedBelow[name]:
			// LSUB "%" (RFC 3501 6.3.9): a parent of subscribed mailboxes.
			data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect)
		default:
			return nil, false
		}
		if t.hasChildren[name] {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		}
		return data, true
	}
	if t.hasChildren[name] {
		data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
	} else {
		data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
	}
	if mb.SpecialUse != "" {
		data.Attrs = append(data.Attrs, imap.MailboxAttr(mb.SpecialUse))
	}
	if mb.Subscribed && (o.SelectSubscribed || o.ReturnSubscribed) {
		data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
	}
	if o.SelectRecursiveMatch && t.subscribedBelow[name] {
		data.ChildInfo = &imap.ListDataChildInfo{Subscribed: true}
	}
	if o.ReturnStatus != nil {
		data.Status = s.statusData(mb)
	}
	return data, true
}

// nonexistent is the attribute of a name that is only a parent: IMAP4rev2
// and LIST-EXTENDED say \NonExistent, IMAP4rev1 says \Noselect.
func nonexistent(rev2 bool) imap.MailboxAttr {
	if rev2 {
		return imap.MailboxAttrNonExistent
	}
	return imap.MailboxAttrNoSelect
}

// tree is the account's mailboxes with the names that are only parents.
type tree struct {
	names           []string // every mailbox and every parent name, sorted
	boxes           map[string]storage.Mailbox
	hasChildren     map[string]bool
	subscribedBelow map[string]bool // a descendant is subscribed
}

func newTree(mbs []storage.Mailbox) *tree {
	t := &tree{boxes: map[string]storage.Mailbox{}, hasChildren: map[string]bool{}, subscribedBelow: map[string]bool{}}
	for _, mb := range mbs {
		t.boxes[mb.Name] = mb
	}
	seen := map[string]bool{}
	for _, mb := range mbs {
		if !seen[mb.Name] {
			seen[mb.Name] = true
			t.names = append(t.names, mb.Name)
		}
		for p := parent(mb.Name); p != ""; p = parent(p) {
			t.hasChildren[p] = true
			if mb.Subscribed {
				t.subscribedBelow[p] = true
			}
			if !seen[p] {
				seen[p] = true
				t.names = append(t.names, p)
			}
		}
	}
	slices.Sort(t.names)
	return t
}

func parent(name string) string {
	i := strings.LastIndex(name, delim)
	if i < 0 {
		return ""
	}
	return name[:i]
}

// canonicalPattern spells a leading INBOX level in upper case, as storage
// spells the one case-insensitive name (RFC 9051 5.1).
func canonicalPattern(p string) string {
	first, rest, found := strings.Cut(p, delim)
	if strings.EqualFold(first, storage.InboxName) {
		if found {
			return storage.InboxName + delim + rest
		}
		return storage.InboxName
	}
	return p
}

// matchAny reports whether a pattern matches name, and whether one that
// matches ends in "%".
func matchAny(patterns []string, name string) (matched, pct bool) {
	for _, p := range patterns {
		if matchPattern(p, name) {
			matched = true
			pct = pct || strings.HasSuffix(p, "%")
		}
	}
	return matched, pct
}

// matchPattern reports whether name matches a LIST pattern: "*" matches
// any characters, "%" any but the delimiter (RFC 9051 6.3.9). It runs in
// time len(pattern)*len(name), whatever the pattern (go-imap's MatchList
// backtracks exponentially on patterns like "*a*a*a*a*b").
func matchPattern(pattern, name string) bool {
	// ok[j]: pattern[:i] matches name[:j], for the current i.
	ok := make([]bool, len(name)+1)
	next := make([]bool, len(name)+1)
	ok[0] = true
	for i := 0; i < len(pattern); i++ {
		pc := pattern[i]
		switch pc {
		case '*', '%':
			// A wildcard matches name[:j] if pattern[:i] matched some
			// name[:k], k <= j, with no delimiter in name[k:j] for "%".
			run := false
			for j := 0; j <= len(name); j++ {
				if j > 0 && pc == '%' && name[j-1] == storage.Delimiter {
					run = false
				}
				run = run || ok[j]
				next[j] = run
			}
		default:
			next[0] = false
			for j := 1; j <= len(name); j++ {
				next[j] = ok[j-1] && name[j-1] == pc
			}
		}
		ok, next = next, ok
	}
	return ok[len(name)]
}
