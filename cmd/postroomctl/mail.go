package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"postroom/storage"
)

func (c *ctl) mailboxes(args []string) error {
	st, a, err := c.account(args[0])
	if err != nil {
		return err
	}
	boxes, err := st.Mailboxes(a.ID)
	if err != nil {
		return err
	}
	t := newTable(c.stdout, "MAILBOX", "SPECIAL-USE", "MESSAGES", "UNSEEN", "DELETED", "SIZE", "UIDVALIDITY", "UIDNEXT", "SUBSCRIBED")
	for _, m := range boxes {
		sub := "no"
		if m.Subscribed {
			sub = "yes"
		}
		t.row(m.Name, dash(m.SpecialUse), u32(m.Messages), u32(m.Unseen), u32(m.Deleted), formatSize(m.Size),
			u32(m.UIDValidity), u32(m.UIDNext), sub)
	}
	return t.flush()
}

func (c *ctl) messages(args []string) error {
	name := storage.InboxName
	if len(args) > 1 {
		name = args[1]
	}
	st, a, err := c.account(args[0])
	if err != nil {
		return err
	}
	mb, err := st.Mailbox(a.ID, name)
	if errors.Is(err, storage.ErrNoMailbox) || errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%s has no mailbox %q (postroomctl mailboxes %s lists them)", a.Name, name, a.Name)
	}
	if err != nil {
		return err
	}
	msgs, err := st.Messages(a.ID, mb.ID)
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		fmt.Fprintf(c.stdout, "%s of %s is empty\n", mb.Name, a.Name)
		return nil
	}
	shown := msgs
	if c.last > 0 && len(shown) > c.last {
		shown = shown[len(shown)-c.last:]
	}
	t := newTable(c.stdout, "UID", "DATE", "SIZE", "FLAGS", "FROM", "SUBJECT")
	for _, m := range shown {
		from, subject := "", ""
		if o, err := st.Object(m.Object); err != nil {
			subject = fmt.Sprintf("(cannot read the message: %v; run postroomctl fsck)", err)
		} else if e := o.Envelope; e != nil {
			subject = safeText(e.Subject, 72)
			if len(e.From) > 0 {
				from = safeText(address(e.From[0]), 40)
			}
		}
		t.row(u32(m.UID), m.InternalDate.Local().Format("2006-01-02 15:04"), formatSize(m.Size),
			dash(strings.Join(m.AllFlags(), " ")), dash(from), dash(subject))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(shown) < len(msgs) {
		fmt.Fprintf(c.stdout, "(the last %d of %d messages)\n", len(shown), len(msgs))
	}
	return nil
}

// address shows a mailbox as "Name <local@host>", or without the name.
func address(ad storage.Address) string {
	s := ad.Mailbox
	if ad.Host != "" {
		s += "@" + ad.Host
	}
	if ad.Name != "" {
		return ad.Name + " <" + s + ">"
	}
	return s
}

func u32(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
