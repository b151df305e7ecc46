package imapd

import (
	"errors"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"postroom/appliance/imapd/wire"
	"postroom/storage"
)

// NOTIFY (RFC 5465): the client names the mailboxes and the events it
// wants to hear of, and the server tells it at any time, not only in
// IDLE or at the end of a command.
//
// Where the events come from: the account's change feed (storage.Watch),
// one watcher per session with NOTIFY on. Events of the selected mailbox
// still reach the session through its selected watcher (state.go), and
// the selected event group decides when they go out; events of every
// other mailbox are turned here into STATUS responses (message events,
// one per mailbox however many messages changed: the counts are read from
// storage when the response is written) and LIST responses (mailbox names
// and subscriptions, one per event, in commit order).
//
// When the responses go out: at the end of every command, in IDLE, and
// while the session waits for the client's next command (awaitCommand).
// A session that falls too far behind (its watcher overflowed, or more
// than notifyBacklog responses are waiting) says OK
// [NOTIFICATIONOVERFLOW] and turns NOTIFY off, as RFC 5465 5.8 asks.
//
// Choices where the RFC leaves room:
//   - a mailbox that several event groups match gets the events of the
//     first of them, so that "(mailboxes Junk NONE) (personal (...))"
//     leaves Junk out (Dovecot does the same);
//   - "inboxes" is INBOX: mail is delivered nowhere else (the Sent copy of
//     submission is the user's own);
//   - events a session caused itself are told like anyone else's (RFC
//     5465 5 says SHOULD omit; the feed does not say who made a change);
//   - without a selected event group (or with "selected NONE") nothing of
//     the selected mailbox is pushed between commands or in IDLE, but the
//     end of a command still reports its changes as RFC 9051 7 asks, so
//     that sequence numbers stay right.

// notifyEvents is a set of the events we support.
type notifyEvents uint8

const (
	evMessageNew notifyEvents = 1 << iota
	evMessageExpunge
	evFlagChange
	evMailboxName
	evSubscriptionChange
)

// notifySupported are the events we can report, by RFC 5465 5's names,
// in the order BADEVENT lists them. AnnotationChange needs ANNOTATE, the
// metadata events METADATA (RFC 5464): we have neither.
var notifySupported = []struct {
	name string
	ev   notifyEvents
}{
	{"MessageNew", evMessageNew},
	{"MessageExpunge", evMessageExpunge},
	{"FlagChange", evFlagChange},
	{"MailboxName", evMailboxName},
	{"SubscriptionChange", evSubscriptionChange},
}

// notifyBacklog bounds the responses a session may owe its client before
// NOTIFY is turned off with NOTIFICATIONOVERFLOW. STATUS responses are
// one per mailbox, so this is reached only by a client that stopped
// reading while mailboxes were created, renamed or subscribed in bulk.
// A variable so that a test can reach it.
var notifyBacklog = 1000

// notifyState is a session's NOTIFY SET.
type notifyState struct {
	w      *storage.Watcher
	groups []notifyGroup // the groups for mailboxes other than the selected one

	// The selected (or selected-delayed) group: its events, whether
	// EXPUNGE waits for a command that allows it (RFC 5465 6.1.2), and
	// MessageNew's fetch attributes (5.2).
	sel     notifyEvents
	delayed bool
	fetch   *wire.Fetch

	names map[storage.MailboxID]string // the account's mailboxes, kept current from the events
	tree  *tree                        // mailboxes and subscriptions, read when needed; nil after a change

	// Owed to the client.
	lists  []listNote
	status []storage.MailboxID // in the order they first changed
	dirty  map[storage.MailboxID]bool
}

// notifyGroup is one event group for mailboxes other than the selected.
type notifyGroup struct {
	filter string   // personal, inboxes, subscribed, subtree, mailboxes
	names  []string // for subtree and mailboxes
	events notifyEvents
}

