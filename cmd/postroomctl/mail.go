package main

import (
	"fmt"
	"strconv"
	"strings"

	"postroom/appliance/admin"
)

func (c *ctl) mailboxes(args []string) error {
	l, err := call[admin.MailboxList](c, admin.ListMailboxes{Account: args[0]})
	if err != nil {
		return err
	}
	t := newTable(c.stdout, "MAILBOX", "SPECIAL-USE", "MESSAGES", "UNSEEN", "DELETED", "SIZE", "UIDVALIDITY", "UIDNEXT", "SUBSCRIBED")
	for _, m := range l.Mailboxes {
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
	req := admin.ListMessages{Account: args[0], Last: c.last}
	if len(args) > 1 {
		req.Mailbox = args[1]
	}
	l, err := call[admin.MessageList](c, req)
	if ae, ok := adminError(err); ok && ae.Code == admin.CodeNotFound && ae.Field == "mailbox" {
		return fmt.Errorf("%s (postroomctl mailboxes %s lists them)", ae.Message, args[0])
	}
	if err != nil {
		return err
	}
	if l.Total == 0 {
		fmt.Fprintf(c.stdout, "%s of %s is empty\n", l.Mailbox, l.Account)
		return nil
	}
	t := newTable(c.stdout, "UID", "DATE", "SIZE", "FLAGS", "FROM", "SUBJECT")
	for _, m := range l.Messages {
		subject := safeText(m.Subject, 72)
		if m.Problem != "" {
			subject = fmt.Sprintf("(cannot read the message: %s; run postroomctl fsck)", safeText(m.Problem, 0))
		}
		t.row(u32(m.UID), m.Date.Local().Format("2006-01-02 15:04"), formatSize(m.Size),
			dash(strings.Join(m.Flags, " ")), dash(safeText(m.From, 40)), dash(subject))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(l.Messages) < l.Total {
		fmt.Fprintf(c.stdout, "(the last %d of %d messages)\n", len(l.Messages), l.Total)
	}
	return nil
}

func u32(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
