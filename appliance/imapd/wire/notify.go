package wire

import (
	"strings"
)

// Notify is a parsed NOTIFY (RFC 5465 3, 8). None is NOTIFY NONE.
type Notify struct {
	None   bool
	Status bool // SET STATUS: send STATUS for the watched mailboxes now
	Groups []NotifyGroup
}

// NotifyGroup is one event-group: which mailboxes, and which events
// (none at all for "NONE").
type NotifyGroup struct {
	// Filter in lower case: selected, selected-delayed, inboxes,
	// personal, subscribed, subtree, mailboxes.
	Filter    string
	Mailboxes []string // for subtree and mailboxes
	Events    []NotifyEvent
}

// NotifyEvent is an event name as RFC 5465 5 spells it (MessageNew,
// MessageExpunge, FlagChange, ...); which ones exist is the server's to
// say (NO [BADEVENT]). Fetch holds MessageNew's fetch attributes.
type NotifyEvent struct {
	Name  string
	Fetch *Fetch
}

var notifyEvents = map[string]string{}

func init() {
	for _, e := range []string{"MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange",
		"MailboxName", "SubscriptionChange", "MailboxMetadataChange", "ServerMetadataChange"} {
		notifyEvents[strings.ToLower(e)] = e
	}
}

// ParseNotify parses "NONE" / "SET" [SP "STATUS"] 1*(SP event-group).
func ParseNotify(args []Node) (*Notify, error) {
	switch {
	case len(args) == 1 && args[0].IsAtom("NONE"):
		return &Notify{None: true}, nil
	case len(args) == 0 || !args[0].IsAtom("SET"):
		return nil, Bad("NOTIFY takes NONE or SET")
	}
	n := &Notify{}
	args = args[1:]
	if len(args) > 0 && args[0].IsAtom("STATUS") {
		n.Status = true
		args = args[1:]
	}
	if len(args) == 0 {
		return nil, Bad("NOTIFY SET needs an event group")
	}
	for _, g := range args {
		grp, err := notifyGroup(g)
		if err != nil {
			return nil, err
		}
		n.Groups = append(n.Groups, *grp)
	}
	return n, nil
}

func notifyGroup(g Node) (*NotifyGroup, error) {
	bad := Bad("Invalid event group")
	if g.Kind != List || len(g.List) < 2 || g.List[0].Kind != Atom {
		return nil, bad
	}
	l := g.List
	grp := &NotifyGroup{Filter: strings.ToLower(l[0].Value)}
	rest := l[1:]
	switch grp.Filter {
	case "selected", "selected-delayed", "inboxes", "personal", "subscribed":
	case "subtree", "mailboxes":
		if len(rest) < 2 {
			return nil, bad
		}
		mb := rest[0]
		items := []Node{mb}
		if mb.Kind == List {
			if len(mb.List) == 0 {
				return nil, bad
			}
			items = mb.List
		}
		for _, it := range items {
			name, err := it.Mailbox()
			if err != nil {
				return nil, err
			}
			grp.Mailboxes = append(grp.Mailboxes, name)
		}
		rest = rest[1:]
	default:
		return nil, Bad("Unknown mailbox filter")
	}
	if len(rest) != 1 {
		return nil, bad
	}
	if rest[0].IsAtom("NONE") {
		return grp, nil
	}
	if rest[0].Kind != List || len(rest[0].List) == 0 {
		return nil, bad
	}
	ev := rest[0].List
	seen := map[string]bool{}
	for i := 0; i < len(ev); i++ {
		if ev[i].Kind != Atom {
			return nil, Bad("Invalid event")
		}
		name := ev[i].Value
		if known, ok := notifyEvents[strings.ToLower(name)]; ok {
			name = known
		}
		e := NotifyEvent{Name: name}
		if name == "MessageNew" && i+1 < len(ev) && ev[i+1].Kind == List {
			// Fetch attributes, for the selected mailbox only (RFC 5465 5.2).
			if grp.Filter != "selected" && grp.Filter != "selected-delayed" {
				return nil, Bad("MessageNew fetch attributes need a selected filter")
			}
			i++
			f, err := ParseFetch([]Node{{Kind: Atom, Value: "1"}, ev[i]}, false)
			if err != nil {
				return nil, err
			}
			f.Set = nil
			e.Fetch = f
		}
		seen[name] = true
		grp.Events = append(grp.Events, e)
	}
	// RFC 5465 5: MessageNew and MessageExpunge go together, and flag or
	// annotation changes need both.
	if seen["MessageNew"] != seen["MessageExpunge"] ||
		(seen["FlagChange"] || seen["AnnotationChange"]) && !seen["MessageNew"] {
		return nil, Bad("MessageNew and MessageExpunge go together")
	}
	return grp, nil
}