// listNote is a LIST response owed: a mailbox created, deleted, renamed
// (old is the name before) or (un)subscribed.
type listNote struct{ name, old string }

// notifyOff ends NOTIFY (NOTIFY NONE, UNAUTHENTICATE, the end of the
// connection).
func (c *conn) notifyOff() {
	if c.notify != nil {
		c.notify.w.Close()
		c.notify = nil
	}
}

// matches reports whether the group covers the mailbox name.
func (g *notifyGroup) matches(n *notifyState, c *conn, name string) bool {
	switch g.filter {
	case "personal":
		return true
	case "inboxes":
		return name == storage.InboxName
	case "subscribed":
		t, err := n.loadTree(c)
		if err != nil {
			c.fail("notify", err)
			return false
		}
		return t.subscribed[name]
	case "subtree":
		for _, top := range g.names {
			if name == top || strings.HasPrefix(name, top+delim) {
				return true
			}
		}
	case "mailboxes":
		return slices.Contains(g.names, name)
	}
	return false
}

// wants reports whether the client asked for ev on the mailbox name: the
// first group that covers the name decides. For a subscription change a
// "subscribed" group covers the name whichever way it went, so that the
// client hears of an unsubscription too (RFC 5465 6.4).
func (n *notifyState) wants(c *conn, ev notifyEvents, name string) bool {
	for i := range n.groups {
		g := &n.groups[i]
		if ev == evSubscriptionChange && g.filter == "subscribed" || g.matches(n, c, name) {
			return g.events&ev != 0
		}
	}
	return false
}

// loadTree reads the account's mailboxes and subscriptions, once per
// change.
func (n *notifyState) loadTree(c *conn) (*tree, error) {
	if n.tree != nil {
		return n.tree, nil
	}
	mbs, err := c.srv.st.Mailboxes(c.acct)
	if err != nil {
		return nil, err
	}
	subs, err := c.srv.st.Subscriptions(c.acct)
	if err != nil {
		return nil, err
	}
	n.tree = newTree(mbs, subs)
	return n.tree, nil
}

// note turns one event of the account into what the client is owed.
func (n *notifyState) note(c *conn, ev storage.Event) {
	var want notifyEvents
	switch ev.Kind {
	case storage.EventMailboxCreated, storage.EventMailboxDeleted, storage.EventMailboxRenamed:
		n.tree = nil
		if ev.Kind == storage.EventMailboxDeleted {
			delete(n.names, ev.Mailbox)
		} else {
			n.names[ev.Mailbox] = ev.Name
		}
		if n.wants(c, evMailboxName, ev.Name) || ev.OldName != "" && n.wants(c, evMailboxName, ev.OldName) {
			n.lists = append(n.lists, listNote{name: ev.Name, old: ev.OldName})
		}
		return
	case storage.EventMailboxSubscribed:
		// The event does not say which way; the LIST response will
		// (RFC 5465 5.5: \Subscribed if and only if subscribed now).
		n.tree = nil
		if n.wants(c, evSubscriptionChange, ev.Name) {
			n.lists = append(n.lists, listNote{name: ev.Name})
		}
		return
	case storage.EventAdded:
		want = evMessageNew
	case storage.EventExpunged:
		want = evMessageExpunge
	case storage.EventFlags:
		want = evFlagChange
	default:
		return
	}
	if c.sel != nil && ev.Mailbox == c.sel.id {
		return // the selected group's business (state.go)
	}
	name, ok := n.names[ev.Mailbox]
	if !ok || n.dirty[ev.Mailbox] || !n.wants(c, want, name) {
		return
	}
	n.dirty[ev.Mailbox] = true
	n.status = append(n.status, ev.Mailbox)
}

