package imapd

import (
	"slices"
	"strings"

	"postroom/appliance/imapd/wire"
	"postroom/storage"
)

// messageEvents are the events of RFC 5465 5 that concern messages, the
// only ones a selected event group may carry (RFC 5465 6.1).
var messageEvents = map[string]bool{"MessageNew": true, "MessageExpunge": true, "FlagChange": true, "AnnotationChange": true}

// mailboxEvents are the other events RFC 5465 defines.
var mailboxEvents = map[string]bool{"MailboxName": true, "SubscriptionChange": true,
	"MailboxMetadataChange": true, "ServerMetadataChange": true}

// badEventCode is NO [BADEVENT (...)]: the events we support (RFC 5465
// 3.1: the code lists every event the server supports).
var badEventCode = func() string {
	var b strings.Builder
	b.WriteString("BADEVENT (")
	for i, e := range notifySupported {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(e.name)
	}
	b.WriteString(")")
	return b.String()
}()

// cmdNotify is NOTIFY NONE and NOTIFY SET [STATUS] event-groups (RFC 5465
// 3.1). A SET replaces the whole setting, and only once it is accepted:
// syntax errors are BAD (among them, a selected group with events that
// are not message events, or two selected groups: RFC 5465 6.1), events
// we cannot report are NO [BADEVENT]. With STATUS, every watched mailbox
// but the selected one gets a STATUS response before the OK. Like NOOP,
// the command ends with the changes of the selected mailbox (run does
// that for every command).
func (c *conn) cmdNotify(cmd *wire.Command) error {
	p, err := wire.ParseNotify(cmd.Args)
	if err != nil {
		return err
	}
	if p.None {
		c.notifyOff()
		return nil
	}
	n := &notifyState{names: map[storage.MailboxID]string{}, dirty: map[storage.MailboxID]bool{}}
	selectedSeen, unsupported := false, false
	for _, g := range p.Groups {
		isSel := g.Filter == "selected" || g.Filter == "selected-delayed"
		if isSel {
			if selectedSeen {
				return bad("", "Only one of selected and selected-delayed")
			}
			selectedSeen = true
		}
		var evs notifyEvents
		for _, e := range g.Events {
			if isSel && mailboxEvents[e.Name] {
				return bad("", "Only message events go with "+g.Filter)
			}
			if e.Fetch != nil {
				f, err := notifyFetch(e.Fetch)
				if err != nil {
					return err
				}
				n.fetch = f
			}
			found := false
			for _, s := range notifySupported {
				if s.name == e.Name {
					evs |= s.ev
					found = true
				}
			}
			unsupported = unsupported || !found
		}
		if isSel {
			n.sel, n.delayed = evs, g.Filter == "selected-delayed"
			continue
		}
		ng := notifyGroup{filter: g.Filter, events: evs}
		for _, raw := range g.Mailboxes {
			name, err := c.mailboxName(raw)
			if err != nil {
				return err
			}
			ng.names = append(ng.names, canonicalPattern(strings.TrimSuffix(name, delim)))
		}
		n.groups = append(n.groups, ng)
	}
	if unsupported {
		// RFC 5465 3.1: NO, not BAD, naming what we can do.
		return no(badEventCode, "Unsupported NOTIFY event")
	}
	if n.fetch != nil && n.fetch.Options.ModSeq {
		c.enableCondStore() // RFC 7162 3.1: MODSEQ in a fetch enables it
	}
	// The feed first, then the snapshot: no change falls in between.
	n.w = c.srv.st.Watch(c.acct)
	t, err := n.loadTree(c)
	if err != nil {
		n.w.Close()
		return c.fail("notify", err)
	}
	for name, mb := range t.boxes {
		n.names[mb.ID] = name
	}
	c.notifyOff()
	c.notify = n
	if p.Status {
		for _, name := range t.names {
			mb, ok := t.boxes[name]
			if !ok || c.sel != nil && mb.ID == c.sel.id ||
				!n.wants(c, evMessageNew|evMessageExpunge|evFlagChange, name) {
				continue
			}
			if err := c.writeStatus(mb, c.notifyStatusItems(name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// notifyFetch checks and completes MessageNew's fetch attributes (RFC
// 5465 5.2): the response always carries UID, and a body section is read
// as with .PEEK, since a push must not mark mail read. RFC822 and
// RFC822.TEXT, which have no PEEK form, are refused.
func notifyFetch(f *wire.Fetch) (*wire.Fetch, error) {
	if f.RFC822 || f.RFC822Text {
		return nil, bad("", "MessageNew fetch attributes must not set \\Seen: use BODY.PEEK")
	}
	out := *f
	out.Options.UID = true
	out.Options.BodySection = slices.Clone(f.Options.BodySection)
	out.Options.BinarySection = slices.Clone(f.Options.BinarySection)
	for i := range out.Options.BodySection {
		bs := *out.Options.BodySection[i]
		bs.Peek = true
		out.Options.BodySection[i] = &bs
	}
	for i := range out.Options.BinarySection {
		bs := *out.Options.BinarySection[i]
		bs.Peek = true
		out.Options.BinarySection[i] = &bs
	}
	return &out, nil
}
