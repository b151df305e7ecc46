package imapd

import (
	"postroom/appliance/imapd/wire"
)

// QUOTA (RFC 9208): one quota root, "", holding the account's quota on
// storage, in units of 1024 octets. An account without a quota has no
// quota root.

func (c *conn) cmdGetQuotaRoot(cmd *wire.Command) error {
	if len(cmd.Args) != 1 {
		return bad("", "GETQUOTAROOT takes a mailbox")
	}
	name, err := c.mailboxArg(cmd.Args[0])
	if err != nil {
		return err
	}
	if _, err := c.srv.st.Mailbox(c.acct, name); err != nil {
		return c.fail("getquotaroot", err)
	}
	a, err := c.srv.st.AccountByID(c.acct)
	if err != nil {
		return c.fail("getquotaroot", err)
	}
	c.w.Untagged().Atom("QUOTAROOT")
	c.writeMailboxName(name)
	if a.Quota > 0 {
		c.w.Quoted("")
	}
	c.w.End()
	if a.Quota > 0 {
		c.writeQuota(a.Usage, a.Quota)
	}
	return nil
}

func (c *conn) cmdGetQuota(cmd *wire.Command) error {
	if len(cmd.Args) != 1 {
		return bad("", "GETQUOTA takes a quota root")
	}
	root, ok := cmd.Args[0].AString()
	if !ok {
		return bad("", "Invalid quota root")
	}
	a, err := c.srv.st.AccountByID(c.acct)
	if err != nil {
		return c.fail("getquota", err)
	}
	if root != "" || a.Quota <= 0 {
		return no("NONEXISTENT", "No such quota root")
	}
	c.writeQuota(a.Usage, a.Quota)
	return nil
}

func (c *conn) writeQuota(usage, quota int64) {
	c.w.Untagged().Atom("QUOTA").Quoted("").BeginList().Atom("STORAGE").
		Number(uint64(max(usage, 0)+1023) / 1024).Number(uint64(quota) / 1024).EndList().End()
}