// pushOthers tells the client what changed in mailboxes other than the
// selected one: LIST responses for names and subscriptions, then STATUS
// responses. It needs a writer (begin).
func (c *conn) pushOthers() {
	n := c.notify
	if n == nil {
		return
	}
	evs, overflow := n.w.Next()
	for _, ev := range evs {
		if overflow {
			break
		}
		n.note(c, ev)
	}
	if overflow || len(n.lists)+len(n.status) > notifyBacklog {
		c.log.Info("imap notify overflow", "events", len(evs), "owed", len(n.lists)+len(n.status))
		c.notifyOff()
		c.w.Untagged().Atom("OK").BeginCode("NOTIFICATIONOVERFLOW").EndCode().Text("Too many changes, notifications are off").End()
		return
	}
	if len(n.lists) > 0 {
		if t, err := n.loadTree(c); err != nil {
			c.fail("notify", err)
		} else {
			for _, l := range n.lists {
				c.writeNotifyList(t, l)
			}
		}
		n.lists = n.lists[:0]
	}
	for _, id := range n.status {
		delete(n.dirty, id)
		mb, err := c.srv.st.MailboxByID(c.acct, id)
		if errors.Is(err, storage.ErrNoMailbox) {
			continue // deleted meanwhile: its LIST says so, if asked
		}
		if err != nil {
			c.fail("notify", err)
			continue
		}
		c.writeStatus(mb, c.notifyStatusItems(mb.Name))
	}
	n.status = n.status[:0]
}

// notifyStatusItems are the STATUS items sent for a watched mailbox (RFC
// 5465 5.1-5.3): counts for new and expunged messages, UNSEEN for flag
// changes, and HIGHESTMODSEQ for a CONDSTORE client or one that watches
// flags.
func (c *conn) notifyStatusItems(name string) *imap.StatusOptions {
	return &imap.StatusOptions{
		NumMessages: true, UIDNext: true, UIDValidity: true, NumUnseen: true,
		HighestModSeq: c.condstore || c.notify.wants(c, evFlagChange, name),
	}
}

// writeNotifyList writes the LIST response of a mailbox name event (RFC
// 5465 5.4, 5.5) with the attributes the name has now: \NonExistent for
// one deleted, \Subscribed for one subscribed, and OLDNAME (RFC 5465 8)
// after a rename.
func (c *conn) writeNotifyList(t *tree, l listNote) {
	w := c.w
	w.Untagged().Atom("LIST").BeginList()
	if mb, ok := t.boxes[l.name]; ok {
		if t.hasChildren[l.name] {
			w.Atom(string(imap.MailboxAttrHasChildren))
		} else {
			w.Atom(string(imap.MailboxAttrHasNoChildren))
		}
		if mb.SpecialUse != "" {
			w.Atom(mb.SpecialUse)
		}
	} else {
		w.Atom(string(imap.MailboxAttrNonExistent))
		if t.hasChildren[l.name] {
			w.Atom(string(imap.MailboxAttrHasChildren)) // RFC 5258 3: a parent left behind
		}
	}
	if t.subscribed[l.name] {
		w.Atom(string(imap.MailboxAttrSubscribed))
	}
	w.EndList().Quoted(delim)
	c.writeMailboxName(l.name)
	if l.old != "" {
		w.BeginList().Quoted("OLDNAME").BeginList()
		c.writeMailboxName(l.old)
		w.EndList().EndList()
	}
	w.End()
}

// pushSources are the channels that wake a waiting session: changes in
// the selected mailbox (when they are to be pushed at all) and changes
// elsewhere (NOTIFY).
func (c *conn) pushSources() (selected, others <-chan struct{}) {
	n := c.notify
	if c.sel != nil && (n == nil || n.sel&(evMessageNew|evMessageExpunge|evFlagChange) != 0) {
		selected = c.sel.w.C()
	}
	if n != nil {
		others = n.w.C()
	}
	return selected, others
}

// pushSelected tells the client of changes in the selected mailbox while
// no command runs: in IDLE (inIdle, where EXPUNGE is allowed) or between
// commands under NOTIFY. Without NOTIFY it is IDLE's poll; with it, only
// the events of the selected group go out, and EXPUNGE only where
// "selected" or IDLE allows it. It needs a writer.
func (c *conn) pushSelected(inIdle bool) {
	n := c.notify
	if c.sel == nil {
		return
	}
	if n == nil {
		c.poll(true)
		return
	}
	if n.sel == 0 {
		return
	}
	c.sel.holdFlags = n.sel&evFlagChange == 0
	c.poll(inIdle || !n.delayed)
	c.sel.holdFlags = false
}

// afterCommand tells the client, before the tagged response, what changed
// while the command ran: the selected mailbox (RFC 9051 7.4.1: EXPUNGE
// only where allowExpunge, or always under NOTIFY "selected"), then the
// rest under NOTIFY.
func (c *conn) afterCommand(allowExpunge bool) {
	if c.state == stateNotAuth {
		c.notifyOff() // UNAUTHENTICATE
	}
	n := c.notify
	if c.sel != nil {
		if n != nil && n.sel&evMessageExpunge != 0 && !n.delayed {
			allowExpunge = true // RFC 5465 5.3: the client uses UIDs
		}
		c.poll(allowExpunge)
	}
	c.pushOthers()
}

// fetchNew sends MessageNew's fetch attributes for the messages the
// client has just been told of (UIDs above old): after their EXISTS and
// before a CONTEXT's ADDTO (RFC 5465 5.2, 7).
func (c *conn) fetchNew(old uint32) {
	n := c.notify
	if n == nil || n.fetch == nil || n.sel&evMessageNew == 0 || c.sel == nil || c.sel.view.Max() <= old {
		return
	}
	var refs []msgRef
	c.sel.view.eachUIDRange(old+1, c.sel.view.Max(), func(seq, uid uint32) { refs = append(refs, msgRef{seq, uid}) })
	for chunk := range slices.Chunk(refs, loadChunk) {
		if err := c.fetchChunk(chunk, n.fetch); err != nil {
			c.log.Debug("imap notify fetch", "err", err)
			return
		}
	}
}

// awaitCommand waits, under NOTIFY, for the client's next command and
// meanwhile writes what it is owed (RFC 5465 3: at any time). A goroutine
// waits for the first byte of the command (it only fills the read
// buffer); this one writes. It reports false when the connection is done
// (after a BYE where one fits).
func (c *conn) awaitCommand() bool {
	if c.notify == nil || c.br.Buffered() > 0 {
		return true
	}
	var err error
	ready := make(chan struct{})
	go func() {
		_, err = c.br.Peek(1)
		close(ready)
	}()
	if !c.pushWhile(ready, false) {
		c.nc.Close() // the reading goroutine ends too
		<-ready
		return false
	}
	if err != nil {
		c.begin()
		c.readFailed(err)
		c.end()
		return false
	}
	return true
}

// pushWhile writes what the session owes its client until ready is
// closed (the client spoke): changes in the selected mailbox and, under
// NOTIFY, elsewhere. In IDLE (inIdle) the selected mailbox's changes go
// out as IDLE allows even without NOTIFY; between commands nothing goes
// out without NOTIFY. It reports false when a write failed.
func (c *conn) pushWhile(ready <-chan struct{}, inIdle bool) bool {
	quiet := false // a watcher closed: the store is closing
	for {
		var selected, others <-chan struct{}
		if !quiet && (inIdle || c.notify != nil) {
			selected, others = c.pushSources()
		}
		select {
		case <-ready:
			return true
		case _, ok := <-selected:
			if !ok {
				quiet = true
				continue
			}
			c.begin()
			c.pushSelected(inIdle)
		case _, ok := <-others:
			if !ok {
				quiet = true
				continue
			}
			c.begin()
			c.pushOthers()
		}
		if err := c.end(); err != nil {
			return false
		}
	}
}
